package io.nodelb.agent.dataplane;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.TreeSet;

/**
 * The one path from a snapshot to the kernel, whatever its source (a file or the operator):
 * plan it, attach the programs to every interface it needs, program the maps, then let go of
 * the interfaces it no longer needs. A snapshot that cannot be programmed changes nothing.
 * The node's health reconciler changes weights through here too ({@link #reweigh}): one writer
 * of the maps, whatever moves them.
 */
public final class NodeProgrammer {

    private final DataPlane dataPlane;
    private final SnapshotApplier applier;
    /** The weights the node's health reconciler wants, laid over every snapshot programmed. */
    private WeightOverlay overlay = WeightOverlay.NONE;
    /**
     * The overlay the maps hold, over the applied snapshot. An adopted version is believed only
     * when the maps equal its plan (no overlay), so this starts empty.
     */
    private WeightOverlay programmedOverlay = WeightOverlay.NONE;

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
        if (snapshot.getVersion().equals(applier.appliedVersion()) && overlay.equals(programmedOverlay)) {
            return 0;
        }
        return programWith(snapshot, overlay, true);
    }

    /**
     * Lays {@code weights} over the snapshot programmed now and programs the difference (only the
     * tables of groups whose weights changed). The applied version stays the snapshot's: the
     * overlay is the node's own judgement, not another desired state.
     *
     * @return the map writes it took
     */
    public synchronized int reweigh(WeightOverlay weights) {
        overlay = weights;
        NodeSnapshot desired = applier.appliedSnapshot().orElse(null);
        if (desired == null || weights.equals(programmedOverlay)) {
            return 0;
        }
        return programWith(desired, weights, false);
    }

    /** @param attach false for other weights only: the interfaces (and host settings) stay as they are */
    private int programWith(NodeSnapshot snapshot, WeightOverlay weights, boolean attach) {
        SnapshotApplier.Planned planned = applier.prepare(snapshot, weights.applyTo(snapshot));
        if (!attach && planned.state().interfaces().equals(applier.applied().interfaces())) {
            int writes = applier.apply(planned);
            programmedOverlay = weights;
            return writes;
        }
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
        programmedOverlay = weights;
        return writes;
    }

    public SnapshotApplier applier() {
        return applier;
    }

    public DataPlane dataPlane() {
        return dataPlane;
    }
}
