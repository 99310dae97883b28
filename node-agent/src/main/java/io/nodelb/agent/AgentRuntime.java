package io.nodelb.agent;

import io.nodelb.agent.dataplane.AgentLock;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.LayoutMigration;
import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.XdpForward;
import io.nodelb.agent.events.FlowEvents;
import io.nodelb.agent.health.HealthController;
import io.nodelb.agent.health.PassiveSignals;
import io.nodelb.agent.lifecycle.AdminServer;
import io.nodelb.agent.lifecycle.Capabilities;
import io.nodelb.agent.lifecycle.Drain;
import io.nodelb.agent.lifecycle.Signals;
import io.nodelb.agent.metrics.MetricsServer;
import io.nodelb.agent.stream.StreamService;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

/**
 * What every mode of the agent shares, whatever its snapshots' source: the data plane loaded
 * and adopted, one programmer, metrics and probes, the admin endpoint, drain signals, and
 * SIGTERM (finish: the data plane keeps serving, unless told to uninstall).
 */
public final class AgentRuntime {

    private AgentRuntime() {}

    /**
     * @param stateDir null: the default of the pin path
     * @param adminAddress null: no admin endpoint
     * @param procSys where the host's sysctls are (/proc/sys, or the host's mounted elsewhere in a container)
     * @param events flow events: the access log, the conntrack sweep, the per-CPU budget
     * @param xdpForward whether translated packets may be sent on from XDP (lib/fastpath.h)
     * @param streamSplice whether stream listeners splice their sockets in the kernel (else relay)
     */
    public record Settings(Path pinPath, Path stateDir, int metricsPort, InetSocketAddress adminAddress,
                           boolean uninstallOnStop, DesiredState.Limits limits, Path procSys,
                           FlowEvents.Settings events, XdpForward.Mode xdpForward, boolean streamSplice) {
        /** Stream listeners relayed in user space (the splice is opt-in: docs/stream-listeners.md, "Limits"). */
        public Settings(Path pinPath, Path stateDir, int metricsPort, InetSocketAddress adminAddress,
                        boolean uninstallOnStop, DesiredState.Limits limits, Path procSys,
                        FlowEvents.Settings events, XdpForward.Mode xdpForward) {
            this(pinPath, stateDir, metricsPort, adminAddress, uninstallOnStop, limits, procSys, events, xdpForward,
                    false);
        }

        /** With the XDP fast path's default, {@code off}. */
        public Settings(Path pinPath, Path stateDir, int metricsPort, InetSocketAddress adminAddress,
                        boolean uninstallOnStop, DesiredState.Limits limits, Path procSys,
                        FlowEvents.Settings events) {
            this(pinPath, stateDir, metricsPort, adminAddress, uninstallOnStop, limits, procSys, events,
                    XdpForward.Mode.DEFAULT);
        }

        /** With the flow events' defaults (no access log) on a node named after the host. */
        public Settings(Path pinPath, Path stateDir, int metricsPort, InetSocketAddress adminAddress,
                        boolean uninstallOnStop, DesiredState.Limits limits, Path procSys) {
            this(pinPath, stateDir, metricsPort, adminAddress, uninstallOnStop, limits, procSys,
                    FlowEvents.Settings.defaults(""));
        }

        /** The .rodata settings the data plane is loaded with: the fast path's switch, the flow-event budget when one is set. */
        Map<String, Long> rodata() {
            Map<String, Long> out = new java.util.HashMap<>();
            out.put(XdpForward.RODATA, xdpForward.rodata());
            if (events.eventsPerSecond() != null) {
                out.put(BpfDataPlane.EVENTS_PER_SEC, events.eventsPerSecond());
            }
            return Map.copyOf(out);
        }
    }

    /** A source of snapshots (a file, the operator), run until the agent is stopped. */
    public interface Mode {
        /** @return the exit code */
        int run(Running running) throws Exception;
    }

