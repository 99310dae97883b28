package io.nodelb.agent.events;

import static io.nodelb.agent.events.Events.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.testing.Privileged;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The conntrack sweep on real kernel maps of the data plane's layout (created here, no
 * programs): which flows it ends and deletes, the records it writes, what it leaves alone.
 */
@Privileged
class ConntrackSweepIT {

    private static final long S = 1_000_000_000L;
    private static final long NOW = 10_000 * S;
    private static final int LISTENER = 3;
    private static final InetAddress VIP = ip("10.0.0.100");
    private static final InetAddress BACKEND = ip("10.2.0.1");
    private static final InetAddress SNAT = ip("10.0.0.1");

    private BpfMap conntrack;
    private BpfMap timeouts;
    /** Where {@link #flow} writes: conntrack unless a test says otherwise. */
    private BpfMap into;
    private final Arena arena = Arena.ofConfined();

    @BeforeEach
    void maps() {
        conntrack = BpfMap.create(BpfMap.Type.HASH, "sweep_ct", (int) Abi.CtKey.LAYOUT.byteSize(),
                (int) Abi.CtEntry.LAYOUT.byteSize(), 4096, 0);
        timeouts = BpfMap.create(BpfMap.Type.ARRAY, "sweep_to", 4, (int) Abi.Timeouts.LAYOUT.byteSize(), 16, 0);
        into = conntrack;
    }

    @AfterEach
    void close() {
        conntrack.close();
        timeouts.close();
        arena.close();
    }

    private ConntrackSweep sweep() {
        return new ConntrackSweep(conntrack, timeouts, io.nodelb.agent.dataplane.FlowTimeouts.DATA_PLANE, 1000);
    }

    /** A flow's two entries; forward: client -> VIP:80 rewritten to the backend; reply: the reverse. */
    private void flow(int clientPort, int proto, int state, int flags, long forwardSeen, long replySeen, boolean fullNat) {
        InetAddress client = ip("10.1.0.1");
        InetAddress natSource = fullNat ? SNAT : client;
        int natSport = fullNat ? 61000 + clientPort % 1000 : clientPort;
        int f = flags | (fullNat ? Abi.CT_FULLNAT : 0);
        put(new Abi.CtKey(client, clientPort, VIP, 80, proto), new Abi.CtEntry(natSource, BACKEND, natSport, 8080, 7,
                forwardSeen - 5 * S, forwardSeen, 10, 1000, state, f, LISTENER));
        put(new Abi.CtKey(BACKEND, 8080, natSource, natSport, proto), new Abi.CtEntry(VIP, client, 80, clientPort, 7,
                forwardSeen - 5 * S, replySeen, 20, 30_000, state, (f & ~Abi.CT_ENDED) | Abi.CT_REPLY, LISTENER));
    }

    private void put(Abi.CtKey key, Abi.CtEntry entry) {
        MemorySegment k = into.allocateKey(arena);
        MemorySegment v = into.allocateValue(arena);
        key.writeTo(k);
        entry.writeTo(v);
        into.update(k, v, BpfMap.BPF_ANY);
    }

    private List<Abi.CtKey> keys() {
        List<Abi.CtKey> out = new ArrayList<>();
        conntrack.forEachEntry(1024, (k, v) -> out.add(Abi.CtKey.readFrom(k)));
        return out;
    }

