package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * What nodelb's maps hold, read back in the applier's terms ({@link DesiredState}): after a
 * restart the first snapshot is diffed against it. Works on the maps of the loaded objects
 * and on maps opened from their pins, so a test (or a diagnostic tool) reads exactly what
 * the agent reads. The conntrack and the counters are never read here.
 */
public final class MapReadBack {

    /**
     * The maps read here: the configuration. Only these are opened from pins, so a pin directory of an
     * older agent of this layout, without the maps added since (nlb_events, nlb_ev_budget), reads too;
     * {@link #OPTIONAL} ones, added to this layout since, are read when pinned and empty otherwise.
     */
    static final List<String> READ = List.of("nlb_listeners", "nlb_routes", "nlb_timeouts", "nlb_groups",
            "nlb_tables", "nlb_backends", "nlb_dports", "nlb_sports", "nlb_rate_limits");
    static final java.util.Set<String> OPTIONAL = java.util.Set.of("nlb_rate_limits");

    private MapReadBack() {}

    /**
     * @param maps       map name (as in maps.h) to map
     * @param tableSize  slots per group in nlb_tables
     * @param interfaces the interfaces whose links are held
     * @param phases     where the time per map goes ("read nlb_listeners", ...)
     */
    public static DesiredState read(Function<String, BpfMap> maps, int tableSize, Set<String> interfaces,
                                    Phases phases) {
        DesiredState found = readWithoutTables(maps, interfaces, phases);
        return found.withTables(phases.time("read nlb_tables",
                () -> readTables(maps.apply("nlb_tables"), tableSize, found.groups().keySet())));
    }

    /** As {@link #read}, but the lookup tables are left out ({@link DesiredState#tables()} is empty). */
    public static DesiredState readWithoutTables(Function<String, BpfMap> maps, Set<String> interfaces,
                                                 Phases phases) {
        Map<Abi.ListenerKey, Abi.Listener> listeners = new LinkedHashMap<>();
        Map<Integer, Integer> familyOfListener = new HashMap<>();
        phases.time("read nlb_listeners", () -> maps.apply("nlb_listeners").forEachEntry(4096, (k, v) -> {
            Abi.ListenerKey key = Abi.ListenerKey.readFrom(k);
            Abi.Listener listener = Abi.Listener.readFrom(v, key.family());
            listeners.put(key, listener);
            if (!key.isEcho()) { // a VIP's echo entry has no id, group or routes
                familyOfListener.put(listener.id(), key.family());
            }
        }));
        Map<Abi.RouteKey, Integer> routes = new LinkedHashMap<>();
        phases.time("read nlb_routes", () -> maps.apply("nlb_routes").forEachEntry(256, (k, v) -> {
            int listener = k.get(ValueLayout.JAVA_INT, 4);
            // An orphan route's family is unknown; its bytes, hence its key, are the same either way.
            int family = familyOfListener.getOrDefault(listener, Abi.FAMILY_IPV6);
            routes.put(Abi.RouteKey.readFrom(k, family), Abi.Route.readFrom(v).group());
        }));
        Map<Integer, Abi.Timeouts> timeouts = new LinkedHashMap<>();
        phases.time("read nlb_timeouts", () -> readArray(maps.apply("nlb_timeouts"), Abi.Timeouts::readFrom, timeouts));
        Map<Integer, Abi.RateLimit> rateLimits = new LinkedHashMap<>();
        BpfMap rateLimitMap = maps.apply("nlb_rate_limits");
        if (rateLimitMap != null) {
            phases.time("read nlb_rate_limits", () -> readArray(rateLimitMap, Abi.RateLimit::readFrom, rateLimits));
        }
        Map<Integer, Abi.Group> groups = new LinkedHashMap<>();
        phases.time("read nlb_groups", () -> readArray(maps.apply("nlb_groups"), Abi.Group::readFrom, groups));
        // A group without members is all zeros, like an unused entry: listeners and routes say it is live.
        listeners.forEach((k, l) -> {
            if (!k.isEcho()) {
                groups.putIfAbsent(l.group(), new Abi.Group(0, 0));
            }
        });
        routes.values().forEach(g -> groups.putIfAbsent(g, new Abi.Group(0, 0)));
        Map<Integer, Abi.Backend> backends = new LinkedHashMap<>();
        phases.time("read nlb_backends", () -> readArray(maps.apply("nlb_backends"), Abi.Backend::readFrom, backends));
        PortFilter ingress = phases.time("read nlb_dports", () -> PortFilter.ofWords(readWords(maps.apply("nlb_dports"))));
        PortFilter egress = phases.time("read nlb_sports", () -> PortFilter.ofWords(readWords(maps.apply("nlb_sports"))));
        return new DesiredState(listeners, routes, timeouts, rateLimits, groups, Map.of(), backends, ingress, egress,
                new TreeSet<>(interfaces));
    }

