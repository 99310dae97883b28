package io.nodelb.operator.channel;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.grpc.KnownLength;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import io.nodelb.model.compiler.SerializedSnapshot;
import io.nodelb.model.compiler.Snapshots;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

/** The snapshot server writes OperatorMessages from part bytes: agents must parse exactly the message. */
class OutgoingSnapshotTest {
  private static NodeSnapshot snapshot(int groups) {
    NodeSnapshot.Builder snapshot = NodeSnapshot.newBuilder().setNode("n1")
        .addListeners(Listener.newBuilder().setName("shop/web/http").setAddress(ByteString.copyFrom(new byte[] {10, 1, 1, 1}))
            .setPort(80).setTargetGroup("shop/web"));
    for (int g = 0; g < groups; g++) {
      TargetGroup.Builder group = TargetGroup.newBuilder().setName("shop/g" + g);
      for (int b = 0; b < 20; b++) {
        group.addBackends(Backend.newBuilder().setAddress(ByteString.copyFrom(new byte[] {10, 0, (byte) g, (byte) b}))
            .setPort(8080).setWeight(1).setOrigin("endpointslice/shop/g" + g + "-1"));
      }
      snapshot.addTargetGroups(group);
    }
    return Snapshots.withVersion(snapshot.build());
  }

  @Test
  void drainedAndReadBytesAreTheOperatorMessage() throws Exception {
    for (int groups : new int[] {0, 1, 300}) {
      NodeSnapshot snapshot = snapshot(groups);
      OutgoingSnapshot outgoing = new OutgoingSnapshot(SerializedSnapshot.of(snapshot), "0123abcd");
      OperatorMessage expected = OperatorMessage.newBuilder().setSnapshot(snapshot).setNonce("0123abcd").build();

      InputStream drained = OutgoingSnapshot.MARSHALLER.stream(outgoing);
      int announced = drained.available();
      assertThat(drained).isInstanceOf(KnownLength.class);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      int written = ((io.grpc.Drainable) drained).drainTo(out);
      assertThat(written).isEqualTo(announced).isEqualTo(out.size());
      assertThat(OperatorMessage.parseFrom(out.toByteArray())).isEqualTo(expected);

      byte[] read = OutgoingSnapshot.MARSHALLER.stream(outgoing).readAllBytes();
      assertThat(read).isEqualTo(out.toByteArray());
      assertThat(OperatorMessage.parseFrom(read).getSnapshot().getVersion()).isEqualTo(Snapshots.version(snapshot));
    }
  }
}
