package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A fake of the BPF maps: their contents as plain collections, plus a log of every write. */
final class InMemoryMaps implements DataPlaneMaps {
    final Map<Integer, Abi.Backend> backends = new HashMap<>();
    final Map<Integer, int[]> tables = new HashMap<>();
    final Map<Integer, Abi.Group> groups = new HashMap<>();
    final Map<Abi.RouteKey, Integer> routes = new HashMap<>();
    final Map<Integer, Abi.Timeouts> timeouts = new HashMap<>();
    final Map<Integer, Abi.RateLimit> rateLimits = new HashMap<>();
    final Map<Abi.ListenerKey, Abi.Listener> listeners = new HashMap<>();
    final long[][] ports = new long[2][PortFilter.WORDS];
    final List<String> log = new ArrayList<>();
    /** The backend ids of each releaseFlows call, in order (conntrack is not modelled). */
    final List<java.util.Set<Integer>> released = new ArrayList<>();
    /** Whether a released backend was still in a table or in nlb_backends when its flows were released. */
    boolean stillSelected;
    private final int tableSize;
    /** What fullNatSourcesInUse answers (conntrack is not modelled; null: it fails), and how often it was asked. */
    java.util.Set<java.net.InetAddress> fullNatSources = java.util.Set.of();
    int fullNatScans;
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

    @Override public void putBackend(int id, Abi.Backend b) { write("putBackend " + id); backends.put(id, b); }
    @Override public void deleteBackend(int id) { write("deleteBackend " + id); backends.remove(id); }
    @Override public void putGroup(int id, Abi.Group g) { write("putGroup " + id); groups.put(id, g); }
    @Override public void deleteGroup(int id) { write("deleteGroup " + id); groups.remove(id); }
    @Override public void putRoute(Abi.RouteKey k, int g) { write("putRoute " + k); routes.put(k, g); }
    @Override public void deleteRoute(Abi.RouteKey k) { write("deleteRoute " + k); routes.remove(k); }
    @Override public void putTimeouts(int id, Abi.Timeouts t) { write("putTimeouts " + id); timeouts.put(id, t); }
    @Override public void deleteTimeouts(int id) { write("deleteTimeouts " + id); timeouts.remove(id); }
    @Override public void putRateLimit(int id, Abi.RateLimit r) { write("putRateLimit " + id); rateLimits.put(id, r); }
    @Override public void deleteRateLimit(int id) { write("deleteRateLimit " + id); rateLimits.remove(id); }
    @Override public void putListener(Abi.ListenerKey k, Abi.Listener l) { write("putListener " + k); listeners.put(k, l); }
    @Override public void deleteListener(Abi.ListenerKey k) { write("deleteListener " + k); listeners.remove(k); }

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

    @Override
    public long releaseFlows(java.util.Set<Integer> backends) {
        released.add(java.util.Set.copyOf(backends));
        stillSelected |= tables.values().stream()
                .anyMatch(t -> Arrays.stream(t).anyMatch(backends::contains))
                || backends.stream().anyMatch(this.backends::containsKey);
        return 0;
    }

    @Override
    public java.util.Set<java.net.InetAddress> fullNatSourcesInUse() {
        fullNatScans++;
        if (fullNatSources == null) {
            throw new IllegalStateException("injected failure of the flow table scan");
        }
        return fullNatSources;
    }

    boolean addressOpen(java.net.InetAddress address) {
        return PortFilter.ofWords(ports[PortFilter.Direction.INGRESS.ordinal()]).containsAddress(address);
    }

    boolean portOpen(PortFilter.Direction direction, int port) {
        return (ports[direction.ordinal()][port >>> 6] & (1L << (port & 63))) != 0;
    }
}
