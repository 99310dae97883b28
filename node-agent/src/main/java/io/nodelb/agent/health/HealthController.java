package io.nodelb.agent.health;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.nodelb.agent.dataplane.WeightOverlay;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.SourceRoute;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The node's effective-weight reconciliation: one {@link GroupReconciler} per target group that
 * asks for health checks, a breaker or least-connections; TCP and HTTP checks of every backend on
 * one selector thread ({@link SelectorChecks}), HTTPS checks on a virtual thread per backend (all
 * jittered, so checks do not march in step); and one loop that, whenever something changed
 * (and at least every {@link #TICK} for ramp steps and breaker timers), combines every group's
 * factors into one {@link WeightOverlay} and hands it to the one writer of the maps.
 */
public final class HealthController implements AutoCloseable {
    static final Duration TICK = Duration.ofMillis(200);
    /** How often the data plane's passive signals are read for the breakers. */
    static final Duration SIGNALS_EVERY = Duration.ofSeconds(1);
    private static final System.Logger LOG = System.getLogger(HealthController.class.getName());

    /** Where the weights go: the node's programmer, which plans and writes the difference. */
    public interface WeightWriter {
        int reweigh(WeightOverlay weights);
    }

    /** One backend as the node sees it, for the node report and logs. */
    public record BackendStatus(String group, InetAddress address, int port, boolean healthy, String reason,
                                int configured, int effective, Breaker.State breaker, long lastCheckNanos) {}

    private final Supplier<Optional<NodeSnapshot>> desired;
    private final WeightWriter writer;
    private final Supplier<Map<String, Long>> liveFlows;
    private final PassiveSignals signals;
    private final MeterRegistry registry;
    private final Semaphore wake = new Semaphore(0);
    private final Map<String, GroupReconciler> groups = new ConcurrentHashMap<>();
    /** How each backend's checks stop: a virtual thread's interrupt (HTTPS), or a selector job's cancel. */
    private final Map<GroupReconciler.Member, Runnable> checks = new ConcurrentHashMap<>();
    /** Checks of backends added in this step: started once its weights are written. */
    private final List<Runnable> unstartedChecks = new ArrayList<>();
    /** TCP and HTTP checks, all on one selector thread; made with the first such check. */
    private SelectorChecks selectorChecks;
    private final Map<GroupReconciler.Member, List<Meter>> meters = new ConcurrentHashMap<>();
    private final Map<GroupReconciler, Meter> groupMeters = new ConcurrentHashMap<>();
    private final Map<String, Map<Boolean, InetAddress>> sources = new ConcurrentHashMap<>();
    private final Map<String, PassiveSignals.Counts> lastSignals = new HashMap<>();
    private volatile boolean closed;
    private long signalsReadAt = Long.MIN_VALUE / 2;
    private String seenVersion;
    private WeightOverlay written = WeightOverlay.NONE;
    /** Each group's weights as of the last step: when none is new, there is nothing to compare or write. */
    private final Map<String, EffectiveWeights.Result> weighed = new HashMap<>();
    /** Backends that were out when the agent before stopped; believed until the first snapshot with groups. */
    private Set<String> outAtStart = Set.of();
    private Thread loop;
    /** How long the last reweigh took (plan and map writes), for the benchmark and logs. */
    private volatile long lastReweighNanos;

    /**
     * @param desired   the snapshot programmed now (without the node's weights)
     * @param liveFlows live flows per backend key, counted in conntrack (for least-connections)
     * @param registry  where per-backend meters go; null: none
     */
    public HealthController(Supplier<Optional<NodeSnapshot>> desired, WeightWriter writer,
                            Supplier<Map<String, Long>> liveFlows, PassiveSignals signals, MeterRegistry registry) {
        this.desired = desired;
        this.writer = writer;
        this.liveFlows = liveFlows;
        this.signals = signals;
        this.registry = registry;
        if (registry != null) {
            Gauge.builder("nodelb_health_reweigh_seconds", this, c -> c.lastReweighNanos / 1e9)
                    .description("How long the last change of effective weights took to plan and write")
                    .register(registry);
        }
    }

    /**
     * Backend keys that the data plane this agent adopted gave no slot in any table (the agent
     * before had taken them out): in groups with a health check they start unhealthy, and come
     * back at their first passing check, instead of taking new flows until enough checks fail.
     * Call before {@link #start}.
     */
    public HealthController seedOut(Set<String> keys) {
        outAtStart = Set.copyOf(keys);
        return this;
    }

    public HealthController start() {
        loop = Thread.ofVirtual().name("nodelb-health").start(() -> {
            while (!closed) {
                try {
                    wake.tryAcquire(TICK.toNanos(), TimeUnit.NANOSECONDS);
                    wake.drainPermits();
                    step(System.nanoTime());
                } catch (InterruptedException e) {
                    return;
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "health reconciliation failed: " + e.getMessage(), e);
                }
            }
        });
        return this;
    }

    /**
     * One round: follow the snapshot, count flows and signals when due, write the weights if they
     * changed. New backends' checks start only after that, so the weights written for a snapshot
     * are the ones before any of its checks ran, whatever the checks' timing.
     */
    synchronized void step(long now) {
        try {
            reweigh(now);
        } finally {
            unstartedChecks.forEach(Runnable::run);
            unstartedChecks.clear();
        }
    }

    private void reweigh(long now) {
        Optional<NodeSnapshot> snapshot = desired.get();
        String version = snapshot.map(NodeSnapshot::getVersion).orElse("");
        if (!version.equals(seenVersion)) {
            follow(snapshot.orElse(NodeSnapshot.getDefaultInstance()));
            seenVersion = version;
        }
        leastConnections(now);
        passiveSignals(now);
        Map<String, Map<String, Integer>> weights = new LinkedHashMap<>();
        boolean same = groups.size() == weighed.size();
        for (GroupReconciler group : groups.values()) {
            synchronized (group) {
                boolean wasOpen = group.failOpen();
                EffectiveWeights.Result result = group.weigh(now);
                same &= weighed.get(group.name) == result;
                weighed.put(group.name, result);
                weights.put(group.name, result.weights());
                if (group.failOpen() != wasOpen) {
                    say(group.failOpen() ? "target group " + group.name + " fails open: every backend is out,"
                            + " the configured weights stay" : "target group " + group.name + " no longer fails open");
                }
            }
        }
        weighed.keySet().retainAll(groups.keySet());
        if (same) {
            return; // every group's weights are the ones written last
        }
        WeightOverlay overlay = new WeightOverlay(weights);
        if (!overlay.equals(written)) {
            long start = System.nanoTime();
            try {
                writer.reweigh(overlay);
            } catch (RuntimeException e) {
                weighed.clear(); // the next step tries again
                throw e;
            }
            lastReweighNanos = System.nanoTime() - start;
            written = overlay;
        }
        for (GroupReconciler group : groups.values()) {
            synchronized (group) {
                group.written(weights.get(group.name));
            }
        }
    }

    /** Reconcilers for the groups of {@code snapshot}; checks started and stopped to match. */
    private void follow(NodeSnapshot snapshot) {
        Map<String, TargetGroup> wanted = new LinkedHashMap<>();
        snapshot.getTargetGroupsList().forEach(g -> wanted.put(g.getName(), g));
        sources.clear();
        sources.putAll(sourceAddresses(snapshot));
        groups.values().removeIf(group -> {
            TargetGroup g = wanted.get(group.name);
            GroupReconciler.Settings settings = g == null ? null : GroupReconciler.Settings.of(g);
            if (settings != null && settings.equals(group.settings)) {
                return false;
            }
            synchronized (group) {
                group.members().forEach(this::forget);
            }
            Meter failOpen = groupMeters.remove(group);
            if (failOpen != null) {
                registry.remove(failOpen);
            }
            return true;
        });
        wanted.forEach((name, g) -> {
            GroupReconciler.Settings settings = GroupReconciler.Settings.of(g);
            if (settings == null) {
                return;
            }
            GroupReconciler group = groups.computeIfAbsent(name, n -> {
                GroupReconciler created = new GroupReconciler(n, settings);
                if (registry != null) {
                    groupMeters.put(created, Gauge.builder("nodelb_group_fail_open", created, x -> x.failOpen() ? 1 : 0)
                            .description("1 while every backend of the group is out: it keeps its configured weights")
                            .tag("group", n).register(registry));
                }
                return created;
            });
            List<GroupReconciler.Member> before;
            List<GroupReconciler.Member> added;
            synchronized (group) {
                before = group.members();
                added = group.sync(g);
                if (group.settings.check() != null) {
                    added.stream().filter(m -> outAtStart.contains(m.key)).forEach(m -> m.health.assumeOut(
                            "out when this agent started (the previous agent's weights); not checked yet"));
                }
            }
            before.stream().filter(m -> !group.has(m)).forEach(this::forget);
            added.forEach(m -> remember(group, m));
        });
        if (!wanted.isEmpty()) {
            outAtStart = Set.of(); // only the first snapshot's backends are the adopted ones
        }
    }

    private void remember(GroupReconciler group, GroupReconciler.Member m) {
        if (registry != null) {
            List<Meter> list = new ArrayList<>();
            list.add(gauge("nodelb_backend_healthy", "1 while its active checks say healthy", group, m,
                    x -> x.healthy ? 1 : 0));
            list.add(gauge("nodelb_backend_effective_weight",
                    "The weight its group's table gives it now (health, ramp-up, breaker, least-connections)",
                    group, m, x -> x.effective));
            list.add(gauge("nodelb_backend_configured_weight", "Its weight as configured", group, m,
                    x -> x.configured));
            list.add(gauge("nodelb_backend_breaker_state", "Its circuit breaker: 0 closed, 1 open, 2 half-open",
                    group, m, x -> x.breakerState.ordinal()));
            list.add(gauge("nodelb_backend_last_check_seconds", "How long its last active check took", group, m,
                    x -> x.lastCheckNanos / 1e9));
            meters.put(m, list);
        }
        if (group.settings.check() != null) {
            Probe probe = new Probe(group.settings.check());
            Timer latency = registry == null ? null : Timer.builder("nodelb_health_check")
                    .description("Active health checks, by group and result").tag("group", group.name)
                    .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofSeconds(30)).register(registry);
            unstartedChecks.add(() -> {
                if (SelectorChecks.handles(group.settings.check())) {
                    checks.put(m, selectorChecks().start(probe, m.address, m.port, () -> source(group, m),
                            result -> onResult(group, m, result, latency))::cancel);
                } else {
                    checks.put(m, Thread.ofVirtual().name("nodelb-check-" + group.name + "-" + m.key)
                            .start(() -> checkLoop(group, m, probe, latency))::interrupt);
                }
            });
        }
    }

    private Gauge gauge(String name, String description, GroupReconciler group, GroupReconciler.Member m,
                        java.util.function.ToDoubleFunction<GroupReconciler.Member> value) {
        return Gauge.builder(name, m, value).description(description).tag("group", group.name)
                .tag("backend", m.key).register(registry);
    }

    private synchronized SelectorChecks selectorChecks() {
        if (selectorChecks == null) {
            selectorChecks = new SelectorChecks();
        }
        return selectorChecks;
    }

    private InetAddress source(GroupReconciler group, GroupReconciler.Member m) {
        return sources.getOrDefault(group.name, Map.of()).get(m.address instanceof Inet4Address);
    }

    private void forget(GroupReconciler.Member m) {
        Runnable stop = checks.remove(m);
        if (stop != null) {
            stop.run();
        }
        List<Meter> list = meters.remove(m);
        if (list != null) {
            list.forEach(registry::remove);
        }
    }

    private void checkLoop(GroupReconciler group, GroupReconciler.Member m, Probe probe, Timer latency) {
        Duration interval = Probe.interval(group.settings.check());
        try {
            // A random start within one interval, then jittered intervals: checks of many backends spread out.
            Thread.sleep(Duration.ofNanos(ThreadLocalRandom.current().nextLong(Math.max(1, interval.toNanos()))));
            while (!closed && !Thread.currentThread().isInterrupted()) {
                Probe.Result result = probe.run(m.address, m.port, source(group, m));
                if (closed || Thread.currentThread().isInterrupted()) {
                    return; // stopped while it ran: its failure says nothing about the backend
                }
                if (!onResult(group, m, result, latency)) {
                    return;
                }
                // Up to 15 % early, never late: two checks are at most one interval apart.
                double jitter = 0.85 + 0.15 * ThreadLocalRandom.current().nextDouble();
                Thread.sleep(Duration.ofNanos((long) (interval.toNanos() * jitter)));
            }
        } catch (InterruptedException e) {
            // stopped: the backend or its group went away
        }
    }

    /** One check's result into its group; false when the backend has left it. */
    private boolean onResult(GroupReconciler group, GroupReconciler.Member m, Probe.Result result, Timer latency) {
        if (latency != null) {
            latency.record(result.nanos(), TimeUnit.NANOSECONDS);
        }
        boolean changed;
        synchronized (group) {
            if (!group.has(m)) {
                return false;
            }
            boolean wasHealthy = m.health.healthy();
            changed = group.onCheck(m, result, System.nanoTime());
            if (wasHealthy != m.health.healthy()) {
                say("backend " + m.key + " of target group " + group.name + " is "
                        + (m.health.healthy() ? "healthy" : "unhealthy (" + result.reason() + ")"));
            }
        }
        if (changed) {
            wake.release();
        }
        return true;
    }

    private void leastConnections(long now) {
        boolean due = groups.values().stream().anyMatch(g -> g.flowsDue(now));
        if (!due) {
            return;
        }
        Map<String, Long> flows = liveFlows.get();
        for (GroupReconciler group : groups.values()) {
            if (group.flowsDue(now)) {
                synchronized (group) {
                    group.onFlows(flows, now);
                }
            }
        }
    }

    private void passiveSignals(long now) {
        // A read costs a lookup per backend: only for breakers, at most once per SIGNALS_EVERY.
        if (now - signalsReadAt < SIGNALS_EVERY.toNanos()
                || groups.values().stream().noneMatch(g -> g.settings.breaker() != null)) {
            return;
        }
        signalsReadAt = now;
        Map<String, PassiveSignals.Counts> counts = signals.read();
        if (counts.isEmpty()) {
            return;
        }
        counts.forEach((key, c) -> {
            PassiveSignals.Counts before = lastSignals.put(key, c);
            if (before == null) {
                return; // the first read is a baseline
            }
            long ok = Math.max(0, c.successes() - before.successes());
            long failed = Math.max(0, c.failures() - before.failures());
            for (GroupReconciler group : groups.values()) {
                synchronized (group) {
                    GroupReconciler.Member m = group.member(key);
                    if (m != null) {
                        group.onSignals(m, ok, failed, now);
                    }
                }
            }
        });
    }

    /** FullNAT listeners' explicit source addresses, per group and family (true: IPv4). */
    static Map<String, Map<Boolean, InetAddress>> sourceAddresses(NodeSnapshot snapshot) {
        Map<String, Map<Boolean, InetAddress>> out = new HashMap<>();
        for (Listener l : snapshot.getListenersList()) {
            if (l.getNatMode() != NatMode.FULL_NAT || l.getSnatAddress().isEmpty()) {
                continue;
            }
            InetAddress snat;
            try {
                snat = InetAddress.getByAddress(l.getSnatAddress().toByteArray());
            } catch (UnknownHostException e) {
                continue;
            }
            List<String> served = new ArrayList<>(List.of(l.getTargetGroup()));
            l.getSourceRoutesList().stream().map(SourceRoute::getTargetGroup).forEach(served::add);
            served.forEach(g -> out.computeIfAbsent(g, k -> new HashMap<>()).put(snat instanceof Inet4Address, snat));
        }
        return out;
    }

    /** Every checked backend's state now, by group then backend. */
    public List<BackendStatus> status() {
        List<BackendStatus> out = new ArrayList<>();
        for (GroupReconciler group : groups.values()) {
            synchronized (group) {
                for (GroupReconciler.Member m : group.members()) {
                    out.add(new BackendStatus(group.name, m.address, m.port, m.health.healthy(), m.health.reason(),
                            m.configured, m.effective, m.breakerState, m.lastCheckNanos));
                }
            }
        }
        out.sort(java.util.Comparator.comparing(BackendStatus::group));
        return out;
    }

    /** Groups failing open now. */
    public List<String> failOpenGroups() {
        return groups.values().stream().filter(GroupReconciler::failOpen).map(g -> g.name).sorted().toList();
    }

    public long lastReweighNanos() {
        return lastReweighNanos;
    }

    private static void say(String line) {
        System.out.println("nodelb-agent: " + line);
        System.out.flush();
    }

    /** Stops the checks and the loop, waiting (2 s at most) for a write of weights under way to end. */
    @Override
    public void close() {
        closed = true;
        checks.values().forEach(Runnable::run);
        checks.clear();
        synchronized (this) {
            if (selectorChecks != null) {
                selectorChecks.close();
            }
        }
        if (loop != null && loop != Thread.currentThread()) {
            loop.interrupt();
            try {
                loop.join(Duration.ofSeconds(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