    /** The running agent, as a mode sees it. */
    public static final class Running {
        private final BpfDataPlane dataPlane;
        private final NodeProgrammer programmer;
        private final DesiredState found;
        private final Drain drain;
        private final CountDownLatch stopped = new CountDownLatch(1);
        private final List<Runnable> onStop = new CopyOnWriteArrayList<>();
        private volatile MeterRegistry metrics;
        private volatile HealthController health;
        private volatile FlowEvents events;
        /** Live stream-listener connections by backend id (the agent's own sockets, not in the flow table). */
        private volatile java.util.function.Supplier<Map<Integer, Long>> streamConnections = Map::of;

        private Running(BpfDataPlane dataPlane, NodeProgrammer programmer, DesiredState found, Drain drain) {
            this.dataPlane = dataPlane;
            this.programmer = programmer;
            this.found = found;
            this.drain = drain;
        }

        public BpfDataPlane dataPlane() {
            return dataPlane;
        }

        public NodeProgrammer programmer() {
            return programmer;
        }

        public SnapshotApplier applier() {
            return programmer.applier();
        }

        public Drain drain() {
            return drain;
        }

        /**
         * Live flows per backend id, what least-connections, maxConnections and the node report
         * count: the flow table's (a scan of it) and the stream listeners' connections.
         */
        public Map<Integer, Long> liveFlowsByBackend() {
            return withStreams(dataPlane.liveFlowsByBackend(), streamConnections.get());
        }

        /** Whether the agent found nothing programmed when it started (a first start, not an adoption). */
        public boolean startedBare() {
            return found.sameAs(DesiredState.empty());
        }

        /** Where a mode registers metrics of its own; empty when the agent serves none (no --metrics-port). */
        public Optional<MeterRegistry> metrics() {
            return Optional.ofNullable(metrics);
        }

        /** The node's effective-weight reconciliation (health checks, ramp-up, breaker, least-connections). */
        public HealthController health() {
            return health;
        }

        /**
         * Removes the data plane (a mode that programmed nothing leaves nothing behind), after
         * stopping what reads its maps.
         */
        public void uninstall() {
            FlowEvents reading = events;
            if (reading != null) {
                reading.close();
            }
            dataPlane.uninstall();
        }

        /** Runs before the data plane is let go at SIGTERM (e.g. ending the control stream). */
        public void onStop(Runnable action) {
            onStop.add(action);
        }

        public boolean isStopped() {
            return stopped.getCount() == 0;
        }

        public void awaitStop() throws InterruptedException {
            stopped.await();
        }
    }

    /** The flow table's live flows per backend id with the stream connections added. */
    static Map<Integer, Long> withStreams(Map<Integer, Long> flows, Map<Integer, Long> streams) {
        Map<Integer, Long> out = new java.util.HashMap<>(flows);
        streams.forEach((id, n) -> out.merge(id, n, Long::sum));
        return out;
    }

    /** Live flows per backend key (ids the applied state no longer has are left out). */
    static Map<String, Long> liveFlowsByKey(Map<Integer, Long> byId, DesiredState applied) {
        var backends = applied.backends();
        Map<String, Long> out = new java.util.HashMap<>();
        byId.forEach((id, flows) -> {
            var b = backends.get(id);
            if (b != null) {
                out.put(DesiredState.backendKey(b.address(), b.port()), flows);
            }
        });
        return out;
    }

    /**
     * Backends the adopted maps hold but no group's table gives a slot: out (weight 0) when the
     * agent before stopped, for health, a breaker, least-connections or a drain. A backend in
     * several groups counts as out only when it is out of all of them.
     */
    static java.util.Set<String> outOfEveryTable(DesiredState adopted) {
        java.util.Set<Integer> slotted = new java.util.HashSet<>();
        adopted.tables().values().forEach(table -> {
            for (int id : table) {
                slotted.add(id);
            }
        });
        java.util.Set<String> in = new java.util.HashSet<>();
        java.util.Set<String> out = new java.util.HashSet<>();
        adopted.backends().forEach((id, b) ->
                (slotted.contains(id) ? in : out).add(DesiredState.backendKey(b.address(), b.port())));
        out.removeAll(in);
        return out;
    }

