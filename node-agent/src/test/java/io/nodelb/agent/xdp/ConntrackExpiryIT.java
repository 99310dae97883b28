package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.FIN;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_DROP;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Idle timeouts, with a data plane loaded with short ones (the .rodata overrides: 100 ms for
 * SYN, CLOSING and UDP entries, 600 ms for ESTABLISHED ones) and a FullNAT range of four ports:
 * an idle flow is selected again from the current table, replies are translated whatever the
 * age of their entry, FullNAT ports run out while their flows live and are reused once idle.
 *
 * <p>Only "expired after the sleep" is timed; nothing depends on a step finishing within a
 * short timeout, because this machine's other work can stall the test for tens of ms.
 */
@Privileged
class ConntrackExpiryIT extends DataPlaneFixture {

    private static final long SHORT_TIMEOUT_NS = 100_000_000L;
    private static final long ESTABLISHED_TIMEOUT_NS = 600_000_000L;
    /** Longer than the short timeouts, plus ticks of the coarse clock. */
    private static final long SHORT_IDLE_MS = 250;
    /** Longer than every timeout. */
    private static final long LONG_IDLE_MS = 750;
    private static final int NAT_MIN = 61000;
    private static final int NAT_MAX = 61003;
    private static final int FLOWS_PER_KIND = 12;

    @Override
    LoadedDataPlane load() {
        DesiredState.Limits limits = new DesiredState.Limits(4093, 64, 32, 1024, NAT_MIN, NAT_MAX);
        return LoadedDataPlane.load(limits, Map.of(
                "cfg_timeout_syn_ns", SHORT_TIMEOUT_NS,
                "cfg_timeout_established_ns", ESTABLISHED_TIMEOUT_NS,
                "cfg_timeout_closing_ns", SHORT_TIMEOUT_NS,
                "cfg_timeout_udp_ns", SHORT_TIMEOUT_NS));
    }

    /** A kind of flow: how it is opened, the packet that comes after the idle time, the state that starts. */
    private record Kind(String name, StandardListener listener, int[] opening, int next, int stateAfter) {}

    @Test
    void idleFlowsAreSelectedAgainFromTheCurrentTable() throws InterruptedException {
        dataPlane.apply(Snapshots.standard());
        StandardListener tcp4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        StandardListener tcp6 = new StandardListener(true, Abi.IPPROTO_TCP, NatMode.DNAT);
        StandardListener udp6 = new StandardListener(true, Abi.IPPROTO_UDP, NatMode.DNAT);
        List<Kind> kinds = List.of(
                // Picked up again mid-flow by the ACK: in SYN, until the backend answers.
                new Kind("SYN", tcp4, new int[] {SYN}, ACK, Abi.CT_SYN),
                new Kind("ESTABLISHED", tcp6, new int[] {SYN, ACK}, ACK, Abi.CT_SYN),
                new Kind("CLOSING", tcp4, new int[] {SYN, ACK, FIN | ACK}, ACK, Abi.CT_SYN),
                new Kind("UDP", udp6, new int[] {0}, 0, Abi.CT_UDP));
        List<Flow> flows = new ArrayList<>();
        List<Abi.CtEntry> opened = new ArrayList<>();
        int port = 44000;
        for (Kind kind : kinds) {
            for (int i = 0; i < FLOWS_PER_KIND; i++) {
                Flow flow = kind.listener().flow(port++);
                for (int flags : kind.opening()) {
                    assertThat(dataPlane.xdp(flow.forward(flags)).retval()).isEqualTo(XDP_PASS);
                }
                if (kind.name().equals("ESTABLISHED")) { // the backend answers: established, 600 ms
                    Abi.CtEntry f = dataPlane.entry(flow.forwardKey());
                    assertThat(dataPlane.tc(Frames.frame(Abi.IPPROTO_TCP, ACK, f.natDestination().getHostAddress(),
                            f.natDestinationPort(), flow.client(), flow.clientPort())).retval()).isEqualTo(TC_ACT_OK);
                    assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_ESTABLISHED);
                }
                flows.add(flow);
                opened.add(dataPlane.entry(flow.forwardKey()));
            }
        }
        long[] before = dataPlane.stats();
        assertThat(before[Abi.Stat.NEW_FLOW.value()]).isPositive();

