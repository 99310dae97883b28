package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.testing.Privileged;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Map operations on real kernel maps, keyed and valued with the ABI's own layouts. */
@Privileged
class BpfMapIT {
    private static final int KEY = (int) Abi.ListenerKey.LAYOUT.byteSize();
    private static final int VALUE = (int) Abi.Listener.LAYOUT.byteSize();

    @Test
    void updateLookupDeleteWithTheirFlags() throws Exception {
        try (BpfMap listeners = listenerMap(); Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(Abi.ListenerKey.LAYOUT);
            MemorySegment value = arena.allocate(Abi.Listener.LAYOUT);
            Abi.ListenerKey.write(key, InetAddress.getByName("10.0.0.1"), 80, Abi.IPPROTO_TCP);
            Abi.Listener listener = new Abi.Listener(1, 7, Abi.LISTENER_FULLNAT, 20000, 29999,
                    InetAddress.getByName("10.0.0.254"));
            listener.writeTo(value);

            assertThat(listeners.lookup(key, value)).isFalse();
            listeners.update(key, value, BpfMap.BPF_NOEXIST);
            assertThatThrownBy(() -> listeners.update(key, value, BpfMap.BPF_NOEXIST))
                    .isInstanceOfSatisfying(BpfException.class, e -> {
                        assertThat(e.errno()).isEqualTo(Errno.EEXIST);
                        assertThat(e.isAlreadyExists()).isTrue();
                    })
                    .hasMessageContaining("bpf_map_update_elem(nlb_listeners): File exists (EEXIST)");

            MemorySegment read = arena.allocate(Abi.Listener.LAYOUT);
            assertThat(listeners.lookup(key, read)).isTrue();
            assertThat(Abi.Listener.readFrom(read, Abi.FAMILY_IPV4)).isEqualTo(listener);

            assertThat(listeners.delete(key)).isTrue();
            assertThat(listeners.delete(key)).isFalse();
            assertThatThrownBy(() -> listeners.update(key, value, BpfMap.BPF_EXIST))
                    .isInstanceOfSatisfying(BpfException.class,
                            e -> assertThat(e.errno()).isEqualTo(Errno.ENOENT));
        }
    }

    @Test
    void keysAndEntriesCanBeWalked() throws Exception {
        try (BpfMap listeners = listenerMap(); Arena arena = Arena.ofConfined()) {
            Map<Abi.ListenerKey, Abi.Listener> expected = fill(listeners, 10, arena);

            List<Abi.ListenerKey> keys = new ArrayList<>();
            listeners.forEachKey(key -> keys.add(Abi.ListenerKey.readFrom(key)));
            assertThat(keys).containsExactlyInAnyOrderElementsOf(expected.keySet());

            Map<Abi.ListenerKey, Abi.Listener> entries = new HashMap<>();
            listeners.forEachEntry(3, (key, value) -> entries.put(Abi.ListenerKey.readFrom(key),
                    Abi.Listener.readFrom(value, Abi.FAMILY_IPV4)));
            assertThat(entries).isEqualTo(expected);
        }
    }

    @Test
    void batchesUpdateLookupAndDelete() throws Exception {
        int count = 20;
        try (BpfMap listeners = listenerMap(); Arena arena = Arena.ofConfined()) {
            MemorySegment keys = arena.allocate((long) KEY * count, 8);
            MemorySegment values = arena.allocate((long) VALUE * count, 8);
            for (int i = 0; i < count; i++) {
                Abi.ListenerKey.write(keys.asSlice((long) i * KEY),
                        InetAddress.getByName("10.0.1." + i), 443, Abi.IPPROTO_TCP);
                new Abi.Listener(i, i, 0, 0, 0, null).writeTo(values.asSlice((long) i * VALUE));
            }
            listeners.updateBatch(keys, values, count);

            MemorySegment readKeys = arena.allocate((long) KEY * count, 8);
            MemorySegment readValues = arena.allocate((long) VALUE * count, 8);
            MemorySegment token = arena.allocate(listeners.batchTokenSize(), 8);
            BpfMap.Batch batch = listeners.lookupBatch(MemorySegment.NULL, token, readKeys,
                    readValues, count);
            assertThat(batch.count()).isEqualTo(count);
            for (int i = 0; i < batch.count(); i++) {
                Abi.ListenerKey key = Abi.ListenerKey.readFrom(readKeys.asSlice((long) i * KEY));
                Abi.Listener value = Abi.Listener.readFrom(
                        readValues.asSlice((long) i * VALUE), Abi.FAMILY_IPV4);
                assertThat(key.address().getHostAddress()).isEqualTo("10.0.1." + value.id());
            }

            listeners.deleteBatch(keys, count);
            assertThat(countKeys(listeners)).isZero();
            assertThatThrownBy(() -> listeners.deleteBatch(keys, 1))
                    .isInstanceOfSatisfying(BpfException.class,
                            e -> assertThat(e.errno()).isEqualTo(Errno.ENOENT))
                    .hasMessageContaining("0 elements done");
        }
    }

