package io.nodelb.agent.cluster;

import com.google.protobuf.ByteString;
import io.nodelb.agent.AgentRuntime;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.lifecycle.Drain;
import io.nodelb.agent.health.Breaker;
import io.nodelb.agent.health.HealthController;
import io.nodelb.dataplane.v1alpha1.BackendFlows;
import io.nodelb.dataplane.v1alpha1.BackendHealth;
import io.nodelb.dataplane.v1alpha1.BreakerState;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;

/**
 * {@code nodelb-agent cluster}: the data plane of this node, programmed from the operator's
 * snapshots through the same programmer as a file, with node reports going back.
 */
public final class ClusterAgent {

    private ClusterAgent() {}

    /** Runs until SIGTERM; returns the exit code. */
    public static int run(ClusterOptions options) {
        DesiredState.Limits limits = options.maxBackends() > 0
                ? DesiredState.Limits.defaults().withMaxBackends(options.maxBackends())
                : DesiredState.Limits.defaults();
        AgentRuntime.Settings settings = new AgentRuntime.Settings(options.pinPath(), options.stateDir(),
                options.metricsPort(), options.adminAddress(), options.uninstallOnStop(), limits, options.procSys(),
                options.events(), options.xdpForward(), options.streamSplice());
        return AgentRuntime.run(settings, running -> {
            SnapshotApplier applier = running.applier();
            System.out.println("nodelb-agent: node " + options.nodeName() + ", data plane pinned under "
                    + running.dataPlane().pinDirectory() + " (programs " + running.dataPlane().programTags() + "), "
                    + (applier.appliedVersion().isEmpty() ? "no version adopted"
                            : "adopted version " + applier.appliedVersion())
                    + "; dialing the operator at " + options.operator());
            System.out.flush();
            // The cluster's word on draining this node comes with each snapshot (after a restart,
            // with the adopted one: the operator does not resend a version the agent has).
            applier.appliedSnapshot().ifPresent(s -> clusterDrain(running.drain(), s));
            // A drain is obeyed even when the rest of the snapshot cannot be programmed (a NACK).
            SnapshotSink sink = SnapshotSink.of(applier::appliedVersion, snapshot -> {
                clusterDrain(running.drain(), snapshot);
                program(running.programmer(), snapshot, options);
            });
            // SIGTERM ends the stream first; the data plane keeps serving for the next agent.
            Reports reports = new Reports(running::liveFlowsByBackend, applier, running.drain(), running.health());
            ControlChannel channel = ControlChannel.start(options, sink, reports::next);
            running.onStop(channel::close);
            running.metrics().ifPresent(registry -> ClusterMetrics.register(registry, channel::state));
            running.awaitStop();
            return 0;
        });
    }

    private static void clusterDrain(Drain drain, NodeSnapshot snapshot) {
        if (drain.cluster(snapshot.getDraining())) {
            System.out.println(snapshot.getDraining()
                    ? "nodelb-agent: the cluster drains this node: readiness answers 503, every flow is still served"
                    : "nodelb-agent: the cluster undrained this node");
            System.out.flush();
        }
    }

    private static void program(NodeProgrammer programmer, NodeSnapshot snapshot, ClusterOptions options) {
        String before = programmer.applier().appliedVersion();
        int writes = programmer.program(snapshot);
        if (!before.equals(programmer.applier().appliedVersion())) {
            System.out.println("nodelb-agent: programmed version " + snapshot.getVersion() + " from operator "
                    + options.operator() + " (" + writes + " map writes)");
            System.out.flush();
        }
    }

    /**
     * What the node sees: live flows per programmed backend, from conntrack and the stream
     * listeners' connections (what a drain waits for). A conntrack scan
     * reads the whole table (up to a million entries), so it runs every {@link #FLOWS_WHILE_DRAINING}
     * while a backend drains (the operator follows its connections down to zero) and every
     * {@link #FLOWS_OTHERWISE} else. The channel fills in the applied version.
     */
    static final class Reports {
        static final Duration FLOWS_WHILE_DRAINING = Duration.ofSeconds(2);
        static final Duration FLOWS_OTHERWISE = Duration.ofSeconds(30);

        private final java.util.function.Supplier<Map<Integer, Long>> liveFlows;
        private final SnapshotApplier applier;
        private final Drain drain;
        private final HealthController health;
        private Map<Integer, Long> flows = Map.of();
        private long scannedAt;
        private boolean scanned;

        /** @param liveFlows live flows per backend id: the flow table's and the stream connections */
        Reports(java.util.function.Supplier<Map<Integer, Long>> liveFlows, SnapshotApplier applier, Drain drain,
                HealthController health) {
            this.liveFlows = liveFlows;
            this.applier = applier;
            this.drain = drain;
            this.health = health;
        }

        synchronized NodeReport next() {
            Duration every = anyDraining() ? FLOWS_WHILE_DRAINING : FLOWS_OTHERWISE;
            if (!scanned || System.nanoTime() - scannedAt >= every.toNanos()) {
                flows = liveFlows.get();
                scannedAt = System.nanoTime();
                scanned = true;
            }
            NodeReport.Builder report = NodeReport.newBuilder().setDraining(drain.draining());
            applier.applied().backends().entrySet().stream()
                    .sorted(Comparator.comparing(e -> DesiredState.backendKey(e.getValue().address(),
                            e.getValue().port())))
                    .forEach(e -> report.addBackendFlows(flowsOf(e.getValue(), flows.getOrDefault(e.getKey(), 0L))));
            if (health != null) {
                // A latency changes with every check: reported rounded up to a power of two
                // microseconds, so a report is sent again for a real change, not for every check.
                health.status().forEach(s -> report.addHealth(BackendHealth.newBuilder().setTargetGroup(s.group())
                        .setAddress(ByteString.copyFrom(s.address().getAddress())).setPort(s.port())
                        .setHealthy(s.healthy()).setReason(s.reason()).setEffectiveWeight(s.effective())
                        .setConfiguredWeight(s.configured()).setBreaker(breaker(s.breaker()))
                        .setLastCheckMicros(roundedMicros(s.lastCheckNanos()))));
                report.addAllFailOpenGroups(health.failOpenGroups());
            }
            return report.build();
        }

        private boolean anyDraining() {
            return applier.appliedSnapshot().map(s -> s.getTargetGroupsList().stream()
                    .anyMatch(g -> g.getBackendsList().stream().anyMatch(b -> b.getState() == BackendState.DRAINING)))
                    .orElse(false);
        }
    }

    /** 0 stays 0 (not checked); else the power of two at or above the latency in microseconds. */
    static long roundedMicros(long nanos) {
        long micros = (nanos + 999) / 1000;
        return micros <= 1 ? micros : Long.highestOneBit(micros - 1) << 1;
    }

    private static BreakerState breaker(Breaker.State state) {
        return switch (state) {
            case CLOSED -> BreakerState.BREAKER_CLOSED;
            case OPEN -> BreakerState.BREAKER_OPEN;
            case HALF_OPEN -> BreakerState.BREAKER_HALF_OPEN;
        };
    }

    private static BackendFlows flowsOf(Abi.Backend backend, long flows) {
        return BackendFlows.newBuilder().setAddress(ByteString.copyFrom(backend.address().getAddress()))
                .setPort(backend.port()).setFlows(flows).build();
    }
}
