package io.nodelb.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What least-connections, maxConnections and the node report count: flow-table flows and stream connections. */
class LiveFlowsTest {
    @Test
    void streamConnectionsAddToTheFlowTablesFlowsOfTheSameBackend() throws Exception {
        Map<Integer, Long> byId = AgentRuntime.withStreams(Map.of(5, 2L, 6, 4L), Map.of(5, 3L, 7, 1L));
        assertThat(byId).containsOnly(Map.entry(5, 5L), Map.entry(6, 4L), Map.entry(7, 1L));

        var empty = DesiredState.empty();
        var applied = new DesiredState(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(),
                Map.of(5, new Abi.Backend(InetAddress.getByName("10.0.0.5"), 8443),
                        7, new Abi.Backend(InetAddress.getByName("10.0.0.7"), 8443)),
                empty.ingressPorts(), empty.egressPorts(), java.util.Set.of());
        assertThat(AgentRuntime.liveFlowsByKey(byId, applied)).as("by key; id 6 is no longer applied")
                .containsOnly(Map.entry(DesiredState.backendKey(InetAddress.getByName("10.0.0.5"), 8443), 5L),
                        Map.entry(DesiredState.backendKey(InetAddress.getByName("10.0.0.7"), 8443), 1L));
    }
}
