package io.nodelb.agent.dataplane;

import io.nodelb.agent.dataplane.DesiredState.BackendEntry;
import io.nodelb.agent.dataplane.DesiredState.GroupEntry;
import io.nodelb.agent.dataplane.DesiredState.ListenerEntry;
import io.nodelb.agent.dataplane.DesiredState.ListenerKey;
import io.nodelb.agent.dataplane.DesiredState.RouteKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A fake of the BPF maps: their contents as plain collections, plus a log of every write. */
final class InMemoryMaps implements DataPlaneMaps {
    final Map<Integer, BackendEntry> backends = new HashMap<>();
    final Map<Integer, int[]> tables = new HashMap<>();
    final Map<Integer, GroupEntry> groups = new HashMap<>();
    final Map<RouteKey, Integer> routes = new HashMap<>();
    final Map<ListenerKey, ListenerEntry> listeners = new HashMap<>();
    final long[][] ports = new long[2][PortFilter.WORDS];
    final List<String> log = new ArrayList<>();
    private final int tableSize;
    /** Throws on the n-th write from now (1-based); 0 = never. */
    int failOnWrite;

    InMemoryMaps(int tableSize) {
        this.tableSize = tableSize;
    }

    private void write(String what) {
        log.add(what);
        if (failOnWrite > 0 && --failOnWrite == 0) {
            throw new IllegalStateException("injected failure at " + what);
        }
    }

    @Override public void putBackend(int id, BackendEntry b) { write("putBackend " + id); backends.put(id, b); }
    @Override public void deleteBackend(int id) { write("deleteBackend " + id); backends.remove(id); }
    @Override public void putGroup(int id, GroupEntry g) { write("putGroup " + id); groups.put(id, g); }
    @Override public void deleteGroup(int id) { write("deleteGroup " + id); groups.remove(id); }
    @Override public void putRoute(RouteKey k, int g) { write("putRoute " + k); routes.put(k, g); }
    @Override public void deleteRoute(RouteKey k) { write("deleteRoute " + k); routes.remove(k); }
    @Override public void putListener(ListenerKey k, ListenerEntry l) { write("putListener " + k); listeners.put(k, l); }
    @Override public void deleteListener(ListenerKey k) { write("deleteListener " + k); listeners.remove(k); }

    @Override
    public void putTableSlots(int group, int from, int[] ids) {
        write("putTableSlots " + group);
        int[] table = tables.computeIfAbsent(group, g -> new int[tableSize]);
        System.arraycopy(ids, 0, table, from, ids.length);
    }

    @Override
    public void putPortWord(PortFilter.Direction direction, int word, long bits) {
        write("putPortWord " + direction);
        ports[direction.ordinal()][word] = bits;
    }

    boolean portOpen(PortFilter.Direction direction, int port) {
        return (ports[direction.ordinal()][port >>> 6] & (1L << (port & 63))) != 0;
    }
}
