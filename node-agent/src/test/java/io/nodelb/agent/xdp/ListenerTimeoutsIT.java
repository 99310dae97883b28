package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.IdleTimeouts;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Idle timeouts set per listener (the nlb_timeouts map, by listener id), with the built-in
 * defaults left long (15 min established, 60 s UDP). Flows are opened first and the timeouts
 * applied afterwards, so the test also shows that a listener's setting reaches its open flows.
 */
@Privileged
class ListenerTimeoutsIT extends DataPlaneFixture {

    /** Past one second (the shortest timeout a listener can set) plus ticks of the coarse clock. */
    private static final long IDLE_MS = 1_300;
    private static final int FLOWS = 8;

    private record Case(StandardListener listener, boolean short_, int[] opening, int next) {}

    @Test
    void aListenersOwnTimeoutDecidesWhenItsIdleFlowsAreForgotten() throws InterruptedException {
        List<Case> cases = List.of(
                new Case(new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT), true, new int[] {SYN, ACK}, ACK),
                new Case(new StandardListener(true, Abi.IPPROTO_TCP, NatMode.DNAT), false, new int[] {SYN, ACK}, ACK),
                new Case(new StandardListener(false, Abi.IPPROTO_UDP, NatMode.DNAT), true, new int[] {0}, 0),
                new Case(new StandardListener(true, Abi.IPPROTO_UDP, NatMode.DNAT), false, new int[] {0}, 0));
        List<Flow> flows = new ArrayList<>();
        List<Abi.CtEntry> opened = new ArrayList<>();
        int port = 47000;
        for (Case c : cases) {
            for (int i = 0; i < FLOWS; i++) {
                Flow flow = c.listener().flow(port++);
                for (int flags : c.opening()) {
                    assertThat(dataPlane.xdp(flow.forward(flags)).retval()).isEqualTo(XDP_PASS);
                }
                if (flow.isTcp()) { // the backend's answer establishes it
                    Abi.CtEntry f = dataPlane.entry(flow.forwardKey());
                    assertThat(dataPlane.tc(Frames.frame(Abi.IPPROTO_TCP, ACK, f.natDestination().getHostAddress(),
                            f.natDestinationPort(), flow.client(), flow.clientPort())).retval()).isEqualTo(TC_ACT_OK);
                    assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_ESTABLISHED);
                }
                flows.add(flow);
                opened.add(dataPlane.entry(flow.forwardKey()));
            }
        }

        // One second for TCP established on http4, one second for UDP on dns4; the IPv6 twins keep the defaults.
        dataPlane.apply(withTimeouts(Map.of(
                "http4", IdleTimeouts.newBuilder().setTcpEstablishedSeconds(1).build(),
                "dns4", IdleTimeouts.newBuilder().setUdpSeconds(1).build())));
        Thread.sleep(IDLE_MS);

        for (int i = 0; i < flows.size(); i++) {
            Case c = cases.get(i / FLOWS);
            Flow flow = flows.get(i);
            long[] step = dataPlane.stats();
            assertThat(dataPlane.xdp(flow.forward(c.next())).retval()).isEqualTo(XDP_PASS);
            Abi.CtEntry now = dataPlane.entry(flow.forwardKey());
            if (c.short_()) {
                assertThat(dataPlane.statsSince(step)).as("%s flow %s", c.listener(), flow)
                        .containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
                assertThat(now.createdNs()).isGreaterThan(opened.get(i).createdNs());
            } else {
                assertThat(dataPlane.statsSince(step)).as("%s flow %s", c.listener(), flow)
                        .containsExactly(entry(Abi.Stat.CT_HIT, 1L));
                assertThat(now.createdNs()).isEqualTo(opened.get(i).createdNs());
            }
        }

        // What the kernel holds, and that it goes back to the defaults with the setting.
        Abi.Listener http4 = dataPlane.listener(Snapshots.VIP4, Snapshots.HTTP, Abi.IPPROTO_TCP);
        assertThat(dataPlane.timeouts(http4)).isEqualTo(new Abi.Timeouts(1_000_000_000L, 0, 0));
        dataPlane.apply(snapshot());
        assertThat(dataPlane.timeouts(http4)).isEqualTo(Abi.Timeouts.DEFAULTS);
    }

    /** The standard node, with idle timeouts on the listeners named (by the last part of their name). */
    private NodeSnapshot withTimeouts(Map<String, IdleTimeouts> byName) {
        List<Listener> listeners = new ArrayList<>();
        for (Listener l : Snapshots.standardListeners()) {
            IdleTimeouts t = byName.get(l.getName().substring(l.getName().lastIndexOf('/') + 1));
            listeners.add(t == null ? l : l.toBuilder().setIdleTimeouts(t).build());
        }
        return Snapshots.snapshot(listeners, List.of(Snapshots.web(3), Snapshots.dns(3)));
    }
}
