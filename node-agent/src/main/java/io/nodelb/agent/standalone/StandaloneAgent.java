package io.nodelb.agent.standalone;

import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.SnapshotRejectedException;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.compiler.ModelCompiler;
import io.nodelb.model.compiler.ModelProblemsException;
import io.nodelb.model.compiler.Problem;
import java.nio.file.Path;
import java.util.List;

/**
 * The agent without a cluster: desired state comes from a YAML file, goes
 * through the same compiler as the operator's and the same applier as a
 * snapshot pushed over the stream. A file that cannot be used is refused as a
 * whole and the running data plane keeps what it had.
 */
public final class StandaloneAgent {

    private static final System.Logger LOG = System.getLogger(StandaloneAgent.class.getName());

    private final Path config;
    private final String nodeName;
    private final NodeProgrammer programmer;

    public StandaloneAgent(Path config, String nodeName, NodeProgrammer programmer) {
        this.config = config;
        this.nodeName = nodeName;
        this.programmer = programmer;
    }

    /** Reads, checks and programs the file. */
    public synchronized NodeSnapshot load() throws ConfigException {
        return program(snapshotOf(config, nodeName));
    }

    /** Programs a snapshot of the file read earlier (the caller compared its content). */
    public synchronized NodeSnapshot program(NodeSnapshot snapshot) throws ConfigException {
        int writes;
        try {
            writes = programmer.program(snapshot);
        } catch (SnapshotRejectedException e) {
            throw new ConfigException(List.of(config.getFileName() + ": " + e.getMessage()));
        }
        SnapshotApplier applier = programmer.applier();
        LOG.log(System.Logger.Level.INFO, "programmed version {0}: {1} listeners, {2} backends, {3} map writes",
                snapshot.getVersion().substring(0, 12), applier.applied().listenerCount(),
                applier.applied().backends().size(), writes);
        return snapshot;
    }

    /** Everything {@link #load} checks, with nothing loaded or attached yet. */
    public static void check(Path config, String nodeName, DesiredState.Limits limits) throws ConfigException {
        NodeSnapshot snapshot = snapshotOf(config, nodeName);
        try {
            new SnapshotApplier(null, DesiredState.Host.system(), limits).plan(snapshot);
        } catch (SnapshotRejectedException e) {
            throw new ConfigException(List.of(config.getFileName() + ": " + e.getMessage()));
        }
    }

    /**
     * Reads the file and compiles it for this node, without touching anything. Every problem is
     * reported at once: the valid documents are compiled even when others were refused, so a wrong
     * TargetGroup name shows up beside a field error.
     */
    public static NodeSnapshot snapshotOf(Path config, String nodeName) throws ConfigException {
        ConfigFile.Documents docs = ConfigFile.read(config);
        List<String> problems = new java.util.ArrayList<>(docs.problems());
        try {
            NodeSnapshot snapshot = ModelCompiler.compileInputs(docs.loadBalancers(), docs.targetGroups(),
                    nodeName);
            if (problems.isEmpty()) {
                return snapshot;
            }
        } catch (ModelProblemsException e) {
            for (Problem p : e.problems()) {
                if (!refersToRefused(p, docs.refused())) {
                    String where = docs.labels().getOrDefault(p.kind() + " " + p.name(),
                            config.getFileName() + " " + p.kind() + " " + p.name());
                    problems.add(where + ": " + p.field() + ": " + p.message() + " (" + p.reason() + ")");
                }
            }
        }
        throw new ConfigException(problems);
    }

    /** A TargetGroup that was refused is reported once, not again as "not found" by its LoadBalancers. */
    private static boolean refersToRefused(Problem p, java.util.Set<String> refused) {
        return (Problem.TARGET_GROUP_NOT_FOUND.equals(p.reason()) || Problem.TARGET_GROUP_INVALID.equals(p.reason()))
                && refused.stream().anyMatch(r -> r.startsWith("TargetGroup ") && p.message().contains(
                        r.substring("TargetGroup ".length()) + " "));
    }

    public SnapshotApplier applier() {
        return programmer.applier();
    }
}
