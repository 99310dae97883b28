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

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.RingBuffer;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.Protocol;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Flow events through the real programs (bpf/README.md, "Flow events"), read back from the
 * nlb_events ring buffer with {@link RingBuffer}: NEW_FLOW with the flow's tuple, backend and
 * listener; DROP with its reason; one FLOW_END per TCP flow, at the second FIN (whichever side
 * sends it, through XDP or the TC egress program) or at a RST, with both directions' counters;
 * nothing from listeners without events; and the per-CPU budget.
 */
@Privileged
class FlowEventsIT extends DataPlaneFixture {

    private final List<Abi.Event> events = new ArrayList<>();
    private RingBuffer ring;

    static Stream<StandardListener> listeners() {
        return StandardListener.all();
    }

    static Stream<StandardListener> tcpListeners() {
        return StandardListener.tcp();
    }

    @BeforeEach
    void eventsOnForEveryListener() {
        if (ring == null) {
            ring = RingBuffer.open(dataPlane.map(BpfDataPlane.EVENTS_MAP),
                    record -> events.add(Abi.Event.readFrom(record)));
        }
        StandardListener.all().forEach(l -> dataPlane.listenerEvents(l.vip(), l.port(), l.proto(), true));
        ring.consume();
        events.clear();
    }

    @AfterAll
    void closeRing() {
        if (ring != null) {
            ring.close();
        }
    }

