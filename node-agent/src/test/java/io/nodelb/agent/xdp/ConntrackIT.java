package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.FIN;
import static io.nodelb.agent.xdp.Frames.PSH;
import static io.nodelb.agent.xdp.Frames.RST;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_DROP;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.DataPlane.BackendCounters;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What the conntrack entries hold and how they move: the fields of both entries of a flow, the
 * TCP states, port reuse after a close, the per-backend counters and nlb_stats, empty groups,
 * stateless RSTs, and the FullNAT port search.
 */
@Privileged
class ConntrackIT extends DataPlaneFixture {

    /** How far the coarse clock may lag CLOCK_MONOTONIC: a tick (4 ms at HZ=250), with room. */
    private static final long CLOCK_SLACK_NS = 50_000_000L;

    static Stream<StandardListener> listeners() {
        return StandardListener.all();
    }

    static Stream<StandardListener> tcpListeners() {
        return StandardListener.tcp();
    }

    static Stream<StandardListener> fullNatListeners() {
        return StandardListener.all().filter(StandardListener::isFullNat);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void bothEntriesOfAFlowRecordItsTranslationTimesAndCounts(StandardListener l) {
        Flow flow = l.flow(43001);
        byte[] first = flow.first();
        int backendId = dataPlane.predictedBackend(flow);
        Abi.Backend backend = dataPlane.backend(backendId);
        int listenerId = dataPlane.listener(flow.vip(), flow.vipPort(), flow.proto()).id();
        long t0 = System.nanoTime();

        dataPlane.xdp(first);

        long t1 = System.nanoTime();
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        assertThat(forward).isNotNull();
        InetAddress source = l.isFullNat() ? Snapshots.ip(l.snat()) : flow.clientAddress();
        int sourcePort = l.isFullNat() ? forward.natSourcePort() : flow.clientPort();
        int state = l.isTcp() ? Abi.CT_SYN : Abi.CT_UDP;
        assertThat(forward).isEqualTo(new Abi.CtEntry(source, backend.address(), sourcePort, backend.port(),
                backendId, forward.createdNs(), forward.createdNs(), 1, Frames.ipLength(first), state,
                (l.isFullNat() ? Abi.CT_FULLNAT : 0) | Abi.CT_EVENTS, listenerId)); // flowEvents: on by default
        assertThat(forward.createdNs()).isBetween(t0 - CLOCK_SLACK_NS, t1);

        Abi.CtKey replyKey = new Abi.CtKey(backend.address(), backend.port(), source, sourcePort, flow.proto());
        Abi.CtEntry reply = dataPlane.entry(replyKey);
        assertThat(reply).isEqualTo(new Abi.CtEntry(flow.vipAddress(), flow.clientAddress(), flow.vipPort(),
                flow.clientPort(), backendId, forward.createdNs(), forward.createdNs(), 0, 0, state,
                Abi.CT_REPLY | (l.isFullNat() ? Abi.CT_FULLNAT : 0) | Abi.CT_EVENTS, listenerId));
        assertThat(dataPlane.conntrack()).containsOnlyKeys(flow.forwardKey(), replyKey);
        assertThat(dataPlane.dataPlane().liveFlowsByBackend()).as("a report's scan").containsEntry(backendId, 1L);
        // A TCP flow waits for its backend's answer in nlb_ct_embryonic; UDP has none to wait for.
        assertThat(dataPlane.dataPlane().conntrackEntries()).as("nodelb_conntrack_entries, from that scan")
                .isEqualTo(l.isTcp() ? 0 : 2);
        assertThat(dataPlane.dataPlane().embryonicEntries()).as("nodelb_conntrack_embryonic_entries, the same scan")
                .isEqualTo(l.isTcp() ? 2 : 0);
        assertThat(dataPlane.dataPlane().conntrackCapacity()).as("nodelb_conntrack_max_entries").isEqualTo(1 << 20);
        assertThat(dataPlane.dataPlane().embryonicCapacity()).as("nodelb_conntrack_embryonic_max_entries")
                .isEqualTo(Abi.MAX_EMBRYONIC);

        // One more packet each way, and an ACK from the backend.
        byte[] second = flow.forward(ACK | PSH);
        dataPlane.xdp(second);
        byte[] synAck = Frames.frame(flow.proto(), SYN | ACK, backend.address().getHostAddress(), backend.port(),
                source.getHostAddress(), sourcePort);
        byte[] ack = Frames.frame(flow.proto(), ACK, backend.address().getHostAddress(), backend.port(),
                source.getHostAddress(), sourcePort);
        long t2 = System.nanoTime();
        replyThroughItsProgram(l, synAck);
        replyThroughItsProgram(l, ack);

        Abi.CtEntry forwardAfter = dataPlane.entry(flow.forwardKey());
        assertThat(forwardAfter.packets()).isEqualTo(2);
        assertThat(forwardAfter.bytes()).isEqualTo(Frames.ipLength(first) + Frames.ipLength(second));
        assertThat(forwardAfter.state()).isEqualTo(l.isTcp() ? Abi.CT_ESTABLISHED : Abi.CT_UDP);
        assertThat(forwardAfter.createdNs()).isEqualTo(forward.createdNs());
        assertThat(forwardAfter.lastSeenNs()).isGreaterThanOrEqualTo(forward.lastSeenNs());
        Abi.CtEntry replyAfter = dataPlane.entry(replyKey);
        assertThat(replyAfter.packets()).isEqualTo(2);
        assertThat(replyAfter.bytes()).isEqualTo(Frames.ipLength(synAck) + Frames.ipLength(ack));
        assertThat(replyAfter.state()).isEqualTo(l.isTcp() ? Abi.CT_ESTABLISHED : Abi.CT_UDP);
        assertThat(replyAfter.createdNs()).isEqualTo(forward.createdNs());
        assertThat(replyAfter.lastSeenNs()).isBetween(forward.lastSeenNs(), System.nanoTime());
        assertThat(replyAfter.lastSeenNs()).isGreaterThanOrEqualTo(t2 - CLOCK_SLACK_NS);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void perBackendCountersAndPacketStatsMove(StandardListener l) {
        Flow flow = l.flow(43002);
        int backendId = dataPlane.predictedBackend(flow);
        BackendCounters before = dataPlane.counters(backendId);
        long[] stats = dataPlane.stats();
        byte[] first = flow.first();
        byte[] second = flow.forward(ACK | PSH);

        dataPlane.xdp(first);
        dataPlane.xdp(second);
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        String backend = forward.natDestination().getHostAddress();
        String source = forward.natSource().getHostAddress();
        byte[] synAck = Frames.frame(flow.proto(), SYN | ACK, backend, forward.natDestinationPort(), source,
                forward.natSourcePort());
        byte[] ack = Frames.frame(flow.proto(), ACK, backend, forward.natDestinationPort(), source,
                forward.natSourcePort());
        replyThroughItsProgram(l, synAck);
        replyThroughItsProgram(l, ack);

        BackendCounters after = dataPlane.counters(backendId);
        assertThat(after.minus(before)).isEqualTo(new BackendCounters(2, Frames.ipLength(first) + Frames.ipLength(second), 1, 2,
                        Frames.ipLength(synAck) + Frames.ipLength(ack), 0, 0));
        assertThat(dataPlane.statsSince(stats)).containsOnly(entry(Abi.Stat.NEW_FLOW, 1L),
                entry(Abi.Stat.CT_HIT, 1L), entry(Abi.Stat.CT_REPLY, 2L));
    }

    /**
     * A TCP conversation from the client alone: flags of each packet, the forward entry's state after it,
     * its reason. The client's packets never establish a flow: only the backend's answer does
     * (ConntrackFloodIT), so without one a flow stays in SYN, on the short timeout.
     */
    static Stream<Arguments> tcpConversations() {
        return Stream.of(
                conversation("open, ACK, close", step(SYN, Abi.CT_SYN, Abi.Stat.NEW_FLOW),
                        step(ACK, Abi.CT_SYN, Abi.Stat.CT_HIT),
                        step(FIN | ACK, Abi.CT_CLOSING, Abi.Stat.CT_HIT),
                        step(ACK, Abi.CT_CLOSING, Abi.Stat.CT_HIT)),
                conversation("reset after the SYN", step(SYN, Abi.CT_SYN, Abi.Stat.NEW_FLOW),
                        step(RST, Abi.CT_CLOSING, Abi.Stat.CT_HIT)),
                conversation("reset after data", step(SYN, Abi.CT_SYN, Abi.Stat.NEW_FLOW),
                        step(ACK | PSH, Abi.CT_SYN, Abi.Stat.CT_HIT),
                        step(RST | ACK, Abi.CT_CLOSING, Abi.Stat.CT_HIT)),
                conversation("SYN retransmitted", step(SYN, Abi.CT_SYN, Abi.Stat.NEW_FLOW),
                        step(SYN, Abi.CT_SYN, Abi.Stat.CT_HIT)),
                conversation("picked up mid-flow", step(ACK | PSH, Abi.CT_SYN, Abi.Stat.NEW_FLOW),
                        step(ACK, Abi.CT_SYN, Abi.Stat.CT_HIT)),
                conversation("picked up without flags", step(0, Abi.CT_SYN, Abi.Stat.NEW_FLOW)),
                conversation("first seen closing", step(FIN | ACK, Abi.CT_CLOSING, Abi.Stat.NEW_FLOW),
                        step(ACK, Abi.CT_CLOSING, Abi.Stat.CT_HIT)),
                conversation("SYN-ACK on a closing flow is no new connection",
                        step(SYN, Abi.CT_SYN, Abi.Stat.NEW_FLOW), step(FIN | ACK, Abi.CT_CLOSING, Abi.Stat.CT_HIT),
                        step(SYN | ACK, Abi.CT_CLOSING, Abi.Stat.CT_HIT)),
                conversation("SYN on a closing flow starts a new one",
                        step(SYN, Abi.CT_SYN, Abi.Stat.NEW_FLOW), step(ACK, Abi.CT_SYN, Abi.Stat.CT_HIT),
                        step(FIN | ACK, Abi.CT_CLOSING, Abi.Stat.CT_HIT), step(SYN, Abi.CT_SYN, Abi.Stat.NEW_FLOW),
                        step(ACK, Abi.CT_SYN, Abi.Stat.CT_HIT)));
    }

    private record Step(int flags, int state, Abi.Stat reason) {}

    private static Step step(int flags, int state, Abi.Stat reason) {
        return new Step(flags, state, reason);
    }

    private static Arguments conversation(String name, Step... steps) {
        return Arguments.of(name, List.of(steps));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpConversations")
    void tcpFlagsMoveTheForwardEntrysState(String name, List<Step> steps) {
        for (StandardListener l : StandardListener.tcp().toList()) {
            Flow flow = l.flow(43100);
            dataPlane.clearConntrack();
            long packets = 0;
            for (Step step : steps) {
                long[] before = dataPlane.stats();
                TestRunResult result = dataPlane.xdp(flow.forward(step.flags()));
                assertThat(result.retval()).as("%s: %s", l, step).isEqualTo(XDP_PASS);
                assertThat(dataPlane.statsSince(before)).as("%s: %s", l, step).containsExactly(entry(step.reason(), 1L));
                packets = step.reason() == Abi.Stat.NEW_FLOW ? 1 : packets + 1;
                Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
                assertThat(forward.state()).as("%s: state after %s", l, step).isEqualTo(step.state());
                assertThat(forward.packets()).as("%s: packets after %s", l, step).isEqualTo(packets);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aSynOnAClosingFlowIsANewConnectionThatFollowsTheNewTable(StandardListener l) {
        Flow flow = l.flow(43200);
        dataPlane.xdp(flow.first());
        Abi.CtEntry opened = dataPlane.entry(flow.forwardKey());
        dataPlane.xdp(flow.forward(FIN | ACK));
        InetAddress first = opened.natDestination();

        // That backend drains (a removed one would release its flows: ReleaseFlowsIT); the closing flow still reaches it...
        dataPlane.apply(Snapshots.snapshot(Snapshots.standardListeners(),
                List.of(drainingOne(Snapshots.web(3), first), Snapshots.dns(3))));
        TestRunResult ack = dataPlane.xdp(flow.forward(ACK));
        assertThat(Packet.parse(ack.output()).dst()).isEqualTo(first);

        // ...until a SYN reuses the client port: a new connection, a new selection.
        long[] before = dataPlane.stats();
        TestRunResult syn = dataPlane.xdp(flow.first());
        assertThat(syn.retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        int chosen = dataPlane.predictedBackend(flow);
        assertThat(Packet.parse(syn.output()).dst()).isEqualTo(dataPlane.backend(chosen).address()).isNotEqualTo(first);
        Abi.CtEntry reopened = dataPlane.entry(flow.forwardKey());
        assertThat(reopened.backend()).isEqualTo(chosen);
        assertThat(reopened.state()).isEqualTo(Abi.CT_SYN);
        assertThat(reopened.packets()).isEqualTo(1);
        assertThat(reopened.createdNs()).isGreaterThanOrEqualTo(opened.createdNs());
    }

    /**
     * A backend that resets a connection closes both its entries (events on or off): a SYN that
     * reuses the client port soon after is a new connection that follows the table, not one sent
     * again to the backend that refused it.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aResetFromTheBackendClosesTheFlowBothWays(StandardListener l) {
        for (boolean events : List.of(true, false)) {
            dataPlane.listenerEvents(l.vip(), l.port(), Abi.IPPROTO_TCP, events);
            Flow flow = l.flow(events ? 43300 : 43301);
            Packet opened = Packet.parse(dataPlane.xdp(flow.first()).output());
            assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_SYN);

            replyThroughItsProgram(l, Frames.frame(flow.proto(), RST | ACK, opened.dst().getHostAddress(),
                    opened.dstPort(), opened.src().getHostAddress(), opened.srcPort()));

            assertThat(dataPlane.entry(flow.forwardKey()).state()).as("forward entry, events %s", events)
                    .isEqualTo(Abi.CT_CLOSING);
            long[] before = dataPlane.stats();
            assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_PASS);
            assertThat(dataPlane.statsSince(before)).as("the SYN after the reset").containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        }
        dataPlane.listenerEvents(l.vip(), l.port(), Abi.IPPROTO_TCP, true);
    }

    /** With the table unchanged, a SYN that reopens a closed flow's client port gets its backend and reply key back. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aSynThatReopensAClosedFlowKeepsItsBackendAndReplyKey(StandardListener l) {
        Flow flow = l.flow(43250);
        Packet opened = Packet.parse(dataPlane.xdp(flow.first()).output());
        assertThat(dataPlane.xdp(flow.forward(FIN | ACK)).retval()).isEqualTo(XDP_PASS);
        long[] before = dataPlane.stats();

        TestRunResult syn = dataPlane.xdp(flow.first());

        assertThat(syn.retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        Packet reopened = Packet.parse(syn.output());
        assertThat(reopened.dst()).as("backend").isEqualTo(opened.dst());
        assertThat(reopened.srcPort()).as("source port the backend sees").isEqualTo(opened.srcPort());
        assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_SYN);
        assertThat(dataPlane.conntrack()).as("the same two keys").hasSize(2);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void anEmptyGroupDropsNewFlowsAndKeepsOpenOnes(StandardListener l) {
        Flow open = l.flow(43300);
        dataPlane.xdp(open.first());
        // Every backend of both groups drains: nothing for new flows, open ones keep theirs. (Removed
        // backends would release their flows: ReleaseFlowsIT.)
        dataPlane.apply(Snapshots.snapshot(Snapshots.standardListeners(), List.of(
                draining(Snapshots.web(3)), draining(Snapshots.dns(3)))));
        Map<Abi.CtKey, Abi.CtEntry> flows = dataPlane.conntrack();
        Map<Integer, BackendCounters> counters = allCounters();
        long[] before = dataPlane.stats();

        TestRunResult dropped = dataPlane.xdp(l.flow(43301).first());

        assertThat(dropped.retval()).isEqualTo(XDP_DROP);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.DROP_NO_BACKEND, 1L));
        assertThat(dataPlane.conntrack()).as("nothing written").isEqualTo(flows);
        assertThat(allCounters()).isEqualTo(counters);

        TestRunResult next = dataPlane.xdp(open.forward(ACK));
        assertThat(next.retval()).isEqualTo(XDP_PASS);
        assertThat(Packet.parse(next.output()).dst()).isEqualTo(dataPlane.entry(open.forwardKey()).natDestination());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aRstOfAnUnknownFlowGoesToTheSelectedBackendWithoutState(StandardListener l) {
        Flow flow = l.flow(43400);
        int backendId = dataPlane.predictedBackend(flow);
        Abi.Backend backend = dataPlane.backend(backendId);
        BackendCounters before = dataPlane.counters(backendId);
        long[] stats = dataPlane.stats();
        byte[] rst = flow.forward(RST | ACK);

        TestRunResult result = dataPlane.xdp(rst);

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        String source = l.isFullNat() ? l.snat() : flow.client();
        int sourcePort = l.isFullNat() ? dataPlane.firstNatPort(flow) : flow.clientPort();
        Frames.assertRewritten(result.output(), Frames.frame(Abi.IPPROTO_TCP, RST | ACK, source, sourcePort,
                backend.address().getHostAddress(), backend.port()));
        assertThat(dataPlane.statsSince(stats)).containsExactly(entry(Abi.Stat.RST_NO_STATE, 1L));
        assertThat(dataPlane.conntrack()).isEmpty();
        BackendCounters after = dataPlane.counters(backendId);
        assertThat(after.packets() - before.packets()).isEqualTo(1);
        assertThat(after.bytes() - before.bytes()).isEqualTo(Frames.ipLength(rst));
        assertThat(after.newFlows()).isEqualTo(before.newFlows());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fullNatListeners")
    void aFlowWhoseForwardEntryWasLostGetsItsFullNatPortBack(StandardListener l) {
        Flow flow = l.flow(43500);
        int port = Packet.parse(dataPlane.xdp(flow.first()).output()).srcPort();
        assertThat(dataPlane.deleteEntry(flow.forwardKey())).isTrue();
        long[] before = dataPlane.stats();

        TestRunResult next = dataPlane.xdp(flow.forward(ACK | PSH));

        assertThat(next.retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        assertThat(Packet.parse(next.output()).srcPort()).as("the backend sees the same connection").isEqualTo(port);
        assertThat(dataPlane.conntrack()).hasSize(2);
        assertThat(dataPlane.entry(flow.forwardKey()).state()).as("picked up: waits for the backend's answer")
                .isEqualTo(l.isTcp() ? Abi.CT_SYN : Abi.CT_UDP);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fullNatListeners")
    void fullNatPortsAreSearchedFromTheFlowsHashAndArePerBackend(StandardListener l) {
        // Flows whose first port is the same: two to one backend, one to another.
        LoadedDataPlane.SharedNatPort shared = dataPlane.flowsSharingAFirstNatPort(l, 20000);
        Flow a = shared.first();
        int p = shared.port();
        Flow c = null;
        for (int port = 20000; port < 60000 && c == null; port++) {
            Flow f = l.flow(port);
            if (dataPlane.firstNatPort(f) == p && dataPlane.predictedBackend(f) != dataPlane.predictedBackend(a)) {
                c = f;
            }
        }
        assertThat(c).as("a flow to another backend with the same first port").isNotNull();

        assertThat(natPort(dataPlane.xdp(a.first()))).isEqualTo(p);
        assertThat(natPort(dataPlane.xdp(shared.second().first()))).as("the next port").isEqualTo(p + 1);
        assertThat(natPort(dataPlane.xdp(c.first()))).as("another backend").isEqualTo(p);
        assertThat(dataPlane.conntrack()).hasSize(6);
    }

    static Stream<StandardListener> tcpFullNatListeners() {
        return fullNatListeners().filter(StandardListener::isTcp);
    }

    /**
     * A closed TCP flow's FullNAT port rests for the backend's TIME_WAIT (60 s) before another
     * flow takes it: the backend refuses a SYN on that connection from a client whose
     * timestamps are behind the old one's. A new flow that meets a resting port goes on to the
     * next free one; after the rest, the port is taken again.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpFullNatListeners")
    void aClosedFlowsFullNatPortRestsForTheBackendsTimeWait(StandardListener l) {
        LoadedDataPlane.SharedNatPort shared = dataPlane.flowsSharingAFirstNatPort(l, 20000);
        Flow a = shared.first();
        int p = shared.port();
        for (int quietSeconds : new int[] {20, 61}) {
            dataPlane.clearConntrack();
            assertThat(natPort(dataPlane.xdp(a.first()))).isEqualTo(p);
            // Closed and quiet: idle past the 10 s CLOSING timeout, so the port no longer holds a live flow.
            assertThat(dataPlane.xdp(a.forward(FIN | ACK)).retval()).isEqualTo(XDP_PASS);
            dataPlane.lastSeen(a, quietSeconds);
            long[] before = dataPlane.stats();

            TestRunResult next = dataPlane.xdp(shared.second().first());

            assertThat(next.retval()).isEqualTo(XDP_PASS);
            assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
            assertThat(natPort(next)).as("the port of a flow closed %d s ago", quietSeconds)
                    .isEqualTo(quietSeconds < 60 ? p + 1 : p);
        }
    }

    private static int natPort(TestRunResult result) {
        return Packet.parse(result.output()).srcPort();
    }

    private void replyThroughItsProgram(StandardListener l, byte[] reply) {
        if (l.isFullNat()) {
            assertThat(dataPlane.xdp(reply).retval()).isEqualTo(XDP_PASS);
        } else {
            assertThat(dataPlane.tc(reply).retval()).isEqualTo(TC_ACT_OK);
        }
    }

    private Map<Integer, BackendCounters> allCounters() {
        Map<Integer, BackendCounters> all = new HashMap<>();
        for (int id : dataPlane.backendIds()) {
            all.put(id, dataPlane.counters(id));
        }
        return all;
    }

    private static TargetGroup drainingOne(TargetGroup group, InetAddress address) {
        List<Backend> kept = new ArrayList<>();
        for (Backend b : group.getBackendsList()) {
            kept.add(Snapshots.ip(b.getAddress()).equals(address) ? b.toBuilder().setState(BackendState.DRAINING).build()
                    : b);
        }
        return group.toBuilder().clearBackends().addAllBackends(kept).build();
    }

    private static TargetGroup draining(TargetGroup group) {
        List<Backend> drained = new ArrayList<>();
        for (Backend b : group.getBackendsList()) {
            drained.add(b.toBuilder().setState(BackendState.DRAINING).build());
        }
        return group.toBuilder().clearBackends().addAllBackends(drained).build();
    }
}
