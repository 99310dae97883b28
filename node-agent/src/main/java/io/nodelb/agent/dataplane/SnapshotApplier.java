package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState.Limits;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * Desired state in, minimal map diff out. Writes are ordered make-before-break,
 * so a packet arriving mid-update always finds a consistent path: backends
 * before the tables that point at them, tables before the groups and listeners
 * that lead to them; removals run in the opposite order. If a write fails, the
 * previous state is written back, so a snapshot is either applied or not at all.
 */
public final class SnapshotApplier {

    private final DataPlaneMaps maps;
    private final DesiredState.Host host;
    private final Limits limits;
    private DesiredState.Ids ids;
    private DesiredState applied = DesiredState.empty();
    private String appliedVersion = "";

    public SnapshotApplier(DataPlaneMaps maps, DesiredState.Host host, Limits limits) {
        this.maps = maps;
        this.host = host;
        this.limits = limits;
        this.ids = new DesiredState.Ids(limits);
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
        try {
            transition(counting, applied, next);
        } catch (RuntimeException e) {
            // Written entries are a mix of old and new: write the old state back over them.
            try {
                transition(maps, next, applied);
            } catch (RuntimeException rollback) {
                e.addSuppressed(rollback);
            }
            throw e;
        }
        applied = next;
        ids = nextIds;
        appliedVersion = snapshot.getVersion();
        return counting.writes;
    }

    public DesiredState applied() {
        return applied;
    }

    public String appliedVersion() {
        return appliedVersion;
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
