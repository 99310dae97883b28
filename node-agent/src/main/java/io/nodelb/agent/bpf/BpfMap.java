package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * A BPF map: either one of a {@link BpfObject} (its fd belongs to the object and exists
 * once the object is loaded), or one made here ({@link #create}) or opened from a pin
 * ({@link #openPinned}), whose fd this wrapper owns and {@link #close()} closes.
 *
 * <p>Keys and values are native {@link MemorySegment}s laid out as the C types (see
 * {@link Abi}); a segment smaller than the map's key or value is refused before the kernel
 * could read or write past it. Per-CPU maps take and return one value per possible CPU,
 * each rounded up to 8 bytes: size buffers with {@link #valueBufferSize()}.
 *
 * <p>The element operations allocate nothing and are safe to call from several threads.
 */
public final class BpfMap implements AutoCloseable {
    /** Update flags: create or replace; only create (else EEXIST); only replace (else ENOENT). */
    public static final long BPF_ANY = 0;
    public static final long BPF_NOEXIST = 1;
    public static final long BPF_EXIST = 2;

    /** Map flag for {@link #create}: allocate hash elements on demand (LPM tries need it). */
    public static final int BPF_F_NO_PREALLOC = 1;

    /** The map types nodelb uses (enum bpf_map_type). */
    public enum Type {
        HASH(1), ARRAY(2), PERCPU_HASH(5), PERCPU_ARRAY(6), LRU_HASH(9), LRU_PERCPU_HASH(10),
        LPM_TRIE(11), RINGBUF(27);

        private final int id;

        Type(int id) {
            this.id = id;
        }

        public int id() {
            return id;
        }
    }

    /**
     * What the kernel says of a map: its shape, and where its types are described (btfId: the
     * BTF of the object that created it, 0 when it has none; the key and value type ids in it).
     */
    public record Info(int type, int id, int keySize, int valueSize, int maxEntries, int flags,
            int btfId, int btfKeyTypeId, int btfValueTypeId) {}

    /** One chunk of {@link #lookupBatch}: how many elements it read, and whether more follow. */
    public record Batch(int count, boolean more) {}

    /** struct bpf_map_create_opts of libbpf 1.1 (48 bytes). */
    private static final StructLayout CREATE_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            JAVA_INT.withName("btf_fd"),
            JAVA_INT.withName("btf_key_type_id"),
            JAVA_INT.withName("btf_value_type_id"),
            JAVA_INT.withName("btf_vmlinux_value_type_id"),
            JAVA_INT.withName("inner_map_fd"),
            JAVA_INT.withName("map_flags"),
            JAVA_LONG.withName("map_extra"),
            JAVA_INT.withName("numa_node"),
            JAVA_INT.withName("map_ifindex"));

    /** struct bpf_map_batch_opts (24 bytes). */
    private static final StructLayout BATCH_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            JAVA_LONG.withName("elem_flags"),
            JAVA_LONG.withName("flags"));

    /** The start of struct bpf_map_info: the kernel fills as much as we pass. */
    private static final StructLayout INFO = MemoryLayout.structLayout(
            JAVA_INT.withName("type"),
            JAVA_INT.withName("id"),
            JAVA_INT.withName("key_size"),
            JAVA_INT.withName("value_size"),
            JAVA_INT.withName("max_entries"),
            JAVA_INT.withName("map_flags"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("name"));

    /** struct bpf_map_info up to btf_value_type_id (the kernel fills as much as we pass). */
    private static final StructLayout FULL_INFO = MemoryLayout.structLayout(
            INFO,
            JAVA_INT.withName("ifindex"),
            JAVA_INT.withName("btf_vmlinux_value_type_id"),
            JAVA_LONG.withName("netns_dev"),
            JAVA_LONG.withName("netns_ino"),
            JAVA_INT.withName("btf_id"),
            JAVA_INT.withName("btf_key_type_id"),
            JAVA_INT.withName("btf_value_type_id"),
            JAVA_INT.withName("pad"));

    private final String name;
    private final BpfObject owner; // null: this wrapper owns fd
    private final MemorySegment handle; // libbpf's struct bpf_map, NULL without owner
    private final int type;
    private final int keySize;
    private final int valueSize;
    private int maxEntries;
    private volatile int fd; // -1 before load and after close
    private volatile Path pinPath;

    /** A map of an object, before or after its load. */
    BpfMap(BpfObject owner, MemorySegment handle, String name) {
        this.name = owner.name() + "." + name;
        this.owner = owner;
        this.handle = handle;
        this.type = LibBpf.mapType(handle);
        this.keySize = LibBpf.mapKeySize(handle);
        this.valueSize = LibBpf.mapValueSize(handle);
        this.maxEntries = LibBpf.mapMaxEntries(handle);
        this.fd = owner.isLoaded() ? LibBpf.mapFd(handle) : -1;
    }

    /** A map this wrapper owns by fd. */
    BpfMap(String name, int fd, int type, int keySize, int valueSize, int maxEntries) {
        this.name = name;
        this.owner = null;
        this.handle = MemorySegment.NULL;
        this.fd = fd;
        this.type = type;
        this.keySize = keySize;
        this.valueSize = valueSize;
        this.maxEntries = maxEntries;
    }

    /** Creates a map outside any object (name: at most 15 characters). Close it when done. */
    public static BpfMap create(Type type, String name, int keySize, int valueSize,
            int maxEntries, int mapFlags) {
        if (name.length() > 15) {
            throw new IllegalArgumentException("map name " + name + " is longer than 15 characters");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = arena.allocate(CREATE_OPTS);
            opts.set(JAVA_LONG, 0, CREATE_OPTS.byteSize());
            opts.set(JAVA_INT, CREATE_OPTS.byteOffset(MemoryLayout.PathElement.groupElement(
                    "map_flags")), mapFlags);
            int fd = LibBpf.mapCreate(type.id(), name, keySize, valueSize, maxEntries, opts);
            return new BpfMap(name, fd, type.id(), keySize, valueSize, maxEntries);
        }
    }

    /** Opens the map pinned at path (a new fd, closed by {@link #close()}). */
    public static BpfMap openPinned(Path path) {
        int fd = LibBpf.objGet(path);
        try (Arena arena = Arena.ofConfined()) {
            LibBpf.requireFdKind(fd, path, "map_type:", "map");
            MemorySegment info = arena.allocate(INFO);
            LibBpf.objGetInfo(fd, info, path.toString());
            BpfMap map = new BpfMap(path.getFileName().toString(), fd,
                    info.get(JAVA_INT, 0), info.get(JAVA_INT, 8), info.get(JAVA_INT, 12),
                    info.get(JAVA_INT, 16));
            map.pinPath = path;
            return map;
        } catch (RuntimeException e) {
            LibBpf.closeFd(fd, path.toString());
            throw e;
        }
    }

    // --- what it is ----------------------------------------------------------------------

    /** The name: "object.map" for maps of an object. */
    public String name() {
        return name;
    }

    /** The enum bpf_map_type value (see {@link Type}). */
    public int type() {
        return type;
    }

    public int keySize() {
        return keySize;
    }

    /** The size of one value (per CPU, for per-CPU maps). */
    public int valueSize() {
        return valueSize;
    }

    public int maxEntries() {
        return maxEntries;
    }

    public boolean isPerCpu() {
        return type == Type.PERCPU_HASH.id || type == Type.PERCPU_ARRAY.id
                || type == Type.LRU_PERCPU_HASH.id || type == 21; // 21: per-CPU cgroup storage
    }

    /** Bytes a value buffer needs: valueSize, or a rounded-up valueSize per possible CPU. */
    public long valueBufferSize() {
        return isPerCpu() ? perCpuStride() * LibBpf.possibleCpus() : valueSize;
    }

    /** Distance between two CPUs' values in a per-CPU value buffer. */
    public long perCpuStride() {
        return (valueSize + 7L) & ~7L;
    }

    /** The map's fd. Throws when the map is not loaded yet or closed. */
    public int fd() {
        int current = fd;
        if (current < 0) {
            throw new IllegalStateException("map " + name
                    + (owner != null && !owner.isLoaded() ? " is not loaded yet" : " is closed"));
        }
        return current;
    }

    /** The kernel's description of the map (it must be loaded, or opened from a pin). */
    public Info info() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(FULL_INFO);
            LibBpf.objGetInfo(fd(), info, name);
            return new Info(info.get(JAVA_INT, 0), info.get(JAVA_INT, 4), info.get(JAVA_INT, 8),
                    info.get(JAVA_INT, 12), info.get(JAVA_INT, 16), info.get(JAVA_INT, 20),
                    info.get(JAVA_INT, 64), info.get(JAVA_INT, 68), info.get(JAVA_INT, 72));
        }
    }

    /** The BTF type id of the key in its object's {@link BpfObject#btf()}, also before load (0: none). */
    public int btfKeyTypeId() {
        requireOwner("read its BTF key type");
        return LibBpf.mapBtfKeyTypeId(handle);
    }

    /** The BTF type id of the value in its object's {@link BpfObject#btf()}, also before load (0: none). */
    public int btfValueTypeId() {
        requireOwner("read its BTF value type");
        return LibBpf.mapBtfValueTypeId(handle);
    }

    public Optional<Path> pinPath() {
        return Optional.ofNullable(pinPath);
    }

    public MemorySegment allocateKey(Arena arena) {
        return arena.allocate(keySize, 8);
    }

    public MemorySegment allocateValue(Arena arena) {
        return arena.allocate(valueBufferSize(), 8);
    }

    // --- elements ------------------------------------------------------------------------

    /** Copies key's value into value; false when the key is absent. */
    public boolean lookup(MemorySegment key, MemorySegment value) {
        checkKey(key);
        checkValue(value);
        return LibBpf.mapLookup(fd(), key, value, name);
    }

    /** Sets key to value. flags: {@link #BPF_ANY}, {@link #BPF_NOEXIST}, {@link #BPF_EXIST}. */
    public void update(MemorySegment key, MemorySegment value, long flags) {
        checkKey(key);
        checkValue(value);
        LibBpf.mapUpdate(fd(), key, value, flags, name);
    }

    /** Removes key; false when it was absent. */
    public boolean delete(MemorySegment key) {
        checkKey(key);
        return LibBpf.mapDelete(fd(), key, name);
    }

    /**
     * Writes the key that follows key into next (the first key when key is
     * {@link MemorySegment#NULL}); false when there is none.
     */
    public boolean nextKey(MemorySegment key, MemorySegment next) {
        if (!key.equals(MemorySegment.NULL)) {
            checkKey(key);
        }
        checkKey(next);
        return LibBpf.mapNextKey(fd(), key, next, name);
    }

    /**
     * Calls action with every key. The segment is reused: copy what you keep. Deleting keys
     * of a hash map while iterating restarts the walk; collect them and delete afterwards.
     */
    public void forEachKey(Consumer<MemorySegment> action) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment current = allocateKey(arena);
            MemorySegment next = allocateKey(arena);
            MemorySegment previous = MemorySegment.NULL;
            while (nextKey(previous, next)) {
                action.accept(next.asReadOnly());
                previous = next;
                next = current;
                current = previous;
            }
        }
    }

    /** What {@link #forEachBatch} hands over: {@code count} keys and values packed back to back. */
    @FunctionalInterface
    public interface BatchAction {
        void accept(MemorySegment keys, MemorySegment values, int count);
    }

    /**
     * Calls action with every key and value, read batchSize at a time with
     * bpf_map_lookup_batch (maps without batch support, such as LPM tries, key by key). The
     * segments are reused: copy what you keep.
     */
    public void forEachEntry(int batchSize, BiConsumer<MemorySegment, MemorySegment> action) {
        forEachBatch(batchSize, (keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                action.accept(
                        keys.asSlice((long) i * keySize, keySize).asReadOnly(),
                        values.asSlice(i * valueBufferSize(), valueBufferSize()).asReadOnly());
            }
        });
    }

    /**
     * As {@link #forEachEntry}, a whole batch at a time: entry {@code i} has its key at
     * {@code i * keySize()} and its value at {@code i * valueBufferSize()}. For scans of big maps
     * that read a few fields in place.
     */
    public void forEachBatch(int batchSize, BatchAction action) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be positive: " + batchSize);
        }
        try (Arena arena = Arena.ofConfined()) {
            int size = Math.min(batchSize, Math.max(1, maxEntries));
            MemorySegment in = arena.allocate(batchTokenSize(), 8);
            MemorySegment out = arena.allocate(batchTokenSize(), 8);
            MemorySegment keys = arena.allocate((long) keySize * size, 8);
            MemorySegment values = arena.allocate(valueBufferSize() * size, 8);
            MemorySegment from = MemorySegment.NULL;
            boolean more = true;
            while (more) {
                Batch batch;
                try {
                    batch = lookupBatch(from, out, keys, values, size);
                } catch (BpfException e) {
                    if (from.equals(MemorySegment.NULL) && (e.errno() == Errno.ENOTSUPP
                            || e.errno() == Errno.EOPNOTSUPP)) {
                        forEachEntryByKey(action);
                        return;
                    }
                    if (e.errno() == Errno.ENOSPC && size < Math.max(maxEntries, 1)) {
                        // A hash bucket holds more than a batch: the kernel wants a bigger one.
                        size = Math.min(size * 2, Math.max(maxEntries, 1));
                        keys = arena.allocate((long) keySize * size, 8);
                        values = arena.allocate(valueBufferSize() * size, 8);
                        continue;
                    }
                    throw e;
                }
                action.accept(keys.asReadOnly(), values.asReadOnly(), batch.count());
                more = batch.more();
                MemorySegment.copy(out, 0, in, 0, in.byteSize());
                from = in;
            }
        }
    }

    /**
     * One bpf_map_lookup_batch: reads up to maxCount elements after the position in inToken
     * ({@link MemorySegment#NULL} to start) into keys and values, and the position to go on
     * from into outToken (both {@link #batchTokenSize()} bytes).
     */
    public Batch lookupBatch(MemorySegment inToken, MemorySegment outToken, MemorySegment keys,
            MemorySegment values, int maxCount) {
        checkBatchBuffers(keys, values, maxCount);
        if (outToken.byteSize() < batchTokenSize()
                || (!inToken.equals(MemorySegment.NULL) && inToken.byteSize() < batchTokenSize())) {
            throw new IllegalArgumentException("batch tokens of " + name + " need "
                    + batchTokenSize() + " bytes");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocateFrom(JAVA_INT, maxCount);
            boolean more = LibBpf.mapLookupBatch(fd(), inToken, outToken, keys, values, count,
                    batchOpts(arena, BPF_ANY), name);
            return new Batch(count.get(JAVA_INT, 0), more);
        }
    }

    /** Bytes of the position tokens of {@link #lookupBatch}. */
    public long batchTokenSize() {
        return Math.max(keySize, 8);
    }

    /**
     * Creates or replaces count keys with their values (both packed back to back). The
     * kernel takes no NOEXIST/EXIST for batches. On failure, the message says how many
     * elements were done.
     */
    public void updateBatch(MemorySegment keys, MemorySegment values, int count) {
        checkBatchBuffers(keys, values, count);
        try (Arena arena = Arena.ofConfined()) {
            LibBpf.mapUpdateBatch(fd(), keys, values, arena.allocateFrom(JAVA_INT, count),
                    batchOpts(arena, BPF_ANY), name);
        }
    }

    /** Deletes count keys (packed back to back); every one must exist (else ENOENT). */
    public void deleteBatch(MemorySegment keys, int count) {
        if (count < 0 || keys.byteSize() < (long) keySize * count) {
            throw new IllegalArgumentException(count + " keys of " + name + " need "
                    + (long) keySize * count + " bytes, the segment has " + keys.byteSize());
        }
        try (Arena arena = Arena.ofConfined()) {
            LibBpf.mapDeleteBatch(fd(), keys, arena.allocateFrom(JAVA_INT, count),
                    batchOpts(arena, BPF_ANY), name);
        }
    }

    // --- per-CPU values ------------------------------------------------------------------

    /** The value of one CPU inside a per-CPU value buffer. */
    public MemorySegment perCpuValue(MemorySegment values, int cpu) {
        if (cpu < 0 || cpu >= LibBpf.possibleCpus()) {
            throw new IndexOutOfBoundsException("cpu " + cpu + " of " + LibBpf.possibleCpus());
        }
        return values.asSlice(cpu * perCpuStride(), valueSize);
    }

    /** Sums the u64 at offset of every CPU's value: how per-CPU counters are read. */
    public long sumPerCpu(MemorySegment values, long offset) {
        long sum = 0;
        for (int cpu = 0; cpu < LibBpf.possibleCpus(); cpu++) {
            sum += values.get(JAVA_LONG, cpu * perCpuStride() + offset);
        }
        return sum;
    }

    /**
     * The per-CPU u64 counters of slots 0..count-1 of a per-CPU array, each summed over CPUs
     * (a slot that cannot be read counts 0).
     */
    public long[] sumPerCpuCounters(int count) {
        long[] out = new long[count];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(JAVA_INT);
            MemorySegment values = arena.allocate(valueBufferSize());
            for (int i = 0; i < count; i++) {
                key.set(JAVA_INT, 0, i);
                if (lookup(key, values)) {
                    out[i] = sumPerCpu(values, 0);
                }
            }
        }
        return out;
    }

    // --- pins ----------------------------------------------------------------------------

    /** Pins the map at path in bpffs; it then outlives this process. */
    public void pin(Path path) {
        LibBpf.objPin(fd(), path);
        pinPath = path;
    }

    /** Removes the pin (the map lives on while something else holds it). */
    public void unpin() {
        Path path = pinPath;
        if (path == null) {
            throw new IllegalStateException("map " + name + " is not pinned");
        }
        LibBpf.unlink(path);
        pinPath = null;
    }

    // --- before the object's load --------------------------------------------------------

    /** Changes the number of entries the map will be created with. */
    public void setMaxEntries(int entries) {
        requireOwnerNotLoaded("set max entries");
        LibBpf.mapSetMaxEntries(handle, entries, name);
        maxEntries = entries;
    }

    /**
     * Pins the map at path on load, or, when a compatible map is pinned there already,
     * uses that one instead of creating a new one: how a restarted agent adopts its maps
     * and how the XDP and TC objects share them.
     */
    public void setPinPath(Path path) {
        requireOwnerNotLoaded("set a pin path");
        LibBpf.mapSetPinPath(handle, path, name);
        pinPath = path;
    }

    /** Uses other (e.g. the same map of another, loaded object) instead of creating one. */
    public void reuse(BpfMap other) {
        requireOwnerNotLoaded("reuse a map");
        LibBpf.mapReuseFd(handle, other.fd(), name);
    }

    /** Closes the fd of a map this wrapper owns; maps of an object close with the object. */
    @Override
    public synchronized void close() {
        if (owner == null && fd >= 0) {
            int current = fd;
            fd = -1;
            LibBpf.closeFd(current, name);
        }
    }

    @Override
    public String toString() {
        return "BpfMap[" + name + ", type " + type + ", key " + keySize + ", value " + valueSize
                + ", max " + maxEntries + (fd >= 0 ? ", fd " + fd : "") + "]";
    }

    // --- called by BpfObject -------------------------------------------------------------

    void objectLoaded() {
        maxEntries = LibBpf.mapMaxEntries(handle);
        fd = LibBpf.mapFd(handle);
    }

    void objectClosed() {
        fd = -1;
    }

    // --- internals -----------------------------------------------------------------------

    /** One entry per batch, key by key: for maps without batch lookups. */
    private void forEachEntryByKey(BatchAction action) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = allocateValue(arena);
            forEachKey(key -> {
                if (lookup(key, value)) {
                    action.accept(key, value.asReadOnly(), 1);
                }
            });
        }
    }

    private MemorySegment batchOpts(Arena arena, long elementFlags) {
        MemorySegment opts = arena.allocate(BATCH_OPTS);
        opts.set(JAVA_LONG, 0, BATCH_OPTS.byteSize());
        opts.set(JAVA_LONG, 8, elementFlags);
        return opts;
    }

    private void checkKey(MemorySegment key) {
        if (key.byteSize() < keySize) {
            throw new IllegalArgumentException("key of " + name + " needs " + keySize
                    + " bytes, the segment has " + key.byteSize());
        }
    }

    private void checkValue(MemorySegment value) {
        if (value.byteSize() < valueBufferSize()) {
            throw new IllegalArgumentException("value of " + name + " needs " + valueBufferSize()
                    + " bytes" + (isPerCpu() ? " (per-CPU)" : "") + ", the segment has "
                    + value.byteSize());
        }
    }

    private void checkBatchBuffers(MemorySegment keys, MemorySegment values, int count) {
        if (count < 0 || keys.byteSize() < (long) keySize * count
                || values.byteSize() < valueBufferSize() * count) {
            throw new IllegalArgumentException(count + " elements of " + name + " need "
                    + (long) keySize * count + " key bytes and " + valueBufferSize() * count
                    + " value bytes; the segments have " + keys.byteSize() + " and "
                    + values.byteSize());
        }
    }

    private void requireOwnerNotLoaded(String what) {
        requireOwner(what);
        owner.checkNotLoaded(what + " of map " + name);
    }

    private void requireOwner(String what) {
        if (owner == null) {
            throw new IllegalStateException("cannot " + what + " of " + name
                    + ": it is not part of an object");
        }
        owner.checkOpen();
    }
}
