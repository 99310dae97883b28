package io.nodelb.model.compiler;

import io.nodelb.operator.KubernetesInputs;
import static io.nodelb.model.compiler.Fixtures.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.io.ByteArrayOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SnapshotsTest {
  /** Two listeners and two groups (one dual-stack) on node n1. */
  private static ModelCompiler compiled() {
    return KubernetesInputs.compileAll(List.of(
        node("n1"),
        staticGroup("default", "web", new StaticBackend("10.1.2.2", 8080, 3), new StaticBackend("2001:db8::2", 8080, 1)),
        staticGroup("default", "api", new StaticBackend("10.1.4.2", 9000, 1)),
        loadBalancer("default", "web", Map.of(), listener("http", "10.1.1.1", 80, "web"),
            listener("api", "10.1.1.1", 9000, "api"))));
  }

  @Test
  void versionFromCachedPartsEqualsTheVersionRecomputedFromTheMessage() {
    NodeSnapshot snapshot = compiled().snapshot("n1");

    assertThat(snapshot.getVersion()).hasSize(64).matches("[0-9a-f]{64}");
    assertThat(snapshot.getVersion()).isEqualTo(Snapshots.version(snapshot));
  }

  @Test
  void aDrainingSnapshotsPartBytesAreTheSerializedMessageAndItsVersionCountsTheFlag() throws Exception {
    NodeSnapshot plain = compiled().snapshot("n1");
    NodeSnapshot draining = Snapshots.withVersion(plain.toBuilder().setDraining(true).build());

    SerializedSnapshot parts = SerializedSnapshot.of(draining);
    ByteArrayOutputStream written = new ByteArrayOutputStream();
    parts.writeTo(written);

    assertThat(written.toByteArray()).isEqualTo(Snapshots.serialize(draining)).hasSize(parts.size());
    assertThat(parts.toByteArray()).isEqualTo(Snapshots.serialize(draining));
    assertThat(draining.getVersion()).isNotEqualTo(plain.getVersion());
  }

  @Test
  void versionIsExactlyTheRuleWrittenInTheProto() throws Exception {
    NodeSnapshot snapshot = compiled().snapshot("n1");

    // The rule, followed literally with protobuf's own encoder: the snapshot with version empty and
    // each listener and group replaced by the SHA-256 of its deterministic bytes, as a bytes field.
    ByteArrayOutputStream input = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(input);
    out.writeString(NodeSnapshot.NODE_FIELD_NUMBER, snapshot.getNode());
    for (Listener listener : snapshot.getListenersList()) {
      out.writeBytes(NodeSnapshot.LISTENERS_FIELD_NUMBER, ByteString.copyFrom(sha256(deterministic(listener))));
    }
    for (TargetGroup group : snapshot.getTargetGroupsList()) {
      out.writeBytes(NodeSnapshot.TARGET_GROUPS_FIELD_NUMBER, ByteString.copyFrom(sha256(deterministic(group))));
    }
    out.flush();

    assertThat(snapshot.getListenersCount()).isEqualTo(2);
    assertThat(snapshot.getTargetGroupsCount()).isEqualTo(2);
    assertThat(snapshot.getVersion()).isEqualTo(HexFormat.of().formatHex(sha256(input.toByteArray())));
  }

  @Test
  void aOneByteChangeInAnyPartChangesTheVersion() {
    NodeSnapshot snapshot = compiled().snapshot("n1");
    List<byte[]> listeners = new ArrayList<>();
    snapshot.getListenersList().forEach(l -> listeners.add(Snapshots.serialize(l)));
    List<byte[]> groups = new ArrayList<>();
    snapshot.getTargetGroupsList().forEach(g -> groups.add(Snapshots.serialize(g)));
    String original = versionOfParts("n1", listeners, groups);
    assertThat(original).isEqualTo(snapshot.getVersion());

    Set<String> seen = new HashSet<>(Set.of(original));
    int variants = 0;
    for (List<byte[]> parts : List.of(listeners, groups)) {
      for (int part = 0; part < parts.size(); part++) {
        byte[] bytes = parts.get(part);
        for (int at = 0; at < bytes.length; at++) {
          for (int bit = 0; bit < 8; bit++) {
            bytes[at] ^= (byte) (1 << bit);
            seen.add(versionOfParts("n1", listeners, groups));
            variants++;
            bytes[at] ^= (byte) (1 << bit);
          }
        }
      }
    }
    assertThat(variants).isGreaterThan(1000);
    assertThat(seen).as("every flipped bit in every part gives its own version").hasSize(variants + 1);
    assertThat(versionOfParts("n1", listeners, groups)).as("restored").isEqualTo(original);
  }

  @Test
  void theNodeNameAndWhetherAPartIsAListenerOrAGroupCount() {
    byte[] part = Snapshots.sha256(new byte[] {1, 2, 3});

    String asListener = Snapshots.version("n1", List.of(part), List.of());
    assertThat(Snapshots.version("n1", List.of(), List.of(part))).isNotEqualTo(asListener);
    assertThat(Snapshots.version("n2", List.of(part), List.of())).isNotEqualTo(asListener);
    assertThat(Snapshots.version("n1", List.of(part, part), List.of())).isNotEqualTo(asListener);
  }

  @Test
  void oneWeightChangedInOneGroupChangesTheVersionOfItsNodes() {
    ModelCompiler compiler = compiled();
    String before = compiler.snapshot("n1").getVersion();

    KubernetesInputs.put(compiler, staticGroup("default", "api", new StaticBackend("10.1.4.2", 9000, 2)));
    ModelCompiler.Result result = compiler.compile();

    assertThat(result.changed()).containsOnlyKeys("n1");
    assertThat(compiler.snapshot("n1").getVersion()).isNotEqualTo(before)
        .isEqualTo(Snapshots.version(compiler.snapshot("n1")));
  }

  @Test
  void serializedSnapshotConcatenatedFromCachedPartsIsTheSerializedMessage() throws Exception {
    ModelCompiler compiler = compiled();
    NodeSnapshot snapshot = compiler.snapshot("n1");

    byte[] bytes = compiler.serializedSnapshot("n1");
    assertThat(bytes).isEqualTo(Snapshots.serialize(snapshot));
    assertThat(NodeSnapshot.parseFrom(bytes)).isEqualTo(snapshot);
    assertThat(compiler.serializedSnapshot("no-such-node")).isNull();
  }

  @Test
  void emptySnapshotStillHasAVersionAndTheNodeName() {
    var compiler = KubernetesInputs.compileAll(List.of(node("idle")));
    NodeSnapshot snapshot = compiler.snapshot("idle");

    assertThat(snapshot.getNode()).isEqualTo("idle");
    assertThat(snapshot.getListenersList()).isEmpty();
    assertThat(snapshot.getVersion()).isEqualTo(Snapshots.version(snapshot));
    assertThat(compiler.serializedSnapshot("idle")).isEqualTo(Snapshots.serialize(snapshot));
  }

  @Test
  void aPartDigestOfTheWrongLengthIsRefused() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Snapshots.version("n1", List.of(new byte[31]), List.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("32 bytes, not 31");
  }

  private static String versionOfParts(String node, List<byte[]> listeners, List<byte[]> groups) {
    return Snapshots.version(node, listeners.stream().map(Snapshots::sha256).toList(),
        groups.stream().map(Snapshots::sha256).toList());
  }

  private static byte[] deterministic(com.google.protobuf.MessageLite message) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    out.useDeterministicSerialization();
    message.writeTo(out);
    out.flush();
    return bytes.toByteArray();
  }

  private static byte[] sha256(byte[] bytes) throws Exception {
    return MessageDigest.getInstance("SHA-256").digest(bytes);
  }
}