    /**
     * Both flow tables in one sweep: the answered flows' (nlb_conntrack) and the unanswered ones'
     * (nlb_ct_embryonic). An unanswered flow idle past the SYN timeout ends and leaves its table; the
     * live ones of both count.
     */
    @Test
    void aSweepReadsEachFlowTableAndEndsTheIdleFlowsOfEach() {
        try (BpfMap embryonic = BpfMap.create(BpfMap.Type.HASH, "sweep_emb", (int) Abi.CtKey.LAYOUT.byteSize(),
                (int) Abi.CtEntry.LAYOUT.byteSize(), 1024, 0)) {
            flow(40100, Abi.IPPROTO_TCP, Abi.CT_ESTABLISHED, Abi.CT_EVENTS, NOW - 60 * S, NOW - 60 * S, false);
            into = embryonic;
            flow(40101, Abi.IPPROTO_TCP, Abi.CT_SYN, Abi.CT_EVENTS, NOW - 31 * S, NOW - 31 * S, false); // past 30 s
            flow(40102, Abi.IPPROTO_TCP, Abi.CT_SYN, Abi.CT_EVENTS, NOW - 2 * S, NOW - 2 * S, true); // live
            List<Abi.Event> ends = new ArrayList<>();

            ConntrackSweep.Result result = new ConntrackSweep(List.of(conntrack, embryonic), timeouts,
                    io.nodelb.agent.dataplane.FlowTimeouts.DATA_PLANE, 1000).sweep(NOW, ends::add);

            assertThat(result.entries()).isEqualTo(6);
            assertThat(ends).extracting(Abi.Event::sourcePort).containsExactly(40101);
            assertThat(result.deleted()).isEqualTo(2);
            assertThat(result.liveByBackend()).containsExactly(Map.entry(7, 2L));
            assertThat(result.fullNatByAddress()).containsExactly(Map.entry(SNAT, 1L));
            List<Abi.CtKey> left = new ArrayList<>();
            embryonic.forEachEntry(1024, (k, v) -> left.add(Abi.CtKey.readFrom(k)));
            assertThat(left).extracting(Abi.CtKey::sourcePort).containsExactlyInAnyOrder(40102, 8080);
            assertThat(keys()).hasSize(2);
        }
    }

    @Test
    void anIdleFlowWithEventsIsEndedOnceWithBothDirectionsAndBothEntriesGo() {
        flow(40000, Abi.IPPROTO_UDP, Abi.CT_UDP, Abi.CT_EVENTS, NOW - 61 * S, NOW - 62 * S, false);
        List<Abi.Event> ends = new ArrayList<>();

        ConntrackSweep.Result result = sweep().sweep(NOW, ends::add);

        assertThat(result.ended()).isEqualTo(1);
        assertThat(result.deleted()).isEqualTo(2);
        assertThat(keys()).isEmpty();
        Abi.Event end = ends.getFirst();
        assertThat(end.type()).isEqualTo(Abi.EVENT_FLOW_END);
        assertThat(end.reason()).isEqualTo(Abi.END_IDLE);
        assertThat(end.source()).isEqualTo(ip("10.1.0.1"));
        assertThat(end.sourcePort()).isEqualTo(40000);
        assertThat(end.destination()).isEqualTo(VIP);
        assertThat(end.destinationPort()).isEqualTo(80);
        assertThat(end.backend()).isEqualTo(BACKEND);
        assertThat(end.backendPort()).isEqualTo(8080);
        assertThat(end.proto()).isEqualTo(Abi.IPPROTO_UDP);
        assertThat(end.listenerId()).isEqualTo(LISTENER);
        assertThat(end.backendId()).isEqualTo(7);
        assertThat(end.timeNs()).as("the last packet's time").isEqualTo(NOW - 61 * S);
        assertThat(end.timeNs() - end.createdNs()).isEqualTo(5 * S);
        assertThat(List.of(end.packets(), end.bytes(), end.replyPackets(), end.replyBytes()))
                .containsExactly(10L, 1000L, 20L, 30_000L);
        assertThat(sweep().sweep(NOW, ends::add).ended()).as("once").isZero();
    }

