package io.nodelb.agent.cluster;

import com.google.protobuf.ByteString;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.AgentLock;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.lifecycle.AdminServer;
import io.nodelb.agent.lifecycle.Drain;
import io.nodelb.agent.lifecycle.Signals;
import io.nodelb.agent.metrics.MetricsServer;
import io.nodelb.dataplane.v1alpha1.BackendFlows;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

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
        CountDownLatch stopped = new CountDownLatch(1);
        var stateDir = options.stateDir() != null ? options.stateDir() : BpfDataPlane.stateDirectoryFor(options.pinPath());
        // What the state directory holds is read and planned while the programs load.
        var saved = SnapshotApplier.Saved.readInBackground(stateDir, DesiredState.Host.system(), limits);
        try (BpfDataPlane dataPlane = BpfDataPlane.load(options.pinPath(), stateDir, limits, Map.of())) {
            SnapshotApplier applier = SnapshotApplier.adopting(dataPlane, saved, DesiredState.Host.system(), limits);
            NodeProgrammer programmer = new NodeProgrammer(dataPlane, applier);
            System.out.println("nodelb-agent: node " + options.nodeName() + ", data plane pinned under "
                    + dataPlane.pinDirectory() + " (programs " + dataPlane.programTags() + "), "
                    + (applier.appliedVersion().isEmpty() ? "no version adopted"
                            : "adopted version " + applier.appliedVersion())
                    + "; dialing the operator at " + options.operator());
            System.out.flush();
            SnapshotSink sink = SnapshotSink.of(applier::appliedVersion, snapshot -> program(programmer, snapshot,
                    options));
            Drain drain = Drain.system();
            Signals.handleDrain(drain);
            ControlChannel channel = ControlChannel.start(options, sink, () -> report(dataPlane, applier, drain));
            try (MetricsServer metrics = options.metricsPort() > 0
                    ? MetricsServer.start(options.metricsPort(), dataPlane, applier, drain) : null;
                 AdminServer admin = options.adminAddress() != null
                         ? AdminServer.start(options.adminAddress(), drain) : null) {
                // SIGTERM finishes: the stream ends, the data plane keeps serving for the next agent.
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    channel.close();
                    if (options.uninstallOnStop()) {
                        dataPlane.uninstall();
                    } else {
                        dataPlane.close();
                    }
                    stopped.countDown();
                }, "nodelb-shutdown"));
                stopped.await();
            }
        } catch (AgentLock.AgentRunningException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            System.err.println("nodelb-agent: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
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
     * What the node sees: live flows per programmed backend, from conntrack. The channel fills in
     * the applied version.
     */
    static NodeReport report(BpfDataPlane dataPlane, SnapshotApplier applier, Drain drain) {
        Map<Integer, Long> flows = dataPlane.liveFlowsByBackend();
        NodeReport.Builder report = NodeReport.newBuilder().setDraining(drain.draining());
        applier.applied().backends().entrySet().stream()
                .sorted(Comparator.comparing(e -> DesiredState.backendKey(e.getValue().address(), e.getValue().port())))
                .forEach(e -> report.addBackendFlows(flowsOf(e.getValue(), flows.getOrDefault(e.getKey(), 0L))));
        return report.build();
    }

    private static BackendFlows flowsOf(Abi.Backend backend, long flows) {
        return BackendFlows.newBuilder().setAddress(ByteString.copyFrom(backend.address().getAddress()))
                .setPort(backend.port()).setFlows(flows).build();
    }
}