    /**
     * Reads the data plane pinned in {@code pinDirectory} ({@code <pin path>/v<layout>}) without
     * loading anything: the maps are opened from their pins, the interfaces are those with both
     * links pinned.
     */
    public static DesiredState readPinned(Path pinDirectory, int tableSize) {
        Map<String, BpfMap> opened = new HashMap<>();
        try {
            for (String name : READ) {
                if (OPTIONAL.contains(name) && !Files.exists(pinDirectory.resolve(name))) {
                    continue;
                }
                opened.put(name, BpfMap.openPinned(pinDirectory.resolve(name)));
            }
            return read(opened::get, tableSize, pinnedInterfaces(pinDirectory), new Phases());
        } finally {
            opened.values().forEach(BpfMap::close);
        }
    }

    /** Interfaces with both their XDP and TC links pinned in {@code pinDirectory}. */
    static Set<String> pinnedInterfaces(Path pinDirectory) {
        Set<String> xdp = new TreeSet<>();
        Set<String> tc = new TreeSet<>();
        try (var pins = Files.list(pinDirectory)) {
            for (Path pin : (Iterable<Path>) pins::iterator) {
                String name = pin.getFileName().toString();
                if (name.startsWith(BpfDataPlane.XDP_LINK_PREFIX)) {
                    xdp.add(name.substring(BpfDataPlane.XDP_LINK_PREFIX.length()));
                } else if (name.startsWith(BpfDataPlane.TC_LINK_PREFIX)) {
                    tc.add(name.substring(BpfDataPlane.TC_LINK_PREFIX.length()));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + pinDirectory, e);
        }
        xdp.retainAll(tc);
        return xdp;
    }

    /** The non-zero entries of an array map, by index. */
    static <V> void readArray(BpfMap map, Function<MemorySegment, V> read, Map<Integer, V> into) {
        map.forEachEntry(4096, (k, v) -> {
            if (!isZero(v)) {
                into.put(k.get(ValueLayout.JAVA_INT, 0), read.apply(v));
            }
        });
    }

    private static final MemorySegment ZEROS = MemorySegment.ofArray(new byte[4096]);

    private static boolean isZero(MemorySegment v) {
        return v.byteSize() <= ZEROS.byteSize() ? v.mismatch(ZEROS.asSlice(0, v.byteSize())) < 0
                : v.elements(ValueLayout.JAVA_BYTE).allMatch(b -> b.get(ValueLayout.JAVA_BYTE, 0) == 0);
    }

    private static long[] readWords(BpfMap map) {
        long[] words = new long[PortFilter.WORDS];
        map.forEachEntry(PortFilter.WORDS, (k, v) -> {
            int index = k.get(ValueLayout.JAVA_INT, 0);
            if (index < words.length) {
                words[index] = v.get(ValueLayout.JAVA_LONG, 0);
            }
        });
        return words;
    }

    /**
     * The slots of each group in {@code groups}: one batch read per group, starting right after
     * the previous group's last slot. The kernel copies an array map's batch element by element
     * (a few hundred ns each here), so this is the bulk of a read-back: see docs/benchmarks.md.
     */
    static Map<Integer, int[]> readTables(BpfMap table, int size, Set<Integer> groups) {
        Map<Integer, int[]> tables = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(table.batchTokenSize(), 8);
            MemorySegment out = arena.allocate(table.batchTokenSize(), 8);
            MemorySegment keys = arena.allocate(ValueLayout.JAVA_INT, size);
            MemorySegment values = arena.allocate(ValueLayout.JAVA_INT, size);
            for (int group : groups) {
                int[] slots = new int[size];
                int first = group * size;
                in.set(ValueLayout.JAVA_INT, 0, first - 1);
                int read = 0;
                while (read < size) {
                    BpfMap.Batch batch = table.lookupBatch(in, out, keys, values, size - read);
                    for (int i = 0; i < batch.count(); i++) {
                        int slot = keys.getAtIndex(ValueLayout.JAVA_INT, i) - first;
                        if (slot >= 0 && slot < size) {
                            slots[slot] = values.getAtIndex(ValueLayout.JAVA_INT, i);
                        }
                    }
                    read += batch.count();
                    if (!batch.more() || batch.count() == 0) {
                        break;
                    }
                    MemorySegment.copy(out, 0, in, 0, in.byteSize());
                }
                tables.put(group, slots);
            }
        }
        return tables;
    }
}