    @Test
    void liveFlowsFlowsWithoutEventsAndFlowsTheBackendStillFeedsStay() {
        flow(40001, Abi.IPPROTO_UDP, Abi.CT_UDP, Abi.CT_EVENTS, NOW - 30 * S, NOW - 30 * S, false); // live
        flow(40002, Abi.IPPROTO_UDP, Abi.CT_UDP, 0, NOW - 90 * S, NOW - 90 * S, false); // expired, events off
        flow(40003, Abi.IPPROTO_UDP, Abi.CT_UDP, Abi.CT_EVENTS, NOW - 90 * S, NOW - 2 * S, false); // replies flow
        flow(40004, Abi.IPPROTO_TCP, Abi.CT_ESTABLISHED, Abi.CT_EVENTS, NOW - 600 * S, NOW - 600 * S, true); // < 900 s
        List<Abi.Event> ends = new ArrayList<>();

        ConntrackSweep.Result result = sweep().sweep(NOW, ends::add);

        assertThat(ends).isEmpty();
        assertThat(keys()).hasSize(8);
        assertThat(result.entries()).isEqualTo(8);
        // Live forward entries: 40001, 40004 (40003's forward entry is past its timeout).
        assertThat(result.liveByBackend()).isEqualTo(Map.of(7, 2L));
        assertThat(result.fullNatByAddress()).isEqualTo(Map.of(SNAT, 1L));
    }

    @Test
    void aListenersOwnTimeoutAndAClosingFlowsAreTheDataPlanes() {
        MemorySegment k = arena.allocate(4);
        k.set(ValueLayout.JAVA_INT, 0, LISTENER);
        MemorySegment v = timeouts.allocateValue(arena);
        new Abi.Timeouts(100 * S, 0, 0).writeTo(v);
        timeouts.update(k, v, BpfMap.BPF_ANY);
        flow(40005, Abi.IPPROTO_TCP, Abi.CT_ESTABLISHED, Abi.CT_EVENTS, NOW - 120 * S, NOW - 120 * S, false);
        flow(40006, Abi.IPPROTO_TCP, Abi.CT_CLOSING, Abi.CT_EVENTS, NOW - 11 * S, NOW - 11 * S, false);
        flow(40007, Abi.IPPROTO_TCP, Abi.CT_SYN, Abi.CT_EVENTS, NOW - 20 * S, NOW - 20 * S, false); // < 30 s
        List<Abi.Event> ends = new ArrayList<>();

        sweep().sweep(NOW, ends::add);

        assertThat(ends).extracting(Abi.Event::sourcePort).containsExactlyInAnyOrder(40005, 40006);
        assertThat(keys()).extracting(Abi.CtKey::sourcePort).containsExactlyInAnyOrder(40007, 8080);
    }

    @Test
    void expiredEntriesOfEndedFlowsAreDeletedWithoutAnotherRecord() {
        flow(40008, Abi.IPPROTO_TCP, Abi.CT_CLOSING, Abi.CT_EVENTS | Abi.CT_ENDED, NOW - 20 * S, NOW - 20 * S, true);
        flow(40009, Abi.IPPROTO_TCP, Abi.CT_CLOSING, Abi.CT_EVENTS | Abi.CT_ENDED, NOW - 2 * S, NOW - 2 * S, false);
        List<Abi.Event> ends = new ArrayList<>();

        ConntrackSweep.Result result = sweep().sweep(NOW, ends::add);

        assertThat(ends).isEmpty();
        assertThat(result.deleted()).isEqualTo(2);
        assertThat(keys()).extracting(Abi.CtKey::sourcePort).containsExactlyInAnyOrder(40009, 8080);
    }

    @Test
    void workPerSweepIsBounded() {
        for (int i = 0; i < 50; i++) {
            flow(41000 + i, Abi.IPPROTO_UDP, Abi.CT_UDP, Abi.CT_EVENTS, NOW - 100 * S, NOW - 100 * S, false);
        }
        List<Abi.Event> ends = new ArrayList<>();
        ConntrackSweep bounded = new ConntrackSweep(conntrack, timeouts, io.nodelb.agent.dataplane.FlowTimeouts.DATA_PLANE, 20);

        assertThat(bounded.sweep(NOW, ends::add).ended()).isEqualTo(20);
        assertThat(bounded.sweep(NOW, ends::add).ended()).isEqualTo(20);
        assertThat(bounded.sweep(NOW, ends::add).ended()).isEqualTo(10);
        assertThat(ends).extracting(Abi.Event::sourcePort).doesNotHaveDuplicates().hasSize(50);
        assertThat(keys()).isEmpty();
    }
}
