package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState.Limits;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * Desired state in, minimal map diff out. Writes are ordered make-before-break,
 * so a packet arriving mid-update always finds a consistent path: backends
 * before the tables that point at them, tables before the groups and listeners
 * that lead to them; removals run in the opposite order. If a write fails, the
 * previous state is written back, so a snapshot is either applied or not at all.
 *
 * <p>After a restart the applier starts from what the maps hold ({@link #adopting}), not
 * from nothing: the first snapshot then removes whatever the previous agent programmed
 * that is no longer wanted, and rewrites nothing that is unchanged. The ids of names are
 * kept in a state file, written before the maps, so an agent killed mid-apply leaves ids
 * that the next one completes the apply with.
 */
public final class SnapshotApplier {

    private final DataPlaneMaps maps;
    private final DesiredState.Host host;
    private final Limits limits;
    private DesiredState.Ids ids;
    // Read by report and metrics threads while the apply thread writes them.
    private volatile DesiredState applied = DesiredState.empty();
    private volatile String appliedVersion = "";
    /** The snapshot applied last (or adopted, checked against the maps); null: none. */
    private volatile NodeSnapshot appliedSnapshot;
    /** Where ids and the last applied snapshot are kept across restarts; null: nowhere. */
    private final Path stateDirectory;

    public SnapshotApplier(DataPlaneMaps maps, DesiredState.Host host, Limits limits) {
        this(maps, host, limits, null);
    }

    private SnapshotApplier(DataPlaneMaps maps, DesiredState.Host host, Limits limits, Path stateDirectory) {
        this.maps = maps;
        this.host = host;
        this.limits = limits;
        this.ids = new DesiredState.Ids(limits);
        this.stateDirectory = stateDirectory;
    }

    /**
     * An applier that takes over a data plane holding {@code programmed}: the ids come from
     * the state directory, and the version of the last snapshot applied there is believed
     * only when that snapshot, planned again, equals what the maps hold exactly.
     */
    public static SnapshotApplier adopting(DataPlaneMaps maps, DesiredState.Host host, Limits limits,
                                           DesiredState programmed, Path stateDirectory) {
        SnapshotApplier applier = new SnapshotApplier(maps, host, limits, stateDirectory);
        DesiredState.Ids ids;
        try {
            ids = DesiredState.Ids.fromEntries(limits, StateFiles.read(stateDirectory.resolve(IDS_FILE)));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "ignoring the saved ids (" + e.getMessage()
                    + "); every name gets a new id");
            ids = new DesiredState.Ids(limits);
        }
        applier.applied = programmed;
        applier.appliedSnapshot = applier.verifiedSnapshot(programmed, ids);
        applier.appliedVersion = applier.appliedSnapshot == null ? "" : applier.appliedSnapshot.getVersion();
        ids.reserveProgrammed(programmed);
        applier.ids = ids;
        return applier;
    }

    private static final System.Logger LOG = System.getLogger(SnapshotApplier.class.getName());
    private static final String IDS_FILE = "ids.properties";
    private static final String SNAPSHOT_FILE = "applied-snapshot.pb";

    /** The saved snapshot if it is exactly what is programmed, else null. */
    private NodeSnapshot verifiedSnapshot(DesiredState programmed, DesiredState.Ids ids) {
        Path file = stateDirectory.resolve(SNAPSHOT_FILE);
        try {
            if (!Files.exists(file)) {
                return null;
            }
            NodeSnapshot saved = NodeSnapshot.parseFrom(Files.readAllBytes(file));
            return DesiredState.of(saved, host, limits, ids.copy()).sameAs(programmed) ? saved : null;
        } catch (IOException | RuntimeException e) {
            return null; // unreadable or no longer valid here: the next snapshot is applied in full diff
        }
    }

    /** Checks a snapshot against this node without changing anything. */
    public DesiredState plan(NodeSnapshot snapshot) {
        return DesiredState.of(snapshot, host, limits, ids.copy());
    }

    /**
     * Programs a snapshot.
     *
     * @return the number of map writes it took (0 when nothing changed)
     * @throws SnapshotRejectedException when it cannot be programmed here; nothing changed
     */
    public int apply(NodeSnapshot snapshot) {
        DesiredState.Ids nextIds = ids.copy();
        DesiredState next = DesiredState.of(snapshot, host, limits, nextIds);
        CountingMaps counting = new CountingMaps(maps);
        saveIds(nextIds); // before the maps: a killed agent's successor completes this apply with the same ids
        try {
            transition(counting, applied, next);
        } catch (RuntimeException e) {
            // Written entries are a mix of old and new: write the old state back over them.
            try {
                transition(maps, next, applied);
                saveIds(ids);
            } catch (RuntimeException rollback) {
                e.addSuppressed(rollback);
            }
            throw e;
        }
        nextIds.releaseUnnamed(); // what a previous agent left is gone from the maps now
        applied = next;
        ids = nextIds;
        appliedVersion = snapshot.getVersion();
        appliedSnapshot = snapshot;
        saveSnapshot(snapshot);
        return counting.writes;
    }

    private void saveIds(DesiredState.Ids which) {
        if (stateDirectory != null) {
            StateFiles.write(stateDirectory.resolve(IDS_FILE), which.toEntries());
        }
    }

    private void saveSnapshot(NodeSnapshot snapshot) {
        if (stateDirectory == null) {
            return;
        }
        Path file = stateDirectory.resolve(SNAPSHOT_FILE);
        Path tmp = stateDirectory.resolve(SNAPSHOT_FILE + ".tmp");
        try {
            Files.write(tmp, snapshot.toByteArray());
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            // Only costs a full diff on the next start.
            LOG.log(System.Logger.Level.WARNING, "cannot save the applied snapshot to " + file + ": " + e.getMessage());
        }
    }

    public DesiredState applied() {
        return applied;
    }

    public String appliedVersion() {
        return appliedVersion;
    }

    /** The snapshot programmed now, if known (after a restart: only when it matched the maps). */
    public java.util.Optional<NodeSnapshot> appliedSnapshot() {
        return java.util.Optional.ofNullable(appliedSnapshot);
    }

    /** Rewrites every map from {@code from} to {@code to}, touching only what differs. */
    static void transition(DataPlaneMaps maps, DesiredState from, DesiredState to) {
        // 1. make: backends, then tables and groups, then routes, timeouts and listeners, then the port filters.
        to.backends().forEach((id, b) -> {
            if (!b.equals(from.backends().get(id))) {
                maps.putBackend(id, b);
            }
        });
        to.tables().forEach((group, table) -> writeTableDiff(maps, group, from.tables().get(group), table));
        putChanged(to.groups(), from.groups(), maps::putGroup);
        putChanged(to.routes(), from.routes(), maps::putRoute);
        putChanged(to.timeouts(), from.timeouts(), maps::putTimeouts);
        putChanged(to.listeners(), from.listeners(), maps::putListener);
        // A port stays open while either state needs it, until the break step below.
        writePorts(maps, PortFilter.Direction.INGRESS, from.ingressPorts(), to.ingressPorts(), true);
        writePorts(maps, PortFilter.Direction.EGRESS, from.egressPorts(), to.egressPorts(), true);

        // 2. break: what only the old state had, from the entry points inwards.
        from.listeners().keySet().stream().filter(k -> !to.listeners().containsKey(k)).forEach(maps::deleteListener);
        from.routes().keySet().stream().filter(k -> !to.routes().containsKey(k)).forEach(maps::deleteRoute);
        from.timeouts().keySet().stream().filter(k -> !to.timeouts().containsKey(k)).forEach(maps::deleteTimeouts);
        from.groups().keySet().stream().filter(k -> !to.groups().containsKey(k)).forEach(maps::deleteGroup);
        writePorts(maps, PortFilter.Direction.INGRESS, from.ingressPorts(), to.ingressPorts(), false);
        writePorts(maps, PortFilter.Direction.EGRESS, from.egressPorts(), to.egressPorts(), false);
        from.backends().keySet().stream().filter(k -> !to.backends().containsKey(k)).forEach(maps::deleteBackend);
    }

    private static <K, V> void putChanged(Map<K, V> to, Map<K, V> from, java.util.function.BiConsumer<K, V> put) {
        to.forEach((k, v) -> {
            if (!Objects.equals(v, from.get(k))) {
                put.accept(k, v);
            }
        });
    }

    /** Writes the runs of slots that changed, each run in one call. */
    private static void writeTableDiff(DataPlaneMaps maps, int group, int[] old, int[] next) {
        int i = 0;
        while (i < next.length) {
            if (old != null && old[i] == next[i]) {
                i++;
                continue;
            }
            int start = i;
            while (i < next.length && (old == null || old[i] != next[i])) {
                i++;
            }
            maps.putTableSlots(group, start, Arrays.copyOfRange(next, start, i));
        }
    }

    private static void writePorts(DataPlaneMaps maps, PortFilter.Direction direction,
                                   PortFilter from, PortFilter to, boolean union) {
        for (int w = 0; w < PortFilter.WORDS; w++) {
            long before = from.word(w);
            long after = to.word(w);
            if (before == after) {
                continue;
            }
            // make: open the union; break: narrow to the new set (the union was written before).
            if (union) {
                maps.putPortWord(direction, w, before | after);
            } else if ((before | after) != after) {
                maps.putPortWord(direction, w, after);
            }
        }
    }

    /** Counts writes so a caller can see that an unchanged snapshot costs nothing. */
    private static final class CountingMaps implements DataPlaneMaps {
        private final DataPlaneMaps delegate;
        int writes;

        CountingMaps(DataPlaneMaps delegate) {
            this.delegate = delegate;
        }

        @Override public void putBackend(int id, Abi.Backend b) { writes++; delegate.putBackend(id, b); }
        @Override public void deleteBackend(int id) { writes++; delegate.deleteBackend(id); }
        @Override public void putTableSlots(int g, int from, int[] ids) { writes++; delegate.putTableSlots(g, from, ids); }
        @Override public void putGroup(int id, Abi.Group g) { writes++; delegate.putGroup(id, g); }
        @Override public void deleteGroup(int id) { writes++; delegate.deleteGroup(id); }
        @Override public void putRoute(Abi.RouteKey k, int g) { writes++; delegate.putRoute(k, g); }
        @Override public void deleteRoute(Abi.RouteKey k) { writes++; delegate.deleteRoute(k); }
        @Override public void putTimeouts(int id, Abi.Timeouts t) { writes++; delegate.putTimeouts(id, t); }
        @Override public void deleteTimeouts(int id) { writes++; delegate.deleteTimeouts(id); }
        @Override public void putListener(Abi.ListenerKey k, Abi.Listener l) { writes++; delegate.putListener(k, l); }
        @Override public void deleteListener(Abi.ListenerKey k) { writes++; delegate.deleteListener(k); }
        @Override public void putPortWord(PortFilter.Direction d, int w, long bits) { writes++; delegate.putPortWord(d, w, bits); }
    }
}