    @Test
    void lpmTrieFindsTheLongestPrefixPerListener() throws Exception {
        try (BpfMap routes = BpfMap.create(BpfMap.Type.LPM_TRIE, "nlb_routes",
                        (int) Abi.RouteKey.LAYOUT.byteSize(), (int) Abi.Route.LAYOUT.byteSize(),
                        16, BpfMap.BPF_F_NO_PREALLOC);
                Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(Abi.RouteKey.LAYOUT);
            MemorySegment value = arena.allocate(Abi.Route.LAYOUT);
            route(routes, key, value, 1, "10.0.0.0", 8, 100);
            route(routes, key, value, 1, "10.1.0.0", 16, 200);

            assertThat(groupFor(routes, key, value, 1, "10.1.2.3")).isEqualTo(200);
            assertThat(groupFor(routes, key, value, 1, "10.2.0.1")).isEqualTo(100);
            assertThat(groupFor(routes, key, value, 1, "11.0.0.1")).isEqualTo(-1);
            assertThat(groupFor(routes, key, value, 2, "10.1.2.3")).isEqualTo(-1); // other listener

            // LPM tries have no batch lookup: the walk falls back to key by key.
            List<Abi.RouteKey> entries = new ArrayList<>();
            routes.forEachEntry(8, (k, v) -> entries.add(Abi.RouteKey.readFrom(k, Abi.FAMILY_IPV4)));
            assertThat(entries).containsExactlyInAnyOrder(
                    new Abi.RouteKey(1, InetAddress.getByName("10.0.0.0"), 8),
                    new Abi.RouteKey(1, InetAddress.getByName("10.1.0.0"), 16));
        }
    }

    @Test
    void perCpuValuesComeOnePerPossibleCpu() {
        int cpus = LibBpf.possibleCpus();
        try (BpfMap stats = BpfMap.create(BpfMap.Type.PERCPU_ARRAY, "nlb_be_stats",
                        4, (int) Abi.BackendStats.LAYOUT.byteSize(), 4, 0);
                Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocateFrom(ValueLayout.JAVA_INT, 3);
            MemorySegment values = stats.allocateValue(arena);
            assertThat(values.byteSize()).isEqualTo(56L * cpus);
            for (int cpu = 0; cpu < cpus; cpu++) {
                new Abi.BackendStats(cpu + 1, 100, 1, 0, 0, cpu, 1).writeTo(stats.perCpuValue(values, cpu));
            }
            stats.update(key, values, BpfMap.BPF_ANY);

            MemorySegment read = stats.allocateValue(arena);
            assertThat(stats.lookup(key, read)).isTrue();
            assertThat(Abi.BackendStats.sumPerCpu(read, cpus))
                    .isEqualTo(new Abi.BackendStats((long) cpus * (cpus + 1) / 2, 100L * cpus, cpus, 0, 0,
                            (long) cpus * (cpus - 1) / 2, cpus));
            assertThat(stats.sumPerCpu(read, 8)).isEqualTo(100L * cpus);

            MemorySegment oneCpuOnly = arena.allocate(40);
            assertThatThrownBy(() -> stats.lookup(key, oneCpuOnly))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("(per-CPU)");
        }
    }

    @Test
    void pinThenReopenByPathThenUnpin() throws Exception {
        try (PinDir pins = PinDir.create(); Arena arena = Arena.ofConfined()) {
            Path path = pins.resolve("listeners");
            Map<Abi.ListenerKey, Abi.Listener> expected;
            try (BpfMap listeners = listenerMap()) {
                expected = fill(listeners, 3, arena);
                listeners.pin(path);
            } // our fd is closed; the pin keeps the map

            try (BpfMap reopened = BpfMap.openPinned(path)) {
                assertThat(reopened.type()).isEqualTo(BpfMap.Type.HASH.id());
                assertThat(reopened.keySize()).isEqualTo(KEY);
                assertThat(reopened.valueSize()).isEqualTo(VALUE);
                assertThat(reopened.maxEntries()).isEqualTo(64);
                assertThat(countKeys(reopened)).isEqualTo(3);
                MemorySegment value = arena.allocate(Abi.Listener.LAYOUT);
                Abi.ListenerKey someKey = expected.keySet().iterator().next();
                MemorySegment key = arena.allocate(Abi.ListenerKey.LAYOUT);
                someKey.writeTo(key);
                assertThat(reopened.lookup(key, value)).isTrue();
                assertThat(Abi.Listener.readFrom(value, Abi.FAMILY_IPV4))
                        .isEqualTo(expected.get(someKey));

                reopened.unpin();
                assertThat(Files.exists(path)).isFalse();
            }
            assertThatThrownBy(() -> BpfMap.openPinned(path))
                    .isInstanceOfSatisfying(BpfException.class,
                            e -> assertThat(e.isNotFound()).isTrue());
        }
    }

