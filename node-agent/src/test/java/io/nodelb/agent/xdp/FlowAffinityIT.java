package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.PSH;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A flow stays on its backend while its conntrack entry lives, whatever happens to the tables:
 * after the group is rebuilt with that backend draining or with other weights, the flow's next
 * packets still reach it, and new flows follow the new table only. A removed backend is gone:
 * its flows are released (ReleaseFlowsIT) and their next packets follow the new table too.
 */
@Privileged
class FlowAffinityIT extends DataPlaneFixture {

    private static final int FLOWS = 60;
    private static final int NEW_FLOWS = 200;

    /** How the group changes under the open flows; the victim is backend number 2 of each family. */
    enum Change {
        REMOVE, DRAIN, REWEIGHT;

        /** web and dns with three backends per family, changed. */
        List<TargetGroup> groups() {
            return List.of(group("default/web", "10.0.1.", "fd00:1::", Snapshots.WEB_PORT),
                    group("default/dns", "10.0.2.", "fd00:2::", Snapshots.DNS_PORT));
        }

        private TargetGroup group(String name, String prefix4, String prefix6, int port) {
            List<Backend> backends = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                for (String prefix : List.of(prefix4, prefix6)) {
                    boolean victim = i == 2;
                    if (victim && this == REMOVE) {
                        continue;
                    }
                    BackendState state = victim && this == DRAIN ? BackendState.DRAINING : BackendState.ACTIVE;
                    int weight = this == REWEIGHT ? (i == 1 ? 7 : 1) : 1;
                    backends.add(Snapshots.backend(prefix + i, port, weight, state));
                }
            }
            return Snapshots.group(name, backends);
        }
    }

    record Case(Change change, StandardListener listener) {
        @Override
        public String toString() {
            return change + ", " + listener;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(Change.values()).flatMap(change -> Stream.of(
                new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT),
                new StandardListener(true, Abi.IPPROTO_TCP, NatMode.DNAT),
                new StandardListener(false, Abi.IPPROTO_UDP, NatMode.FULL_NAT),
                new StandardListener(true, Abi.IPPROTO_UDP, NatMode.FULL_NAT))
                .map(l -> new Case(change, l)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void openFlowsKeepTheirBackendAndNewFlowsFollowTheNewTable(Case c) {
        Map<Flow, InetAddress> backendOf = new LinkedHashMap<>();
        for (int i = 0; i < FLOWS; i++) {
            Flow flow = c.listener().flow(41000 + i);
            TestRunResult first = dataPlane.xdp(flow.first());
            assertThat(first.retval()).isEqualTo(XDP_PASS);
            backendOf.put(flow, Packet.parse(first.output()).dst());
        }
        InetAddress victim = victim(c);
        assertThat(backendOf.values()).as("some flows start on the victim").contains(victim);

        dataPlane.apply(Snapshots.snapshot(Snapshots.standardListeners(), c.change().groups()));

        long[] before = dataPlane.stats();
        int moved = 0;
        long released = 0;
        for (var open : backendOf.entrySet()) {
            Flow flow = open.getKey();
            TestRunResult next = dataPlane.xdp(flow.forward(ACK | PSH));
            assertThat(next.retval()).isEqualTo(XDP_PASS);
            InetAddress predicted = dataPlane.backend(dataPlane.predictedBackend(flow)).address();
            if (c.change() == Change.REMOVE && open.getValue().equals(victim)) {
                released++;
                assertThat(Packet.parse(next.output()).dst()).as("next packet of %s, released", flow)
                        .isEqualTo(predicted);
                continue;
            }
            assertThat(Packet.parse(next.output()).dst()).as("next packet of %s", flow).isEqualTo(open.getValue());
            if (!predicted.equals(open.getValue())) {
                moved++; // a new flow with this tuple would go elsewhere now
            }
        }
        if (released > 0) {
            assertThat(dataPlane.statsSince(before)).containsOnly(entry(Abi.Stat.CT_HIT, FLOWS - released),
                    entry(Abi.Stat.NEW_FLOW, released));
        } else {
            assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.CT_HIT, (long) FLOWS));
        }
        assertThat(moved + released).as("flows whose slot the change moved").isPositive();

        before = dataPlane.stats();
        List<InetAddress> newBackends = new ArrayList<>();
        for (int i = 0; i < NEW_FLOWS; i++) {
            Flow flow = c.listener().flow(50000 + i);
            TestRunResult first = dataPlane.xdp(flow.first());
            assertThat(first.retval()).isEqualTo(XDP_PASS);
            InetAddress backend = Packet.parse(first.output()).dst();
            assertThat(backend).as("new flow %s", flow)
                    .isEqualTo(dataPlane.backend(dataPlane.predictedBackend(flow)).address());
            newBackends.add(backend);
        }
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, (long) NEW_FLOWS));
        if (c.change() == Change.REWEIGHT) {
            assertThat(newBackends).as("the victim keeps a share").contains(victim);
        } else {
            assertThat(newBackends).as("new flows after %s", c.change()).doesNotContain(victim);
        }
    }

    private static InetAddress victim(Case c) {
        boolean web = c.listener().proto() == Abi.IPPROTO_TCP;
        String prefix = c.listener().ipv6() ? (web ? "fd00:1::" : "fd00:2::") : (web ? "10.0.1." : "10.0.2.");
        return Snapshots.ip(prefix + 2);
    }
}
