package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.CircuitBreaker;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One group's judgement: which groups need one, least-connections, the breaker's maxConnections. */
class GroupReconcilerTest {
    private static final long S = 1_000_000_000L;

    private static Backend backend(int last, BackendState state) {
        return Backend.newBuilder().setAddress(ByteString.copyFrom(new byte[] {10, 0, 0, (byte) last})).setPort(80)
                .setWeight(1).setState(state).build();
    }

    private static TargetGroup.Builder group() {
        return TargetGroup.newBuilder().setName("default/web").addBackends(backend(1, BackendState.ACTIVE))
                .addBackends(backend(2, BackendState.ACTIVE)).addBackends(backend(3, BackendState.DRAINING));
    }

    @Test
    void aGroupWithoutChecksBreakerOrLeastConnectionsNeedsNoReconciler() {
        assertThat(GroupReconciler.Settings.of(group().build())).isNull();
    }

    @Test
    void leastConnectionsTakesWeightFromTheBusiestAtItsInterval() {
        TargetGroup g = group().setAlgorithm(Algorithm.LEAST_CONNECTIONS).setLeastConnectionsIntervalSeconds(2).build();
        GroupReconciler r = new GroupReconciler(g.getName(), GroupReconciler.Settings.of(g));
        r.sync(g);
        assertThat(r.flowsDue(0)).isTrue();
        r.onFlows(Map.of("10.0.0.1:80", 40L, "10.0.0.2:80", 2L, "10.0.0.3:80", 500L), 0);
        assertThat(r.flowsDue(1 * S)).isFalse();
        assertThat(r.flowsDue(2 * S)).isTrue();
        // The draining backend's flows count for nobody's mean; it keeps no table share anyway.
        assertThat(r.weigh(0).weights()).isEqualTo(Map.of("10.0.0.1:80", 0, "10.0.0.2:80", 100, "10.0.0.3:80", 1));
    }

    @Test
    void maxConnectionsTakesAFullBackendOutUntilItsFlowsGoBelow() {
        TargetGroup g = group().setCircuitBreaker(CircuitBreaker.newBuilder().setConsecutiveFailures(5)
                .setOpenSeconds(30).setHalfOpenSuccesses(1).setMaxConnections(10)).build();
        GroupReconciler r = new GroupReconciler(g.getName(), GroupReconciler.Settings.of(g));
        r.sync(g);
        r.onFlows(Map.of("10.0.0.1:80", 10L, "10.0.0.2:80", 9L), 0);
        assertThat(r.weigh(0).weights()).containsEntry("10.0.0.1:80", 0).containsEntry("10.0.0.2:80", 100);
        r.onFlows(Map.of("10.0.0.1:80", 9L, "10.0.0.2:80", 9L), 5 * S);
        assertThat(r.weigh(5 * S).weights()).containsEntry("10.0.0.1:80", 1).containsEntry("10.0.0.2:80", 1);
    }
}
