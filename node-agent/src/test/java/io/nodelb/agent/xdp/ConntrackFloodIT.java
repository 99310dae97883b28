package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.PSH;
import static io.nodelb.agent.xdp.Frames.RST;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.NatMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Conntrack flood safety (bpf/README.md, "Conntrack flood safety"), through BPF_PROG_TEST_RUN on a
 * small flow table: a TCP flow earns the established timeout only with its backend's answer (a
 * packet without SYN in the reply direction), so a spoofed ACK or a SYN followed by a blind ACK
 * holds its entries for the SYN timeout (30 s), not the established one (900 s); and the
 * measurement of what a flood of spoofed SYNs and bare ACKs of ten times the table does to 100
 * established flows.
 *
 * <p>Ages are set in the entries ({@link LoadedDataPlane#lastSeen}), not slept: nothing here
 * depends on how fast this machine runs.
 */
@Privileged
class ConntrackFloodIT extends DataPlaneFixture {

    /** The flow table of this data plane: small enough to flood ten times over in a test. */
    private static final int TABLE = 16_384;
    /** The table of unanswered flows: a quarter of it, as the defaults (NLB_MAX_EMBRYONIC). */
    private static final int EMBRYONIC = TABLE / 4;
    private static final int FLOOD = 10 * TABLE;
    private static final int FLOWS = 100;
    /** The flood's time bound: it takes a few seconds here. */
    private static final long FLOOD_DEADLINE_NS = 120_000_000_000L;

    @Override
    LoadedDataPlane load() {
        return LoadedDataPlane.load(LoadedDataPlane.LIMITS,
                Map.of("nlb_conntrack" + BpfDataPlane.MAX_ENTRIES, (long) TABLE,
                        BpfDataPlane.EMBRYONIC_MAP + BpfDataPlane.MAX_ENTRIES, (long) EMBRYONIC));
    }

    static Stream<StandardListener> tcpListeners() {
        return StandardListener.tcp();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aBareAckPickupWaitsOnTheSynTimeoutAndExpiresAtIt(StandardListener l) {
        for (int flags : new int[] {ACK, ACK | PSH, 0}) {
            Flow flow = l.flow(41000 + flags);
            assertThat(dataPlane.xdp(flow.forward(flags)).retval()).isEqualTo(XDP_PASS);
            assertThat(dataPlane.entry(flow.forwardKey()).state()).as("%s picked up by flags %d", l, flags)
                    .isEqualTo(Abi.CT_SYN);
            assertThat(dataPlane.entry(replyKey(flow)).flags() & Abi.CT_PICKED_UP).isEqualTo(Abi.CT_PICKED_UP);

            dataPlane.lastSeen(flow, 29);
            assertThat(nextForward(flow)).as("idle 29 s, within the SYN timeout").isEqualTo(Abi.Stat.CT_HIT);
            dataPlane.lastSeen(flow, 31);
            assertThat(nextForward(flow)).as("idle 31 s, past the SYN timeout").isEqualTo(Abi.Stat.NEW_FLOW);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aPickupTheBackendAnswersIsEstablishedWithTheLongTimeout(StandardListener l) {
        Flow flow = l.flow(41100);
        assertThat(dataPlane.xdp(flow.forward(ACK | PSH)).retval()).isEqualTo(XDP_PASS);
        Abi.CtEntry picked = dataPlane.entry(flow.forwardKey());

        backendSends(l, flow, ACK);

        assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_ESTABLISHED);
        assertThat(dataPlane.entry(replyKey(flow)).state()).isEqualTo(Abi.CT_ESTABLISHED);
        dataPlane.lastSeen(flow, 600);
        assertThat(nextForward(flow)).as("idle 600 s, within the established timeout").isEqualTo(Abi.Stat.CT_HIT);
        Abi.CtEntry kept = dataPlane.entry(flow.forwardKey());
        assertThat(kept.createdNs()).as("the same flow, not picked up again").isEqualTo(picked.createdNs());
        assertThat(kept.backend()).isEqualTo(picked.backend());
        dataPlane.lastSeen(flow, 901);
        assertThat(nextForward(flow)).as("idle 901 s, past it").isEqualTo(Abi.Stat.NEW_FLOW);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aSynAndASpoofedAckWithoutTheBackendsAnswerStayOnTheSynTimeout(StandardListener l) {
        Flow flow = l.flow(41200);
        assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_PASS);
        // A backend answers a spoofed SYN too: its SYN-ACK is no proof that the client is real.
        backendSends(l, flow, SYN | ACK);
        assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(flow.forward(ACK | PSH)).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_SYN);
        assertThat(dataPlane.entry(replyKey(flow)).state()).isEqualTo(Abi.CT_SYN);
        dataPlane.lastSeen(flow, 31);
        assertThat(nextForward(flow)).as("idle 31 s, past the SYN timeout").isEqualTo(Abi.Stat.NEW_FLOW);

        // The same handshake that the backend completes (its ACK) is established.
        Flow real = l.flow(41201);
        assertThat(dataPlane.xdp(real.first()).retval()).isEqualTo(XDP_PASS);
        backendSends(l, real, SYN | ACK);
        assertThat(dataPlane.xdp(real.forward(ACK)).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.embryonic()).as("unanswered: waiting apart").containsKeys(real.forwardKey(),
                replyKey(real));
        backendSends(l, real, ACK);
        assertThat(dataPlane.entry(real.forwardKey()).state()).isEqualTo(Abi.CT_ESTABLISHED);
        assertThat(dataPlane.entry(replyKey(real)).state()).isEqualTo(Abi.CT_ESTABLISHED);
        assertThat(dataPlane.embryonic()).as("answered: both entries moved to nlb_conntrack")
                .doesNotContainKeys(real.forwardKey(), replyKey(real));
        assertThat(nextForward(real)).isEqualTo(Abi.Stat.CT_HIT);
    }

    /** A backend that resets a pickup (it has no such connection) closes it: CLOSING, 10 s. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aPickupTheBackendResetsCloses(StandardListener l) {
        Flow flow = l.flow(41300);
        assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).isEqualTo(XDP_PASS);
        backendSends(l, flow, RST);
        assertThat(dataPlane.entry(flow.forwardKey()).state()).isEqualTo(Abi.CT_CLOSING);
        assertThat(dataPlane.entry(replyKey(flow)).state()).isEqualTo(Abi.CT_CLOSING);
    }

    /**
     * 100 established flows through a flood of spoofed SYNs and bare ACKs (half each), ten times the
     * flow table, to the same listener: from distinct sources, or in pairs (the SYN and then the ACK
     * of one source, as a blind spoofer completing a handshake sends them). Every {@code every} flood
     * packets each flow sends a packet and its backend answers (0: the flows stay idle through the
     * flood). Before the flows open, {@code background} unanswered SYNs from other sources (two
     * entries each) may fill part of the table, as the entries of past flows do on a node whose
     * table has filled once. A flow is broken when it lost an entry (its forward entry was created
     * again, or is gone, or its backend's reply is no longer translated) or changed backend. What
     * this design holds, asserted: none breaks, sending or idle, since the flood's flows, never
     * answered, wait in nlb_ct_embryonic and evict only each other there (bpf/README.md, "Conntrack
     * flood safety"). The figures are printed.
     */
    @ParameterizedTest(name = "a packet every {0} flood packets (0: idle), {1} SYNs before, SYN and ACK of one source: {2}")
    @CsvSource({"1024, 0, false", "4096, 0, false", "16384, 0, false", "0, 0, false", "0, 4096, false",
            "1024, 0, true", "4096, 0, true", "0, 0, true", "0, 4096, true"})
    void establishedFlowsThroughAFloodOfTenTimesTheTable(int every, int background, boolean pairs) {
        StandardListener l = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        for (int i = 0; i < background; i++) {
            assertThat(dataPlane.xdp(Frames.frame(Abi.IPPROTO_TCP, SYN, "100.127." + ((i >>> 8) & 255) + "."
                    + (i & 255), 2000 + i, l.vip(), l.port())).retval()).isEqualTo(XDP_PASS);
        }
        List<Flow> flows = new ArrayList<>();
        List<Abi.CtEntry> opened = new ArrayList<>();
        for (int i = 0; i < FLOWS; i++) {
            Flow flow = l.flow(30000 + i);
            assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_PASS);
            backendSends(l, flow, SYN | ACK);
            assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).isEqualTo(XDP_PASS);
            backendSends(l, flow, ACK);
            Abi.CtEntry e = dataPlane.entry(flow.forwardKey());
            assertThat(e.state()).isEqualTo(Abi.CT_ESTABLISHED);
            flows.add(flow);
            opened.add(e);
        }

        long started = System.nanoTime();
        boolean[] broken = new boolean[FLOWS];
        long[] before = dataPlane.stats();
        for (int i = 0; i < FLOOD; i++) {
            if ((i & 1023) == 0) {
                assertThat(System.nanoTime() - started).as("the flood's time bound").isLessThan(FLOOD_DEADLINE_NS);
            }
            dataPlane.xdp(spoofed(l, pairs ? i & ~1 : i, (i & 1) == 0 ? SYN : ACK));
            if (every > 0 && (i + 1) % every == 0) {
                for (int f = 0; f < FLOWS; f++) {
                    broken[f] |= !talks(l, flows.get(f));
                }
            }
        }
        for (int f = 0; f < FLOWS; f++) {
            broken[f] |= !talks(l, flows.get(f));
            Abi.CtEntry now = dataPlane.entry(flows.get(f).forwardKey());
            broken[f] |= now == null || now.createdNs() != opened.get(f).createdNs()
                    || now.backend() != opened.get(f).backend() || now.state() != Abi.CT_ESTABLISHED;
        }
        int count = 0;
        for (boolean b : broken) {
            count += b ? 1 : 0;
        }
        Map<Abi.Stat, Long> flood = dataPlane.statsSince(before);
        System.out.printf("conntrack flood: table %d, %d SYNs before, flood %d (SYN and ACK%s), flows sending every %s:"
                + " %d of %d broken, %.1f s; %s%n", TABLE, background, FLOOD, pairs ? " of one source" : "",
                every == 0 ? "never (idle)" : every + " flood packets", count, FLOWS,
                (System.nanoTime() - started) / 1e9, flood);
        assertThat(flood).as("every flood packet reached the flow table").containsKey(Abi.Stat.NEW_FLOW);
        assertThat(count).as("established flows broken by the flood").isZero();
    }

    /**
     * One packet each way of an established flow: the client's reaches the flow's backend and the
     * backend's comes back translated. False when either shows the flow lost its entries.
     */
    private boolean talks(StandardListener l, Flow flow) {
        long[] before = dataPlane.stats();
        TestRunResult forward = dataPlane.xdp(flow.forward(ACK | PSH));
        if (forward.retval() != XDP_PASS || !dataPlane.statsSince(before).equals(Map.of(Abi.Stat.CT_HIT, 1L))) {
            return false;
        }
        Packet out = Packet.parse(forward.output());
        TestRunResult reply = dataPlane.tc(Frames.frame(Abi.IPPROTO_TCP, ACK, out.dst().getHostAddress(),
                out.dstPort(), flow.client(), flow.clientPort()));
        return reply.retval() == TC_ACT_OK && Packet.parse(reply.output()).src().equals(flow.vipAddress());
    }

    /**
     * A spoofed packet with these flags from source i, its own address and port: the flood sends a SYN
     * (even packets) and a bare ACK (odd ones), from distinct sources or, in pairs, the SYN and then the
     * ACK of one source, as a blind spoofer completing a handshake would.
     */
    private static byte[] spoofed(StandardListener l, int i, int flags) {
        String source = "100." + (64 + (i >>> 16)) + "." + ((i >>> 8) & 255) + "." + (i & 255);
        return Frames.frame(Abi.IPPROTO_TCP, flags, source, 1024 + (i * 7919) % 60000, l.vip(), l.port());
    }

    /** The reason of the flow's next client packet (an ACK). */
    private Abi.Stat nextForward(Flow flow) {
        long[] before = dataPlane.stats();
        assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).isEqualTo(XDP_PASS);
        Map<Abi.Stat, Long> moved = dataPlane.statsSince(before);
        assertThat(moved).hasSize(1);
        return moved.keySet().iterator().next();
    }

    /** A packet from the flow's backend with these flags, through the program that translates it. */
    private void backendSends(StandardListener l, Flow flow, int flags) {
        Abi.CtEntry f = dataPlane.entry(flow.forwardKey());
        byte[] frame = Frames.frame(Abi.IPPROTO_TCP, flags, f.natDestination().getHostAddress(),
                f.natDestinationPort(), f.natSource().getHostAddress(), f.natSourcePort());
        long[] before = dataPlane.stats();
        if (l.isFullNat()) {
            assertThat(dataPlane.xdp(frame).retval()).isEqualTo(XDP_PASS);
        } else {
            assertThat(dataPlane.tc(frame).retval()).isEqualTo(TC_ACT_OK);
        }
        assertThat(dataPlane.statsSince(before)).as("the backend's packet translated")
                .containsExactly(entry(Abi.Stat.CT_REPLY, 1L));
    }

    private Abi.CtKey replyKey(Flow flow) {
        Abi.CtEntry f = dataPlane.entry(flow.forwardKey());
        return new Abi.CtKey(f.natDestination(), f.natDestinationPort(), f.natSource(), f.natSourcePort(),
                Abi.IPPROTO_TCP);
    }
}