        Thread.sleep(LONG_IDLE_MS);
        // Replies are translated whatever the age of their entry (the forward entry decides the flow's life).
        Flow established = flows.get(FLOWS_PER_KIND);
        Abi.CtEntry e = opened.get(FLOWS_PER_KIND);
        TestRunResult reply = dataPlane.tc(Frames.frame(Abi.IPPROTO_TCP, ACK, e.natDestination().getHostAddress(),
                e.natDestinationPort(), established.client(), established.clientPort()));
        assertThat(reply.retval()).isEqualTo(TC_ACT_OK);
        assertThat(Packet.parse(reply.output()).src()).isEqualTo(established.vipAddress());
        // New weights: the tables change under the idle flows.
        dataPlane.apply(Snapshots.snapshot(Snapshots.standardListeners(),
                List.of(reweighted(Snapshots.web(3)), reweighted(Snapshots.dns(3)))));

        int moved = 0;
        for (int i = 0; i < flows.size(); i++) {
            Kind kind = kinds.get(i / FLOWS_PER_KIND);
            Flow flow = flows.get(i);
            long[] step = dataPlane.stats();
            TestRunResult next = dataPlane.xdp(flow.forward(kind.next()));
            assertThat(next.retval()).isEqualTo(XDP_PASS);
            assertThat(dataPlane.statsSince(step)).as("%s flow %s", kind.name(), flow)
                    .containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
            int chosen = dataPlane.predictedBackend(flow);
            assertThat(Packet.parse(next.output()).dst()).isEqualTo(dataPlane.backend(chosen).address());
            Abi.CtEntry renewed = dataPlane.entry(flow.forwardKey());
            assertThat(renewed.packets()).isEqualTo(1);
            assertThat(renewed.state()).isEqualTo(kind.stateAfter());
            assertThat(renewed.createdNs()).isGreaterThan(opened.get(i).createdNs() + SHORT_TIMEOUT_NS);
            if (chosen != opened.get(i).backend()) {
                moved++;
            }
        }
        assertThat(moved).as("idle flows that the new weights moved").isPositive();
    }

    @Test
    void liveFlowsHoldTheirFullNatPortsAndIdleOnesGiveThemUp() throws InterruptedException {
        // One backend per family: every FullNAT flow of a family competes for the same four ports.
        dataPlane.apply(Snapshots.snapshot(Snapshots.standardListeners(), List.of(Snapshots.web(1), Snapshots.dns(1))));
        StandardListener fullNat = new StandardListener(false, Abi.IPPROTO_TCP,
                NatMode.FULL_NAT);
        Set<Integer> ports = new HashSet<>();
        List<Flow> flows = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Flow flow = fullNat.flow(45000 + i);
            TestRunResult first = dataPlane.xdp(flow.first());
            assertThat(first.retval()).isEqualTo(XDP_PASS);
            ports.add(Packet.parse(first.output()).srcPort());
            assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).isEqualTo(XDP_PASS);
            Abi.CtEntry f = dataPlane.entry(flow.forwardKey());
            // The backend's answer: ESTABLISHED, 600 ms (the client's ACK alone leaves it in SYN, 100 ms).
            assertThat(dataPlane.xdp(Frames.frame(Abi.IPPROTO_TCP, ACK, f.natDestination().getHostAddress(),
                    f.natDestinationPort(), Snapshots.SNAT4, f.natSourcePort())).retval()).isEqualTo(XDP_PASS);
            assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_ESTABLISHED);
            flows.add(flow);
        }
        assertThat(ports).containsExactlyInAnyOrder(61000, 61001, 61002, 61003);
        Map<Abi.CtKey, Abi.CtEntry> full = dataPlane.conntrack();

        Flow fifth = fullNat.flow(45004);
        long[] before = dataPlane.stats();
        TestRunResult refused = dataPlane.xdp(fifth.first());
        assertThat(refused.retval()).isEqualTo(XDP_DROP);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.DROP_NO_NAT_PORT, 1L));
        assertThat(dataPlane.conntrack()).as("nothing written").isEqualTo(full);

        // The four flows close, both ways: their entries now expire after the short timeout.
        for (Flow flow : flows) {
            assertThat(dataPlane.xdp(flow.forward(FIN | ACK)).retval()).isEqualTo(XDP_PASS);
            Abi.CtEntry f = dataPlane.entry(flow.forwardKey());
            assertThat(dataPlane.xdp(Frames.frame(Abi.IPPROTO_TCP, FIN | ACK, f.natDestination().getHostAddress(),
                    f.natDestinationPort(), Snapshots.SNAT4, f.natSourcePort())).retval()).isEqualTo(XDP_PASS);
        }
        full = dataPlane.conntrack();
        Thread.sleep(SHORT_IDLE_MS);
        // An idle FullNAT flow's replies still come back translated...
        Abi.CtEntry e = full.get(flows.getFirst().forwardKey());
        TestRunResult reply = dataPlane.xdp(Frames.frame(Abi.IPPROTO_TCP, SYN | ACK,
                e.natDestination().getHostAddress(), e.natDestinationPort(), Snapshots.SNAT4, e.natSourcePort()));
        assertThat(reply.retval()).isEqualTo(XDP_PASS);
        Frames.assertRewritten(reply.output(), Frames.frame(Abi.IPPROTO_TCP, SYN | ACK, fullNat.vip(), fullNat.port(),
                Snapshots.CLIENT4, flows.getFirst().clientPort()));

        // ...but their ports are free for new flows: all four rest (closed less than 60 s ago),
        // and with no free port a new flow takes a resting one rather than being dropped.
        before = dataPlane.stats();
        TestRunResult accepted = dataPlane.xdp(fifth.first());
        assertThat(accepted.retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        int port = Packet.parse(accepted.output()).srcPort();
        assertThat(port).isBetween(NAT_MIN, NAT_MAX)
                .as("not the port whose reply traffic just moved").isNotEqualTo(e.natSourcePort());
        Abi.CtEntry backend = dataPlane.entry(fifth.forwardKey());
        Abi.CtEntry replyEntry = dataPlane.entry(new Abi.CtKey(backend.natDestination(), backend.natDestinationPort(),
                Snapshots.ip(Snapshots.SNAT4), port, Abi.IPPROTO_TCP));
        assertThat(replyEntry.natDestinationPort()).as("the port's reply entry is the new flow's")
                .isEqualTo(fifth.clientPort());
    }

    /** UDP has no TIME_WAIT: an idle UDP flow's FullNAT port is taken at once, an idle TCP flow's rests. */
    @Test
    void onlyTcpFullNatPortsRestAfterTheirFlows() throws InterruptedException {
        StandardListener tcp = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.FULL_NAT);
        StandardListener udp = new StandardListener(false, Abi.IPPROTO_UDP, NatMode.FULL_NAT);
        LoadedDataPlane.SharedNatPort tcpPair = dataPlane.flowsSharingAFirstNatPort(tcp, 46000);
        LoadedDataPlane.SharedNatPort udpPair = dataPlane.flowsSharingAFirstNatPort(udp, 46000);
        assertThat(dataPlane.xdp(tcpPair.first().first()).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(tcpPair.first().forward(FIN | ACK)).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(udpPair.first().first()).retval()).isEqualTo(XDP_PASS);
        Thread.sleep(SHORT_IDLE_MS);

        int tcpPort = Packet.parse(dataPlane.xdp(tcpPair.second().first()).output()).srcPort();
        int udpPort = Packet.parse(dataPlane.xdp(udpPair.second().first()).output()).srcPort();

        assertThat(tcpPort).as("TCP: the next port").isEqualTo(tcpPair.port() + 1);
        assertThat(udpPort).as("UDP: the same port").isEqualTo(udpPair.port());
    }

    private static TargetGroup reweighted(TargetGroup group) {
        List<Backend> backends = new ArrayList<>();
        for (Backend b : group.getBackendsList()) {
            boolean first = b.getAddress().byteAt(b.getAddress().size() - 1) == 1;
            backends.add(b.toBuilder().setWeight(first ? 9 : 1).setState(BackendState.ACTIVE).build());
        }
        return group.toBuilder().clearBackends().addAllBackends(backends).build();
    }
}
