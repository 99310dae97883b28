package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.PSH;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A snapshot that removes a backend deletes that backend's conntrack entries, both directions, in
 * the same apply, through the real maps and programs: its flows' next packets take the new-flow
 * path to a live backend (UDP re-balances; TCP is picked up, so that backend resets it), the other
 * backends' flows are untouched, and a draining backend keeps its flows.
 */
@Privileged
class ReleaseFlowsIT extends DataPlaneFixture {

    private static final int FLOWS = 24;

    static Stream<StandardListener> listeners() {
        return StandardListener.all();
    }

    /** Opens FLOWS flows (TCP: handshake done) from client ports from {@code firstPort}. */
    private List<Flow> open(StandardListener l, int firstPort) {
        List<Flow> flows = new ArrayList<>();
        for (int i = 0; i < FLOWS; i++) {
            Flow flow = l.flow(firstPort + i);
            assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_PASS);
            if (l.isTcp()) {
                Abi.CtEntry f = dataPlane.entry(flow.forwardKey());
                byte[] synAck = Frames.frame(flow.proto(), SYN | ACK, f.natDestination().getHostAddress(),
                        f.natDestinationPort(), f.natSource().getHostAddress(), f.natSourcePort());
                assertThat(l.isFullNat() ? dataPlane.xdp(synAck).retval() : dataPlane.tc(synAck).retval())
                        .isEqualTo(l.isFullNat() ? XDP_PASS : TC_ACT_OK);
                dataPlane.xdp(flow.forward(ACK));
            }
            flows.add(flow);
        }
        return flows;
    }

    /** The standard snapshot with the backend at {@code address} gone, or in {@code state}. */
    private static NodeSnapshot without(String address, BackendState state) {
        NodeSnapshot standard = Snapshots.standard();
        NodeSnapshot.Builder b = standard.toBuilder().clearTargetGroups();
        for (TargetGroup g : standard.getTargetGroupsList()) {
            TargetGroup.Builder kept = g.toBuilder().clearBackends();
            for (Backend backend : g.getBackendsList()) {
                if (!Snapshots.ip(backend.getAddress()).getHostAddress().equals(address)) {
                    kept.addBackends(backend);
                } else if (state != null) {
                    kept.addBackends(backend.toBuilder().setState(state).setWeight(0));
                }
            }
            b.addTargetGroups(kept);
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void aRemovedBackendsFlowsAreDeletedAndTheirNextPacketGoesToALiveBackend(StandardListener l) {
        List<Flow> flows = open(l, 45000);
        int removed = dataPlane.entry(flows.get(0).forwardKey()).backend();
        String address = dataPlane.backend(removed).address().getHostAddress();
        Map<Abi.CtKey, Abi.CtEntry> before = dataPlane.conntrack();
        List<Flow> ofRemoved = flows.stream().filter(f -> dataPlane.entry(f.forwardKey()).backend() == removed).toList();
        List<Flow> ofOthers = flows.stream().filter(f -> !ofRemoved.contains(f)).toList();
        assertThat(ofOthers).as("the flows spread over the three backends").isNotEmpty();

        dataPlane.apply(without(address, null));

        Map<Abi.CtKey, Abi.CtEntry> after = dataPlane.conntrack();
        assertThat(after.values()).noneMatch(e -> e.backend() == removed);
        assertThat(after).as("every other entry as it was").hasSize(before.size() - 2 * ofRemoved.size());
        after.forEach((k, e) -> assertThat(before).containsEntry(k, e));

        long[] stats = dataPlane.stats();
        for (Flow flow : ofRemoved) {
            assertThat(dataPlane.xdp(flow.forward(ACK | PSH)).retval()).isEqualTo(XDP_PASS);
            Abi.CtEntry now = dataPlane.entry(flow.forwardKey());
            assertThat(now.backend()).isNotEqualTo(removed);
            assertThat(dataPlane.backendIds()).contains(now.backend());
            assertThat(now.state()).as("picked up: on the short timeout until the backend answers")
                    .isEqualTo(l.isTcp() ? Abi.CT_SYN : Abi.CT_UDP);
        }
        for (Flow flow : ofOthers) {
            dataPlane.xdp(flow.forward(ACK | PSH));
        }
        assertThat(dataPlane.statsSince(stats)).containsOnly(entry(Abi.Stat.NEW_FLOW, (long) ofRemoved.size()),
                entry(Abi.Stat.CT_HIT, (long) ofOthers.size()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void aDrainingBackendKeepsItsFlows(StandardListener l) {
        List<Flow> flows = open(l, 46000);
        int draining = dataPlane.entry(flows.get(0).forwardKey()).backend();
        String address = dataPlane.backend(draining).address().getHostAddress();
        Map<Abi.CtKey, Abi.CtEntry> before = dataPlane.conntrack();

        dataPlane.apply(without(address, BackendState.DRAINING));

        assertThat(dataPlane.conntrack()).isEqualTo(before);
        long[] stats = dataPlane.stats();
        dataPlane.xdp(flows.get(0).forward(ACK | PSH));
        assertThat(dataPlane.entry(flows.get(0).forwardKey()).backend()).isEqualTo(draining);
        assertThat(dataPlane.statsSince(stats)).containsOnly(entry(Abi.Stat.CT_HIT, 1L));
    }
}
