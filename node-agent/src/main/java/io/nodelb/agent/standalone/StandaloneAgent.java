package io.nodelb.agent.standalone;

import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.SnapshotRejectedException;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.compiler.ModelCompiler;
import io.nodelb.model.compiler.ModelProblemsException;
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
                snapshot.getVersion().substring(0, 12), applier.applied().listeners().size(),
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

    /** Reads the file and compiles it for this node, without touching anything. */
    public static NodeSnapshot snapshotOf(Path config, String nodeName) throws ConfigException {
        ConfigFile.Documents docs = ConfigFile.read(config);
        try {
            return ModelCompiler.compileStandalone(docs.loadBalancers(), docs.targetGroups(), nodeName);
        } catch (ModelProblemsException e) {
            throw new ConfigException(e.problems().stream().map(p -> config.getFileName() + ": " + p).toList());
        }
    }

    public SnapshotApplier applier() {
        return programmer.applier();
    }
}
