package io.nodelb.agent.events;

import io.micrometer.core.instrument.MeterRegistry;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.RingBuffer;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.SnapshotApplier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The agent's flow-event path, in both modes: one platform thread reads the nlb_events ring
 * buffer every 100 ms, and at once when the programs wake it (a quarter of the ring waiting:
 * events.h, ev_submit), and, every sweep interval, runs the
 * conntrack sweep; both hand their records to the {@link EventConsumer}, whose writer thread
 * names them and feeds the access log and the metrics.
 */
public final class FlowEvents implements AutoCloseable {

    /**
     * @param accessLog null: no access log
     * @param sweepInterval how often idle flows are ended (and the active-connection gauges refreshed)
     * @param eventsPerSecond records each CPU may write per second (.rodata cfg_events_per_sec); null: the
     *     data plane's default
     * @param node this node's name, in every line
     */
    public record Settings(AccessLog.Settings accessLog, Duration sweepInterval, Long eventsPerSecond, String node) {
        public static final Duration DEFAULT_SWEEP_INTERVAL = Duration.ofSeconds(10);

        public static Settings defaults(String node) {
            return new Settings(null, DEFAULT_SWEEP_INTERVAL, null, node);
        }
    }

    static final Duration POLL_TIMEOUT = Duration.ofMillis(100);
    /** Flows ended per sweep at most. */
    static final int MAX_ENDS_PER_SWEEP = 65_536;
    private static final System.Logger LOG = System.getLogger(FlowEvents.class.getName());

    private final Settings settings;
    private final SnapshotApplier applier;
    private final AccessLog accessLog;
    private final EventConsumer consumer;
    private final FlowMetrics metrics;
    private final ConntrackSweep sweep;
    private final RingBuffer ring;
    private final Thread poller;
    private volatile boolean running = true;
    /** Live connections by backend id that are not in the flow table (the stream listeners'). */
    private volatile java.util.function.Supplier<java.util.Map<Integer, Long>> alsoLive = java.util.Map::of;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private FlowEvents(Settings settings, BpfDataPlane dataPlane, SnapshotApplier applier, MeterRegistry registry) {
        this.settings = settings;
        this.applier = applier;
        this.accessLog = settings.accessLog() == null ? null : AccessLog.open(settings.accessLog());
        List<EventConsumer.Sink> sinks = new ArrayList<>();
        if (accessLog != null) {
            sinks.add(accessLog::write);
        }
        Names names = new Names(applier::applied, applier::appliedSnapshot, settings.node());
        EventConsumer[] consumerRef = new EventConsumer[1];
        FlowMetrics flowMetrics = null;
        if (registry != null) {
            var limits = dataPlane.limits();
            flowMetrics = new FlowMetrics(registry, dataPlane::eventBudget, () -> consumerRef[0].dropped(),
                    limits.snatPortMax() - limits.snatPortMin() + 1,
                    () -> new double[] {dataPlane.conntrackEntries(), dataPlane.conntrackCapacity()});
            sinks.add(flowMetrics);
        }
        this.metrics = flowMetrics;
        this.consumer = EventConsumer.start(EventConsumer.DEFAULT_CAPACITY, names, sinks);
        consumerRef[0] = consumer;
        this.sweep = new ConntrackSweep(dataPlane.conntrackTables(), dataPlane.map("nlb_timeouts"),
                io.nodelb.agent.dataplane.FlowTimeouts.of(dataPlane.rodata()), MAX_ENDS_PER_SWEEP);
        this.ring = RingBuffer.open(dataPlane.map(BpfDataPlane.EVENTS_MAP), record -> consumer.offer(Abi.Event.readFrom(record)));
        this.poller = Thread.ofPlatform().name("nodelb-flow-events").daemon().unstarted(this::pollLoop);
    }

    /** Starts reading; {@code registry} empty: no metrics (the access log alone). */
    public static FlowEvents start(Settings settings, BpfDataPlane dataPlane, SnapshotApplier applier,
                                   Optional<MeterRegistry> registry) {
        FlowEvents events = new FlowEvents(settings, dataPlane, applier, registry.orElse(null));
        events.poller.start();
        return events;
    }

    /**
     * Queues a record from outside the data plane (a stream listener's connection) for the same
     * access log and metrics; false (and counted) when the queue is full.
     */
    public boolean offer(Abi.Event event) {
        return consumer.offer(event);
    }

    /**
     * Whether records offered go anywhere (an access log or metrics); false: a record from outside
     * the data plane need not be built.
     */
    public boolean delivers() {
        return consumer.hasSinks();
    }

    /** Live connections outside the flow table, added to the active-connection gauges at each sweep. */
    public void countAlso(java.util.function.Supplier<java.util.Map<Integer, Long>> live) {
        this.alsoLive = live;
    }

    private void pollLoop() {
        long nextSweep = System.nanoTime(); // at once: the gauges exist from the start
        int failures = 0;
        while (running) {
            try {
                ring.poll(POLL_TIMEOUT); // returns early only when a quarter of the ring waits
                ring.consume(); // the rest was written without a wakeup: read on this timer
                long now = System.nanoTime();
                if (now - nextSweep >= 0) {
                    sweepNow(now);
                    nextSweep = now + settings.sweepInterval().toNanos();
                }
                failures = 0;
            } catch (RuntimeException e) {
                if (failures++ == 0) {
                    LOG.log(System.Logger.Level.WARNING, "flow events: " + e.getMessage(), e);
                }
                sleep(Math.min(5_000, 100L << Math.min(failures, 6)));
            }
        }
    }

    /** One conntrack sweep: idle ends to the consumer, the live counts to the gauges. */
    private void sweepNow(long now) {
        var applied = applier.applied();
        ConntrackSweep.Result result = sweep.sweep(now, consumer::offer);
        if (metrics != null) {
            java.util.Map<Integer, Long> live = new java.util.HashMap<>(result.liveByBackend());
            alsoLive.get().forEach((id, n) -> live.merge(id, n, Long::sum));
            metrics.update(applied, live, result.fullNatByAddress());
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops polling, lets the writer finish what is queued, closes the access log. Idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        running = false;
        try {
            poller.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        ring.close();
        consumer.close();
        if (accessLog != null) {
            accessLog.close();
        }
    }
}
