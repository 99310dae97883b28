package io.nodelb.agent.dataplane;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.TreeSet;

/**
 * The one path from a snapshot to the kernel, whatever its source (a file or the operator):
 * plan it, attach the programs to every interface it needs, program the maps, then let go of
 * the interfaces it no longer needs. A snapshot that cannot be programmed changes nothing.
 */
public final class NodeProgrammer {

    private final DataPlane dataPlane;
    private final SnapshotApplier applier;

    public NodeProgrammer(DataPlane dataPlane, SnapshotApplier applier) {
        this.dataPlane = dataPlane;
        this.applier = applier;
    }

    /**
     * Programs {@code snapshot}; nothing happens when its version is the one programmed.
     *
     * @return the map writes it took
     * @throws SnapshotRejectedException naming what cannot be programmed here; the previous
     *     snapshot stays programmed
     */
    public synchronized int program(NodeSnapshot snapshot) {
        if (snapshot.getVersion().equals(applier.appliedVersion())) {
            return 0;
        }
        SnapshotApplier.Planned planned = applier.prepare(snapshot);
        // New interfaces are attached before the maps point at them; old ones are let go after.
        var interfaces = new TreeSet<>(applier.applied().interfaces());
        interfaces.addAll(planned.state().interfaces());
        dataPlane.attach(interfaces);
        int writes;
        try {
            writes = applier.apply(planned);
        } catch (RuntimeException e) {
            dataPlane.attach(applier.applied().interfaces());
            throw e;
        }
        dataPlane.attach(planned.state().interfaces());
        return writes;
    }

    public SnapshotApplier applier() {
        return applier;
    }

    public DataPlane dataPlane() {
        return dataPlane;
    }
}
