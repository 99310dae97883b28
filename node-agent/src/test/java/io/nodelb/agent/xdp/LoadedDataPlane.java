package io.nodelb.agent.xdp;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DataPlane.BackendCounters;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The production data plane (xdp_lb + tc_lb sharing pinned maps) loaded in a pin directory of
 * its own under /sys/fs/bpf, programmed the production way: NodeSnapshot -> SnapshotApplier ->
 * maps. {@link #close()} removes every pin and fails if anything is left behind.
 */
final class LoadedDataPlane implements AutoCloseable {

    static final int XDP_DROP = 1;
    static final int XDP_PASS = 2;
    static final int TC_ACT_OK = 0;

    /** Small tables (the default 4093 slots, 32 groups) and the FullNAT range 61000-61999. */
    static final DesiredState.Limits LIMITS = new DesiredState.Limits(4093, 64, 32, 1024, 61000, 61999);

    /** eth0 faces the clients, eth1 the backends (its addresses are the FullNAT sources). */
    static final DesiredState.Host HOST = name -> switch (name) {
        case "eth0" -> List.of(Snapshots.ip(Snapshots.NODE4), Snapshots.ip(Snapshots.NODE6));
        case "eth1" -> List.of(Snapshots.ip(Snapshots.SNAT4), Snapshots.ip(Snapshots.SNAT6));
        default -> null;
    };

    private final Path pinPath;
    private final BpfDataPlane dataPlane;
    private final SnapshotApplier applier;
    private final DesiredState.Limits limits;

    private LoadedDataPlane(Path pinPath, BpfDataPlane dataPlane, DesiredState.Limits limits) {
        this.pinPath = pinPath;
        this.dataPlane = dataPlane;
        this.limits = limits;
        this.applier = new SnapshotApplier(dataPlane.maps(), HOST, limits);
    }

    static LoadedDataPlane load() {
        return load(LIMITS, Map.of());
    }

    /** Loads with other limits and .rodata settings (e.g. cfg_timeout_established_ns). */
    static LoadedDataPlane load(DesiredState.Limits limits, Map<String, Long> rodata) {
        Path pinPath = Path.of("/sys/fs/bpf", "nodelb-test-" + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
        try {
            return new LoadedDataPlane(pinPath, BpfDataPlane.load(pinPath, limits, rodata), limits);
        } catch (RuntimeException e) {
            removeLeftovers(pinPath);
            throw e;
        }
    }

    DesiredState.Limits limits() {
        return limits;
    }

    Path pinPath() {
        return pinPath;
    }

    BpfDataPlane dataPlane() {
        return dataPlane;
    }

    void apply(NodeSnapshot snapshot) {
        applier.apply(snapshot);
    }

    TestRunResult xdp(byte[] frame) {
        return dataPlane.xdpProgram().testRun(frame);
    }

    TestRunResult tc(byte[] frame) {
        return dataPlane.tcProgram().testRun(frame);
    }

    /** The id the applier gave the backend address:port. */
    int backendId(String address, int port) {
        InetAddress ip = Snapshots.ip(address);
        return applier.applied().backends().entrySet().stream()
                .filter(e -> e.getValue().address().equals(ip) && e.getValue().port() == port)
                .map(Map.Entry::getKey)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no backend " + address + ":" + port + " is programmed"));
    }

    /** The ids of every programmed backend. */
    Set<Integer> backendIds() {
        return new TreeSet<>(applier.applied().backends().keySet());
    }

    /** The programmed backend of an id. */
    Abi.Backend backend(int id) {
        Abi.Backend b = applier.applied().backends().get(id);
        if (b == null) {
            throw new AssertionError("no backend id " + id + " is programmed");
        }
        return b;
    }

    /** The programmed listener for vip:port/proto. */
    Abi.Listener listener(String vip, int port, int proto) {
        Abi.Listener l = applier.applied().listeners().get(new Abi.ListenerKey(Snapshots.ip(vip), port, proto));
        if (l == null) {
            throw new AssertionError("no listener " + vip + ":" + port + "/" + proto + " is programmed");
        }
        return l;
    }

    /**
     * Turns a programmed listener's flow events on or off in nlb_listeners, as the agent does for a
     * listener whose desired state has them (NLB_LISTENER_EVENTS). The applier does not know: a
     * snapshot applied later leaves the flag as it is unless it rewrites the listener.
     */
    void listenerEvents(String vip, int port, int proto, boolean on) {
        BpfMap map = dataPlane.map("nlb_listeners");
        Abi.ListenerKey listenerKey = new Abi.ListenerKey(Snapshots.ip(vip), port, proto);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = map.allocateKey(arena);
            MemorySegment value = map.allocateValue(arena);
            listenerKey.writeTo(key);
            if (!map.lookup(key, value)) {
                throw new AssertionError("no listener " + listenerKey + " in nlb_listeners");
            }
            Abi.Listener l = Abi.Listener.readFrom(value, listenerKey.family());
            int flags = on ? l.flags() | Abi.LISTENER_EVENTS : l.flags() & ~Abi.LISTENER_EVENTS;
            new Abi.Listener(l.id(), l.group(), flags, l.snatPortMin(), l.snatPortMax(), l.snatAddress())
                    .writeTo(value);
            map.update(key, value, BpfMap.BPF_EXIST);
        }
    }

    /** The group a listener's source route leads to. */
    int routeGroup(Abi.Listener listener, String prefix, int length) {
        Integer group = applier.applied().routes().get(new Abi.RouteKey(listener.id(), Snapshots.ip(prefix), length));
        if (group == null) {
            throw new AssertionError("no route " + prefix + "/" + length + " for listener " + listener.id());
        }
        return group;
    }

    /** The group's lookup table as programmed: backend id per slot. */
    int[] table(int group) {
        return applier.applied().tables().get(group).clone();
    }

    /** The backend id the README's hash picks for a new flow of this listener's default group. */
    int predictedBackend(Flow flow) {
        Abi.Listener l = listener(flow.vip(), flow.vipPort(), flow.proto());
        return predictedBackend(l.group(), flow);
    }

    int predictedBackend(int group, Flow flow) {
        boolean persist = (applier.applied().groups().get(group).flags() & Abi.GROUP_PERSIST_SOURCE) != 0;
        int hash = persist ? DataPlaneHash.source(flow.clientAddress()) : flow.hash();
        return table(group)[DataPlaneHash.fastrange(hash, limits.tableSize())];
    }

    /** The FullNAT source port a new flow of a FullNAT listener tries first. */
    int firstNatPort(Flow flow) {
        return DataPlaneHash.firstNatPort(flow.hash(), limits.snatPortMin(), limits.snatPortMax());
    }

    /** Two flows that go to one backend and try the same FullNAT port first. */
    record SharedNatPort(Flow first, Flow second, int port) {}

    /**
     * Two flows of a FullNAT listener, from client ports at or above {@code fromPort}, that go
     * to one backend and try the same first port: not the range's last, so the next port probed
     * is the one after it.
     */
    SharedNatPort flowsSharingAFirstNatPort(StandardListener l, int fromPort) {
        Map<String, Flow> firstOf = new HashMap<>();
        for (int port = fromPort; port < 65536; port++) {
            Flow flow = l.flow(port);
            int first = firstNatPort(flow);
            if (first == limits.snatPortMax()) {
                continue;
            }
            Flow seen = firstOf.putIfAbsent(predictedBackend(flow) + "/" + first, flow);
            if (seen != null) {
                return new SharedNatPort(seen, flow, first);
            }
        }
        throw new AssertionError("no two flows of " + l + " share a first FullNAT port");
    }

    BpfMap map(String name) {
        return dataPlane.map(name);
    }

    /** A listener's idle timeouts as the kernel holds them (zeros: the defaults). */
    Abi.Timeouts timeouts(Abi.Listener listener) {
        BpfMap map = dataPlane.map("nlb_timeouts");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = map.allocateKey(arena);
            MemorySegment value = map.allocateValue(arena);
            key.set(ValueLayout.JAVA_INT, 0, listener.id());
            if (!map.lookup(key, value)) {
                throw new AssertionError("no nlb_timeouts slot for listener id " + listener.id());
            }
            return Abi.Timeouts.readFrom(value);
        }
    }

    /** Every conntrack entry, read from both flow tables (a key in nlb_conntrack hides one in nlb_ct_embryonic, as for the programs). */
    Map<Abi.CtKey, Abi.CtEntry> conntrack() {
        Map<Abi.CtKey, Abi.CtEntry> entries = new LinkedHashMap<>();
        for (BpfMap table : dataPlane.conntrackTables()) {
            table.forEachEntry(256, (k, v) -> {
                Abi.CtKey key = Abi.CtKey.readFrom(k);
                entries.putIfAbsent(key, Abi.CtEntry.readFrom(v, key.family()));
            });
        }
        return entries;
    }

    /** The entries of nlb_ct_embryonic alone: the flows whose backend has not answered. */
    Map<Abi.CtKey, Abi.CtEntry> embryonic() {
        Map<Abi.CtKey, Abi.CtEntry> entries = new LinkedHashMap<>();
        dataPlane.map(BpfDataPlane.EMBRYONIC_MAP).forEachEntry(256, (k, v) -> {
            Abi.CtKey key = Abi.CtKey.readFrom(k);
            entries.put(key, Abi.CtEntry.readFrom(v, key.family()));
        });
        return entries;
    }

    /** The entry of one key, or null. */
    Abi.CtEntry entry(Abi.CtKey key) {
        return conntrack().get(key);
    }

    /**
     * Writes a conntrack entry as the agent may (tests use it to set up corner cases): over the
     * key in nlb_ct_embryonic when that table holds it, else in nlb_conntrack.
     */
    void putEntry(Abi.CtKey key, Abi.CtEntry entry) {
        BpfMap map = embryonic().containsKey(key) ? dataPlane.map(BpfDataPlane.EMBRYONIC_MAP)
                : dataPlane.map("nlb_conntrack");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = map.allocateKey(arena);
            MemorySegment v = map.allocateValue(arena);
            key.writeTo(k);
            entry.writeTo(v);
            map.update(k, v, BpfMap.BPF_ANY);
        }
    }

    /**
     * Sets both entries of a flow (its forward entry and the reply entry that entry names) as last
     * seen that many seconds ago, in CLOCK_MONOTONIC, the entries' clock.
     */
    void lastSeen(Flow flow, int secondsAgo) {
        long lastSeen = System.nanoTime() - secondsAgo * 1_000_000_000L;
        Abi.CtEntry f = entry(flow.forwardKey());
        Abi.CtKey replyKey = new Abi.CtKey(f.natDestination(), f.natDestinationPort(), f.natSource(),
                f.natSourcePort(), flow.proto());
        for (Abi.CtKey key : List.of(flow.forwardKey(), replyKey)) {
            Abi.CtEntry e = entry(key);
            putEntry(key, new Abi.CtEntry(e.natSource(), e.natDestination(), e.natSourcePort(),
                    e.natDestinationPort(), e.backend(), e.createdNs(), lastSeen, e.packets(), e.bytes(),
                    e.state(), e.flags(), e.listener()));
        }
    }

    /** Deletes the key from both flow tables; whether one held it. */
    boolean deleteEntry(Abi.CtKey key) {
        boolean deleted = false;
        for (BpfMap map : dataPlane.conntrackTables()) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment k = map.allocateKey(arena);
                key.writeTo(k);
                deleted |= map.delete(k);
            }
        }
        return deleted;
    }

    /** Empties both flow tables, so each case starts without flows. */
    void clearConntrack() {
        dataPlane.conntrackTables().forEach(LoadedDataPlane::clear);
    }

    /** Empties a hash map of the data plane (buckets of the rate limits, for one). */
    void clearMap(String name) {
        clear(map(name));
    }

    /** How many entries a hash map of the data plane holds. */
    int entryCount(String name) {
        int[] n = {0};
        map(name).forEachEntry(4096, (k, v) -> n[0]++);
        return n[0];
    }

    private static void clear(BpfMap map) {
        List<byte[]> keys = new ArrayList<>();
        map.forEachKey(k -> keys.add(k.toArray(ValueLayout.JAVA_BYTE)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = map.allocateKey(arena);
            for (byte[] key : keys) {
                MemorySegment.copy(key, 0, k, ValueLayout.JAVA_BYTE, 0, key.length);
                map.delete(k);
            }
        }
    }

    /** nlb_stats summed over CPUs, by reason. */
    long[] stats() {
        return dataPlane.packetStats();
    }

    /** The reasons that moved since {@code before}, with how much. */
    Map<Abi.Stat, Long> statsSince(long[] before) {
        long[] now = stats();
        Map<Abi.Stat, Long> moved = new EnumMap<>(Abi.Stat.class);
        for (Abi.Stat s : Abi.Stat.values()) {
            long delta = now[s.value()] - before[s.value()];
            if (delta != 0) {
                moved.put(s, delta);
            }
        }
        return moved;
    }

    BackendCounters counters(int backendId) {
        return dataPlane.backendCounters(backendId);
    }

    /** The counters of every programmed backend by backend key, as health code reads them. */
    Map<String, BackendCounters> countersByKey() {
        return dataPlane.backendCounters(applier.applied());
    }

    /** Unloads, removes every pin, and fails if the pin directory is still there. */
    @Override
    public void close() {
        try {
            dataPlane.uninstall();
        } finally {
            boolean left = Files.exists(pinPath);
            removeLeftovers(pinPath);
            if (left) {
                throw new AssertionError("BpfDataPlane.uninstall() left " + pinPath + " behind");
            }
        }
    }

    private static void removeLeftovers(Path pinPath) {
        if (!Files.exists(pinPath)) {
            return;
        }
        try (var all = Files.walk(pinPath)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + pinPath, e);
        }
    }
}
