package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.nodelb.dataplane.v1alpha1.BackendHealth;
import io.nodelb.dataplane.v1alpha1.BreakerState;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.compiler.ObjectKey;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What the nodes report of a group's backends, as its status shows it. */
class ClusterModelHealthTest {
  private static final ObjectKey WEB = new ObjectKey("default", "web");

  private static BackendHealth health(int last, boolean healthy, String reason, BreakerState breaker) {
    return BackendHealth.newBuilder().setTargetGroup("default/web")
        .setAddress(ByteString.copyFrom(new byte[] {10, 0, 0, (byte) last})).setPort(8080)
        .setHealthy(healthy).setReason(reason).setBreaker(breaker).build();
  }

  @Test
  void backendsAreCountedAcrossConnectedNodesAndAReportWakesTheGroup() {
    InMemorySnapshotStore store = new InMemorySnapshotStore();
    ClusterModel model = new ClusterModel(store);
    List<Set<ObjectKey>> woken = new ArrayList<>();
    model.addListener(changes -> woken.add(changes.targetGroups()));
    store.publish(Map.of("node-a", NodeSnapshot.newBuilder().setVersion("v1").build(),
        "node-b", NodeSnapshot.newBuilder().setVersion("v1").build(),
        "node-c", NodeSnapshot.newBuilder().setVersion("v1").build()), Map.of(), Set.of());
    Instant now = Instant.now();
    for (String node : List.of("node-a", "node-b", "node-c")) {
      store.agentConnected(node, "test", now);
    }
    store.report("node-b", NodeReport.newBuilder()
        .addHealth(health(1, false, "HTTP 503", BreakerState.BREAKER_CLOSED))
        .addHealth(health(2, true, "ok", BreakerState.BREAKER_OPEN)).build(), now);
    store.report("node-a", NodeReport.newBuilder()
        .addHealth(health(1, false, "connect: Connection refused", BreakerState.BREAKER_CLOSED))
        .addHealth(health(2, true, "ok", BreakerState.BREAKER_CLOSED)).addFailOpenGroups("default/web").build(), now);
    store.report("node-c", NodeReport.newBuilder()
        .addHealth(health(1, true, "ok", BreakerState.BREAKER_HALF_OPEN)).build(), now);
    store.agentDisconnected("node-c", "gone", now);

    assertThat(woken).contains(Set.of(WEB));
    ClusterModel.GroupHealth health = model.health(WEB);
    assertThat(health.failingOpen()).containsExactly("node-a");
    assertThat(health.backends()).hasSize(2);
    var first = health.backends().getFirst();
    assertThat(first.address).isEqualTo("10.0.0.1");
    assertThat(first.healthyNodes).as("node-c is not connected").isZero();
    assertThat(first.unhealthyNodes).isEqualTo(2);
    assertThat(first.message).isEqualTo("node-a: connect: Connection refused");
    var second = health.backends().get(1);
    assertThat(second.healthyNodes).isEqualTo(2);
    assertThat(second.breakerOpenNodes).isEqualTo(1);
    assertThat(model.health(new ObjectKey("default", "other")).backends()).isEmpty();
  }
}
