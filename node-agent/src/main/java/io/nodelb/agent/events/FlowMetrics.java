package io.nodelb.agent.events;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Set;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The metrics of flow events (docs/metrics.md): per-backend connection durations from FLOW_END
 * records, active connections per backend and FullNAT ports in use from the conntrack sweep,
 * records read by type and records lost by reason. Per-backend meters exist for the backends
 * applied now (the {@code backend} label the other per-backend counters use): the labels stay
 * as bounded as the backends.
 */
public final class FlowMetrics implements EventConsumer.Sink {

    /** The histogram's buckets (Prometheus {@code le}), from a short request to an hour-long session. */
    static final Duration[] DURATION_BUCKETS = {
        Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
        Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
        Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30),
        Duration.ofSeconds(60), Duration.ofMinutes(2), Duration.ofMinutes(5), Duration.ofMinutes(10),
        Duration.ofMinutes(30), Duration.ofHours(1)};

    /** What the data plane's nlb_ev_budget says, summed over CPUs. */
    public interface Budget {
        Abi.EventBudget read();
    }

    private final MeterRegistry registry;
    private final Map<String, Timer> durations = new ConcurrentHashMap<>();
    private final Map<String, Gauge> active = new HashMap<>(); // guarded by this
    private final Map<InetAddress, Gauge> ports = new HashMap<>(); // guarded by this
    private final Map<Integer, Counter> byType = new HashMap<>();
    private volatile Map<String, Long> activeNow = Map.of();
    private volatile Map<InetAddress, Long> portsNow = Map.of();
    private final int portRange;
    // Held here: Micrometer keeps the objects of function meters only weakly, so a lambda given to it
    // alone would be collected and its series read NaN.
    private final LongSupplier queueDrops;
    private final Supplier<double[]> conntrackFill;
    private volatile Abi.EventBudget budget = new Abi.EventBudget(0, 0, 0);
    private volatile long budgetReadAt;

    /**
     * @param budget the data plane's counts of records written and not written
     * @param queueDrops records the agent dropped (its queue full)
     * @param portRange FullNAT source ports per SNAT address
     * @param conntrackFill the flow table's entries and capacity, for the fill ratio
     */
    public FlowMetrics(MeterRegistry registry, Budget budget, LongSupplier queueDrops, int portRange,
                       Supplier<double[]> conntrackFill) {
        this.registry = registry;
        this.portRange = portRange;
        this.queueDrops = queueDrops;
        this.conntrackFill = conntrackFill;
        for (int type : new int[] {Abi.EVENT_NEW_FLOW, Abi.EVENT_FLOW_END, Abi.EVENT_DROP}) {
            String name = switch (type) {
                case Abi.EVENT_NEW_FLOW -> "new_flow";
                case Abi.EVENT_FLOW_END -> "flow_end";
                default -> "drop";
            };
            byType.put(type, Counter.builder("nodelb_flow_events").tag("type", name)
                    .description("Flow event records the agent read, by type (FLOW_END includes the idle ends"
                            + " of its conntrack sweep)").register(registry));
        }
        FunctionCounter.builder("nodelb_flow_events_written", this, m -> m.budget(budget).sent())
                .description("Records the data plane wrote to the ring buffer").register(registry);
        FunctionCounter.builder("nodelb_flow_events_lost", this, m -> m.budget(budget).overBudget())
                .tag("reason", "over_budget")
                .description("Records not delivered: over a CPU's per-second budget, ring buffer full, or the"
                        + " agent's queue full").register(registry);
        FunctionCounter.builder("nodelb_flow_events_lost", this, m -> m.budget(budget).ringFull())
                .tag("reason", "ring_full")
                .description("Records not delivered: over a CPU's per-second budget, ring buffer full, or the"
                        + " agent's queue full").register(registry);
        FunctionCounter.builder("nodelb_flow_events_lost", this, m -> m.queueDrops.getAsLong())
                .tag("reason", "agent_queue_full")
                .description("Records not delivered: over a CPU's per-second budget, ring buffer full, or the"
                        + " agent's queue full").register(registry);
        Gauge.builder("nodelb_conntrack_fill_ratio", this, m -> {
                    double[] v = m.conntrackFill.get();
                    return v[1] > 0 ? v[0] / v[1] : 0;
                })
                .description("nodelb_conntrack_entries / nodelb_conntrack_max_entries").register(registry);
        Gauge.builder("nodelb_fullnat_port_range_size", this, m -> m.portRange)
                .description("FullNAT source ports per SNAT address").register(registry);
    }

    /** The budget map is read at most once a second, whatever the number of meters scraped. */
    private Abi.EventBudget budget(Budget source) {
        long now = System.nanoTime();
        if (budgetReadAt == 0 || now - budgetReadAt > 1_000_000_000L) {
            budget = source.read();
            budgetReadAt = now;
        }
        return budget;
    }

    @Override
    public void accept(FlowRecord record, boolean endOfBatch) {
        Counter counter = byType.get(record.event().type());
        if (counter != null) {
            counter.increment();
        }
        String backend = record.backendKey();
        // A backend key is only known for a backend applied now (Names): the label stays bounded.
        if (record.event().type() == Abi.EVENT_FLOW_END && backend != null) {
            durations.computeIfAbsent(backend, b -> Timer.builder("nodelb_backend_connection_duration")
                    .description("Durations of the backend's flows that ended (FIN, RST or idle; idle ones up to"
                            + " their last packet), from flow events")
                    .tag("backend", b).serviceLevelObjectives(DURATION_BUCKETS).register(registry))
                    .record(Duration.ofNanos(Math.max(0, record.event().timeNs() - record.event().createdNs())));
        }
    }

    /**
     * After a conntrack sweep: the backends applied now (meters of the others go away), their live
     * flows by id, and the live FullNAT flows per SNAT address.
     */
    public synchronized void update(DesiredState applied, Map<Integer, Long> liveByBackend,
                                    Map<InetAddress, Long> fullNatByAddress) {
        Map<String, Long> now = new HashMap<>();
        applied.backends().forEach((id, b) -> now.put(DesiredState.backendKey(b.address(), b.port()),
                liveByBackend.getOrDefault(id, 0L)));
        activeNow = now;
        durations.entrySet().removeIf(e -> !now.containsKey(e.getKey()) && remove(e.getValue()));
        active.entrySet().removeIf(e -> !now.containsKey(e.getKey()) && remove(e.getValue()));
        now.keySet().forEach(key -> active.computeIfAbsent(key, k -> Gauge.builder(
                        "nodelb_backend_active_connections", this, m -> m.activeNow.getOrDefault(k, 0L))
                .description("Live flows of the backend in conntrack (forward entries within their idle"
                        + " timeout and not closing), at the last conntrack sweep").tag("backend", k)
                .register(registry)));
        portsNow = Map.copyOf(fullNatByAddress);
        // One series per SNAT address of the FullNAT listeners applied (0 when no flow), and any address flows use.
        Set<InetAddress> addresses = new HashSet<>(fullNatByAddress.keySet());
        applied.listeners().values().stream().filter(l -> (l.flags() & Abi.LISTENER_FULLNAT) != 0
                && l.snatAddress() != null).forEach(l -> addresses.add(l.snatAddress()));
        ports.entrySet().removeIf(e -> !addresses.contains(e.getKey()) && remove(e.getValue()));
        addresses.forEach(address -> ports.computeIfAbsent(address, a -> Gauge.builder(
                        "nodelb_fullnat_ports_in_use", this, m -> m.portsNow.getOrDefault(a, 0L))
                .description("Live FullNAT flows of the SNAT address, one source port each, at the last conntrack"
                        + " sweep").tag("snat_address", a.getHostAddress().toLowerCase(Locale.ROOT))
                .register(registry)));
    }

    private boolean remove(Meter meter) {
        registry.remove(meter);
        return true;
    }
}