    @Test
    void failuresCarryErrnoAndItsText() {
        Path missing = Path.of("/sys/fs/bpf/nodelb-test-no-such-pin-" + ProcessHandle.current().pid());
        assertThatThrownBy(() -> BpfMap.openPinned(missing))
                .isInstanceOfSatisfying(BpfException.class, e -> {
                    assertThat(e.errno()).isEqualTo(Errno.ENOENT);
                    assertThat(e.errnoText()).isEqualTo("No such file or directory");
                    assertThat(e.operation()).isEqualTo("bpf_obj_get");
                    assertThat(e.subject()).isEqualTo(missing.toString());
                })
                .hasMessage("bpf_obj_get(" + missing + "): No such file or directory (ENOENT)");

        // An fd number no process has open.
        BpfMap bogus = new BpfMap("bogus", 1_000_000, BpfMap.Type.HASH.id(), 4, 4, 1);
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> bogus.lookup(arena.allocate(4), arena.allocate(4)))
                    .isInstanceOfSatisfying(BpfException.class, e -> {
                        assertThat(e.errno()).isEqualTo(Errno.EBADF);
                        assertThat(e.errnoText()).isEqualTo("Bad file descriptor");
                    })
                    .hasMessageContaining("bpf_map_lookup_elem(bogus)");
        }

        assertThatThrownBy(() -> BpfMap.create(BpfMap.Type.HASH, "zero_key", 0, 4, 1, 0))
                .isInstanceOfSatisfying(BpfException.class,
                        e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL));
        assertThatThrownBy(() -> BpfMap.create(BpfMap.Type.HASH, "a_name_that_is_too_long", 4, 4, 1, 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> LibBpf.ifindex("nlb-no-such0"))
                .isInstanceOfSatisfying(BpfException.class,
                        e -> assertThat(e.errno()).isEqualTo(Errno.ENODEV))
                .hasMessageContaining("if_nametoindex(nlb-no-such0): No such device");
    }

    @Test
    void segmentsTooSmallAreRefusedBeforeTheKernelSeesThem() {
        try (BpfMap listeners = listenerMap(); Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> listeners.lookup(arena.allocate(4), arena.allocate(VALUE)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("key of nlb_listeners needs 20 bytes, the segment has 4");
            assertThatThrownBy(() -> listeners.update(arena.allocate(KEY), arena.allocate(8), 0))
                    .hasMessageContaining("value of nlb_listeners needs 32 bytes");
        }
    }

    @Test
    void closeIsIdempotentAndEndsUse() {
        BpfMap map = listenerMap();
        map.close();
        map.close();
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> map.lookup(arena.allocate(KEY), arena.allocate(VALUE)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed");
        }
    }

    private static BpfMap listenerMap() {
        return BpfMap.create(BpfMap.Type.HASH, "nlb_listeners", KEY, VALUE, 64, 0);
    }

    private static Map<Abi.ListenerKey, Abi.Listener> fill(BpfMap map, int count, Arena arena)
            throws Exception {
        Map<Abi.ListenerKey, Abi.Listener> written = new HashMap<>();
        MemorySegment key = arena.allocate(Abi.ListenerKey.LAYOUT);
        MemorySegment value = arena.allocate(Abi.Listener.LAYOUT);
        for (int i = 0; i < count; i++) {
            Abi.ListenerKey k = new Abi.ListenerKey(
                    InetAddress.getByName("192.0.2." + (i + 1)), 8000 + i, Abi.IPPROTO_UDP);
            Abi.Listener v = new Abi.Listener(i, 100 + i, 0, 0, 0, null);
            k.writeTo(key);
            v.writeTo(value);
            map.update(key, value, BpfMap.BPF_NOEXIST);
            written.put(k, v);
        }
        return written;
    }

    private static int countKeys(BpfMap map) {
        int[] count = {0};
        map.forEachKey(key -> count[0]++);
        return count[0];
    }

    private static void route(BpfMap routes, MemorySegment key, MemorySegment value, int listener,
            String prefix, int bits, int group) throws Exception {
        Abi.RouteKey.write(key, listener, InetAddress.getByName(prefix), bits);
        new Abi.Route(group).writeTo(value);
        routes.update(key, value, BpfMap.BPF_NOEXIST);
    }

    /** The group for a client address (a full-length lookup key), or -1 without a route. */
    private static int groupFor(BpfMap routes, MemorySegment key, MemorySegment value,
            int listener, String client) throws Exception {
        Abi.RouteKey.write(key, listener, InetAddress.getByName(client), 32);
        return routes.lookup(key, value) ? Abi.Route.readFrom(value).group() : -1;
    }
}