    /**
     * The data plane's passive signals as the breaker reads them: a flow the backend reset or whose
     * SYN went unanswered is a failure, every other new flow a success.
     */
    static Map<String, PassiveSignals.Counts> passiveSignals(DataPlane dataPlane, SnapshotApplier applier) {
        Map<String, PassiveSignals.Counts> out = new java.util.HashMap<>();
        dataPlane.backendCounters(applier.applied()).forEach((key, c) -> {
            long failures = c.resets() + c.unansweredSyns();
            out.put(key, new PassiveSignals.Counts(Math.max(0, c.newFlows() - failures), failures));
        });
        return out;
    }

    public static int run(Settings settings, Mode mode) {
        Path stateDir = settings.stateDir() != null ? settings.stateDir()
                : BpfDataPlane.stateDirectoryFor(settings.pinPath());
        // What the state directory holds is read and planned while the programs load.
        var saved = SnapshotApplier.Saved.readInBackground(stateDir, DesiredState.Host.system(), settings.limits());
        try (BpfDataPlane dataPlane = BpfDataPlane.load(settings.pinPath(), stateDir, settings.procSys(),
                settings.limits(), settings.rodata())) {
            SnapshotApplier applier = SnapshotApplier.adopting(dataPlane, saved, DesiredState.Host.system(),
                    settings.limits());
            DesiredState found = applier.applied();
            Running running = new Running(dataPlane, new NodeProgrammer(dataPlane, applier), found, Drain.system());
            Signals.handleDrain(running.drain);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                running.onStop.forEach(Runnable::run);
                if (settings.uninstallOnStop()) {
                    dataPlane.uninstall();
                } else {
                    dataPlane.close();
                }
                running.stopped.countDown();
            }, "nodelb-shutdown"));
            try (MetricsServer metrics = settings.metricsPort() > 0
                    ? MetricsServer.start(settings.metricsPort(), dataPlane, applier, running.drain) : null;
                 AdminServer admin = settings.adminAddress() != null
                         ? AdminServer.start(settings.adminAddress(), running.drain) : null) {
                running.metrics = metrics == null ? null : metrics.registry();
                if (running.metrics != null) {
                    dataPlane.forward().bindMetrics(running.metrics);
                }
                // A veth peer's GRO or XDP, which decide whether redirects into it are sent, may change at any time.
                var recheck = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                        Thread.ofPlatform().daemon().name("nodelb-xdp-forward").factory());
                if (dataPlane.forward().enabled()) {
                    recheck.scheduleWithFixedDelay(dataPlane::recheckForward, 5, 5, java.util.concurrent.TimeUnit.SECONDS);
                }
                running.onStop(recheck::shutdownNow);
                try (HealthController health = new HealthController(applier::appliedSnapshot,
                        running.programmer::reweigh, () -> liveFlowsByKey(running.liveFlowsByBackend(), applier.applied()), () -> passiveSignals(dataPlane, applier),
                        running.metrics).seedOut(outOfEveryTable(found)).start()) {
                    running.health = health;
                    running.onStop(health::close);
                    try (FlowEvents events = FlowEvents.start(settings.events(), dataPlane, applier,
                            Optional.ofNullable(running.metrics))) {
                        running.events = events;
                        running.onStop(events::close);
                        // Without an access log or metrics, a stream connection's records (TCP_INFO reads) go nowhere.
                        java.util.function.Consumer<io.nodelb.agent.bpf.Abi.Event> streamEvents =
                                events.delivers() ? events::offer : null;
                        try (StreamService streams = StreamService.start(dataPlane, applier, running.metrics, stateDir,
                                settings.streamSplice(), streamEvents)) {
                            events.countAlso(streams::liveByBackend);
                            running.streamConnections = streams::liveByBackend;
                            running.onStop(streams::close);
                            return mode.run(running);
                        }
                    }
                }
            }
        } catch (AgentLock.AgentRunningException | LayoutMigration.Refused | IOException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        } catch (Exception e) {
            System.err.println("nodelb-agent: " + e);
            Capabilities.explain(e).forEach(line -> System.err.println("nodelb-agent: " + line));
            return 1;
        }
    }
}