    /** The records written since the last call. */
    private List<Abi.Event> written() {
        ring.consume();
        List<Abi.Event> copy = List.copyOf(events);
        events.clear();
        return copy;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void aNewFlowWritesItsTupleBackendAndListener(StandardListener l) {
        Flow flow = l.flow(45001);
        int backendId = dataPlane.predictedBackend(flow);
        Abi.Backend backend = dataPlane.backend(backendId);
        byte[] first = flow.first();
        long before = System.nanoTime();

        assertThat(dataPlane.xdp(first).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).isEqualTo(XDP_PASS);

        List<Abi.Event> written = written();
        assertThat(written).as("one record, for the first packet only").hasSize(1);
        Abi.Event e = written.get(0);
        assertThat(e.type()).isEqualTo(Abi.EVENT_NEW_FLOW);
        assertThat(e.reason()).isZero();
        assertTuple(e, flow);
        assertThat(e.backend()).isEqualTo(backend.address());
        assertThat(e.backendPort()).isEqualTo(backend.port());
        assertThat(e.backendId()).isEqualTo(backendId);
        assertThat(e.listenerId()).isEqualTo(dataPlane.listener(l.vip(), l.port(), l.proto()).id());
        assertThat(e.flags()).isEqualTo(Abi.CT_EVENTS | (l.isFullNat() ? Abi.CT_FULLNAT : 0));
        assertThat(e.packets()).isEqualTo(1);
        assertThat(e.bytes()).isEqualTo(Frames.ipLength(first));
        assertThat(e.replyPackets()).isZero();
        assertThat(e.replyBytes()).isZero();
        assertThat(e.createdNs()).isEqualTo(e.timeNs());
        assertCoarseTime(e.timeNs(), before);

        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        assertThat(forward.flags() & Abi.CT_EVENTS).as("the forward entry carries the listener's bit").isNotZero();
        assertThat(dataPlane.entry(replyKey(forward, flow)).flags() & Abi.CT_EVENTS).as("so does the reply entry")
                .isNotZero();
    }

    /**
     * Records do not wake the reader one by one (events.h, ev_submit): the agent reads on a timer,
     * and is woken only by the record that makes a quarter of the ring wait.
     */
    @Test
    void theReaderIsWokenOnlyOnceAQuarterOfTheRingWaits() {
        StandardListener l = StandardListener.tcp().findFirst().orElseThrow();
        int quarter = Abi.EVENTS_WAKEUP_BYTES / (int) (Abi.Event.LAYOUT.byteSize() + 8); // 8: the ring's record header
        assertThat(ring.poll(Duration.ZERO)).as("nothing waits").isZero(); // and no wakeup is left pending

        assertThat(dataPlane.xdp(l.flow(47000).first()).retval()).isEqualTo(XDP_PASS);
        assertThat(ring.poll(Duration.ofMillis(200))).as("one record waits, unannounced").isZero();
        assertThat(written()).hasSize(1);

        for (int i = 1; i < quarter; i++) {
            assertThat(dataPlane.xdp(l.flow(47000 + i).first()).retval()).isEqualTo(XDP_PASS);
        }
        assertThat(ring.poll(Duration.ofMillis(200))).as("a record short of a quarter of the ring").isZero();
        assertThat(dataPlane.xdp(l.flow(47000 + quarter).first()).retval()).isEqualTo(XDP_PASS);
        long start = System.nanoTime();
        assertThat(ring.poll(Duration.ofSeconds(5))).as("the record that makes a quarter wakes the reader")
                .isEqualTo(quarter);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
        assertThat(events).hasSize(quarter);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void aListenerWithoutEventsWritesNothing(StandardListener l) {
        dataPlane.listenerEvents(l.vip(), l.port(), l.proto(), false);
        Flow flow = l.flow(45002);

        assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_PASS);
        if (l.isTcp()) {
            fromBackend(l, flow, SYN | ACK);
            fromClient(flow, RST | ACK);
        }

        assertThat(written()).isEmpty();
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        assertThat(forward.flags() & (Abi.CT_EVENTS | Abi.CT_ENDED)).isZero();
        assertThat(dataPlane.entry(replyKey(forward, flow)).flags() & Abi.CT_EVENTS).isZero();
    }

    @Test
    void aStatelessResetWritesNothing() {
        Flow flow = StandardListener.tcp().findFirst().orElseThrow().flow(45003);

        assertThat(dataPlane.xdp(flow.forward(RST)).retval()).isEqualTo(XDP_PASS);

        assertThat(written()).isEmpty();
        assertThat(dataPlane.entry(flow.forwardKey())).isNull();
    }

    static Stream<NatMode> modes() {
        return Stream.of(NatMode.DNAT, NatMode.FULL_NAT);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void aDroppedFirstPacketWritesItsReason(NatMode mode) {
        int port = 81;
        dataPlane.apply(Snapshots.snapshot(
                Stream.concat(Snapshots.standardListeners().stream(), Stream.of(Snapshots.listener("void4",
                        Snapshots.VIP4, port, Protocol.TCP, mode, "default/void"))).toList(),
                List.of(Snapshots.web(3), Snapshots.dns(3), Snapshots.group("default/void", List.of()))));
        dataPlane.listenerEvents(Snapshots.VIP4, port, Abi.IPPROTO_TCP, true);
        Flow flow = Flow.tcp(Snapshots.CLIENT4, 45004, Snapshots.VIP4, port);
        long before = System.nanoTime();

        assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_DROP);

        List<Abi.Event> written = written();
        assertThat(written).hasSize(1);
        Abi.Event e = written.get(0);
        assertThat(e.type()).isEqualTo(Abi.EVENT_DROP);
        assertThat(e.reason()).isEqualTo(Abi.Stat.DROP_NO_BACKEND.value());
        assertTuple(e, flow);
        assertThat(e.backend()).isNull();
        assertThat(e.backendPort()).isZero();
        assertThat(e.backendId()).isZero();
        assertThat(e.listenerId()).isEqualTo(dataPlane.listener(Snapshots.VIP4, port, Abi.IPPROTO_TCP).id());
        assertThat(e.flags()).isEqualTo(Abi.CT_EVENTS | (mode == NatMode.FULL_NAT ? Abi.CT_FULLNAT : 0));
        assertThat(List.of(e.packets(), e.bytes(), e.replyPackets(), e.replyBytes())).containsOnly(0L);
        assertCoarseTime(e.timeNs(), before);
    }

    /** Who sends the first FIN. */
    enum FirstFin { CLIENT, BACKEND }

    static Stream<Object[]> closings() {
        return StandardListener.tcp().flatMap(l -> Stream.of(FirstFin.values()).map(f -> new Object[] {l, f}));
    }

    @ParameterizedTest(name = "{0}, first FIN from the {1}")
    @MethodSource("closings")
    void theSecondFinEndsTheFlowOnceWithBothDirectionsCounted(StandardListener l, FirstFin first) {
        Flow flow = l.flow(45005);
        Counted counted = new Counted();
        counted.client(fromClient(flow, SYN));
        counted.backend(fromBackend(l, flow, SYN | ACK));
        counted.client(fromClient(flow, ACK));
        counted.client(fromClient(flow, ACK | PSH));
        counted.backend(fromBackend(l, flow, ACK | PSH));
        assertThat(written()).extracting(Abi.Event::type).containsExactly(Abi.EVENT_NEW_FLOW);

        long before = System.nanoTime();
        if (first == FirstFin.CLIENT) {
            counted.client(fromClient(flow, FIN | ACK));
            assertThat(written()).as("one FIN ends nothing").isEmpty();
            counted.backend(fromBackend(l, flow, FIN | ACK));
        } else {
            counted.backend(fromBackend(l, flow, FIN | ACK));
            assertThat(written()).as("one FIN ends nothing").isEmpty();
            counted.client(fromClient(flow, FIN | ACK));
        }

        List<Abi.Event> written = written();
        assertThat(written).hasSize(1);
        Abi.Event e = written.get(0);
        assertEnd(e, l, flow, Abi.END_FIN, counted);
        assertCoarseTime(e.timeNs(), before);

        // The last ACK, a retransmitted FIN, even a RST: the flow ended once.
        fromClient(flow, ACK);
        fromBackend(l, flow, FIN | ACK);
        fromClient(flow, RST);
        assertThat(written()).isEmpty();
        assertThat(dataPlane.entry(flow.forwardKey()).flags() & Abi.CT_ENDED).isNotZero();
    }

    static Stream<Object[]> resets() {
        return StandardListener.tcp().flatMap(l -> Stream.of(FirstFin.values()).map(f -> new Object[] {l, f}));
    }

    @ParameterizedTest(name = "{0}, RST from the {1}")
    @MethodSource("resets")
    void aResetFromEitherSideEndsTheFlowOnce(StandardListener l, FirstFin from) {
        Flow flow = l.flow(45006);
        Counted counted = new Counted();
        counted.client(fromClient(flow, SYN));
        counted.backend(fromBackend(l, flow, SYN | ACK));
        counted.client(fromClient(flow, ACK | PSH));
        written();

        if (from == FirstFin.CLIENT) {
            counted.client(fromClient(flow, RST | ACK));
        } else {
            counted.backend(fromBackend(l, flow, RST | ACK));
        }

        List<Abi.Event> written = written();
        assertThat(written).hasSize(1);
        assertEnd(written.get(0), l, flow, Abi.END_RST, counted);
        fromBackend(l, flow, RST);
        fromClient(flow, RST);
        assertThat(written()).isEmpty();
    }

    @Test
    void udpFlowsEndOnlyByTheSweep() {
        StandardListener l = StandardListener.all().filter(s -> !s.isTcp()).findFirst().orElseThrow();
        Flow flow = l.flow(45007);

        fromClient(flow, 0);
        fromBackend(l, flow, 0);
        fromClient(flow, 0);

        assertThat(written()).extracting(Abi.Event::type).containsExactly(Abi.EVENT_NEW_FLOW);
    }

    @Test
    void eachCpuWritesAtMostItsBudgetPerSecond() {
        try (LoadedDataPlane limited = LoadedDataPlane.load(LoadedDataPlane.LIMITS,
                Map.of(BpfDataPlane.EVENTS_PER_SEC, 5L))) {
            limited.apply(Snapshots.standard());
            StandardListener l = StandardListener.tcp().findFirst().orElseThrow();
            limited.listenerEvents(l.vip(), l.port(), l.proto(), true);
            List<Abi.Event> seen = new ArrayList<>();
            try (RingBuffer events = RingBuffer.open(limited.map(BpfDataPlane.EVENTS_MAP),
                    r -> seen.add(Abi.Event.readFrom(r)))) {
                // One CPU: the budget is per CPU. Ten new flows well within one second of the first.
                int cpu = OneCpu.pin();
                try {
                    for (int port = 46000; port < 46010; port++) {
                        assertThat(limited.xdp(l.flow(port).first()).retval()).isEqualTo(XDP_PASS);
                    }
                } finally {
                    OneCpu.unpin();
                }
                events.consume();

                assertThat(seen).hasSize(5).extracting(Abi.Event::sourcePort)
                        .containsExactly(46000, 46001, 46002, 46003, 46004);
                assertThat(limited.dataPlane().eventBudget()).isEqualTo(new Abi.EventBudget(5, 5, 0));
                assertThat(windowSent(limited.map(BpfDataPlane.EVENT_BUDGET_MAP), cpu)).isEqualTo(5);
                assertThat(limited.entry(l.flow(46009).forwardKey())).as("the flows themselves are served")
                        .isNotNull();
            }
        }
    }

    // --- helpers -----------------------------------------------------------------------------

    /** Packets and IP bytes per direction, as the programs count them. */
    private static final class Counted {
        long clientPackets;
        long clientBytes;
        long backendPackets;
        long backendBytes;

        void client(byte[] frame) {
            clientPackets++;
            clientBytes += Frames.ipLength(frame);
        }

        void backend(byte[] frame) {
            backendPackets++;
            backendBytes += Frames.ipLength(frame);
        }
    }

    private void assertEnd(Abi.Event e, StandardListener l, Flow flow, int reason, Counted counted) {
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        int backendId = dataPlane.predictedBackend(flow);
        assertThat(e.type()).isEqualTo(Abi.EVENT_FLOW_END);
        assertThat(e.reason()).isEqualTo(reason);
        assertTuple(e, flow);
        assertThat(e.backendId()).isEqualTo(backendId);
        assertThat(e.backend()).isEqualTo(dataPlane.backend(backendId).address());
        assertThat(e.backendPort()).isEqualTo(dataPlane.backend(backendId).port());
        assertThat(e.listenerId()).isEqualTo(dataPlane.listener(l.vip(), l.port(), l.proto()).id());
        assertThat(e.flags()).isEqualTo(Abi.CT_EVENTS | Abi.CT_ENDED | (l.isFullNat() ? Abi.CT_FULLNAT : 0));
        assertThat(e.createdNs()).isEqualTo(forward.createdNs());
        assertThat(e.timeNs()).isGreaterThanOrEqualTo(e.createdNs());
        assertThat(List.of(e.packets(), e.bytes(), e.replyPackets(), e.replyBytes()))
                .as("client -> backend, then backend -> client, this packet included")
                .containsExactly(counted.clientPackets, counted.clientBytes, counted.backendPackets,
                        counted.backendBytes);
        assertThat(forward.flags() & Abi.CT_ENDED).isNotZero();
    }

    private static void assertTuple(Abi.Event e, Flow flow) {
        assertThat(e.source()).isEqualTo(flow.clientAddress());
        assertThat(e.sourcePort()).isEqualTo(flow.clientPort());
        assertThat(e.destination()).isEqualTo(flow.vipAddress());
        assertThat(e.destinationPort()).isEqualTo(flow.vipPort());
        assertThat(e.proto()).isEqualTo(flow.proto());
    }

    /** The programs' coarse clock: CLOCK_MONOTONIC at tick resolution, so at most a tick behind. */
    private static void assertCoarseTime(long timeNs, long before) {
        assertThat(timeNs).isBetween(before - 100_000_000L, System.nanoTime());
    }

    private byte[] fromClient(Flow flow, int tcpFlags) {
        byte[] frame = flow.forward(tcpFlags);
        assertThat(dataPlane.xdp(frame).retval()).isEqualTo(XDP_PASS);
        return frame;
    }

    /** A packet from the flow's backend to where the node sent it: TC egress for DNAT, XDP for FullNAT. */
    private byte[] fromBackend(StandardListener l, Flow flow, int tcpFlags) {
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        byte[] reply = Frames.frame(flow.proto(), tcpFlags, forward.natDestination().getHostAddress(),
                forward.natDestinationPort(), forward.natSource().getHostAddress(), forward.natSourcePort());
        if (l.isFullNat()) {
            assertThat(dataPlane.xdp(reply).retval()).isEqualTo(XDP_PASS);
        } else {
            assertThat(dataPlane.tc(reply).retval()).isEqualTo(TC_ACT_OK);
        }
        return reply;
    }

    private static Abi.CtKey replyKey(Abi.CtEntry forward, Flow flow) {
        return new Abi.CtKey(forward.natDestination(), forward.natDestinationPort(), forward.natSource(),
                forward.natSourcePort(), flow.proto());
    }

    private static long windowSent(BpfMap budget, int cpu) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment values = budget.allocateValue(arena);
            budget.lookup(arena.allocate(ValueLayout.JAVA_INT), values);
            return budget.perCpuValue(values, cpu).get(ValueLayout.JAVA_LONG, 8); // window_sent
        }
    }

    /** Keeps the calling thread on the CPU it runs on (sched_setaffinity of this thread), and lets it go. */
    private static final class OneCpu {
        private static final Linker LINKER = Linker.nativeLinker();
        private static final MethodHandle SCHED_GETCPU = LINKER.downcallHandle(
                LINKER.defaultLookup().find("sched_getcpu").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
        private static final MethodHandle SCHED_SETAFFINITY = LINKER.downcallHandle(
                LINKER.defaultLookup().find("sched_setaffinity").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                        ValueLayout.ADDRESS));
        private static final int MASK_BYTES = 128; // cpu_set_t: 1024 CPUs

        private static final MethodHandle SCHED_GETAFFINITY = LINKER.downcallHandle(
                LINKER.defaultLookup().find("sched_getaffinity").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                        ValueLayout.ADDRESS));
        private static final ThreadLocal<byte[]> SAVED = new ThreadLocal<>();

        /** Pins the calling thread to the CPU it runs on; returns that CPU. */
        static int pin() {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment saved = arena.allocate(MASK_BYTES, 8);
                assertThat((int) SCHED_GETAFFINITY.invokeExact(0, (long) MASK_BYTES, saved)).isZero();
                SAVED.set(saved.toArray(ValueLayout.JAVA_BYTE));
                int cpu = (int) SCHED_GETCPU.invokeExact();
                MemorySegment mask = arena.allocate(MASK_BYTES, 8);
                mask.set(ValueLayout.JAVA_BYTE, cpu / 8, (byte) (1 << (cpu % 8)));
                assertThat((int) SCHED_SETAFFINITY.invokeExact(0, (long) MASK_BYTES, mask)).isZero();
                return cpu;
            } catch (Throwable t) {
                throw new AssertionError("cannot pin the test thread to one CPU", t);
            }
        }

        /** Gives the calling thread the CPUs it had before {@link #pin()}. */
        static void unpin() {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment mask = arena.allocateFrom(ValueLayout.JAVA_BYTE, SAVED.get());
                SAVED.remove();
                assertThat((int) SCHED_SETAFFINITY.invokeExact(0, (long) MASK_BYTES, mask)).isZero();
            } catch (Throwable t) {
                throw new AssertionError("cannot give the test thread its CPUs back", t);
            }
        }
    }
}
