package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * A BPF ELF object (its programs and maps) opened with libbpf, from bytes: the objects ship
 * inside the agent's jar. The life of an object:
 *
 * <ol>
 *   <li>{@link #openResource} / {@link #open};
 *   <li>configure: {@link #setRodata} ({@code const volatile} variables), and per map
 *       {@link BpfMap#setMaxEntries}, {@link BpfMap#setPinPath}, {@link BpfMap#reuse};
 *   <li>{@link #load}: maps are created (or reused), programs verified and loaded;
 *   <li>use {@link #map} and {@link #program}: map operations, attach, test runs;
 *   <li>{@link #close}: links made from its programs are closed (last first), then the
 *       programs and maps, then the native memory. Pinned maps and links stay in the kernel.
 * </ol>
 *
 * Loading and closing are for one thread; maps and programs may be used from several once
 * loaded, but not while the object is being closed.
 */
public final class BpfObject implements AutoCloseable {

    /** struct bpf_object_open_opts of libbpf 1.1 (80 bytes; sz says which fields we know). */
    private static final StructLayout OPEN_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            ADDRESS.withName("object_name"),
            JAVA_BOOLEAN.withName("relaxed_maps"),
            MemoryLayout.paddingLayout(7),
            ADDRESS.withName("pin_root_path"),
            MemoryLayout.paddingLayout(8), // the removed attach_prog_fd, and alignment
            ADDRESS.withName("kconfig"),
            ADDRESS.withName("btf_custom_path"),
            ADDRESS.withName("kernel_log_buf"),
            JAVA_LONG.withName("kernel_log_size"),
            JAVA_INT.withName("kernel_log_level"),
            MemoryLayout.paddingLayout(4));

    private final String name;
    private final Arena arena;
    private final MemorySegment object;
    private final Map<String, BpfMap> maps = new HashMap<>();
    private final Map<String, BpfProgram> programs = new HashMap<>();
    /** Things made from this object that must go before it, closed last-made first. */
    private final Deque<AutoCloseable> dependents = new ArrayDeque<>();
    private Btf btf;
    private volatile boolean loaded;
    private volatile boolean closed;

    private BpfObject(String name, Arena arena, MemorySegment object) {
        this.name = name;
        this.arena = arena;
        this.object = object;
    }

    /**
     * Opens an object from the class path, e.g. "io/nodelb/bpf/xdp_lb.bpf.o". Its name is
     * the file name without ".bpf.o" / ".o".
     */
    public static BpfObject openResource(String resource) {
        ClassLoader loader = BpfObject.class.getClassLoader();
        try (InputStream in = loader.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no BPF object " + resource + " on the class path");
            }
            return open(objectName(resource), in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
    }

    /** Opens an object file. */
    public static BpfObject openFile(Path file) {
        try {
            return open(objectName(file.getFileName().toString()), Files.readAllBytes(file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /**
     * Opens an object from the bytes of its ELF file. name names it in messages and prefixes
     * the kernel names of its internal maps (".rodata" and the like).
     */
    public static BpfObject open(String name, byte[] elf) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a BPF object needs a name");
        }
        Arena arena = Arena.ofShared();
        try (LibBpf.LogCapture log = LibBpf.captureLog()) {
            // libbpf keeps pointing at the ELF bytes after open: they live in the arena.
            MemorySegment bytes = arena.allocate(elf.length);
            MemorySegment.copy(elf, 0, bytes, JAVA_BYTE, 0, elf.length);
            MemorySegment opts = arena.allocate(OPEN_OPTS);
            opts.set(JAVA_LONG, offset("sz"), OPEN_OPTS.byteSize());
            opts.set(ADDRESS, offset("object_name"), arena.allocateFrom(name));
            return new BpfObject(name, arena, LibBpf.objectOpenMem(bytes, opts, name));
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    public String name() {
        return name;
    }

    public boolean isLoaded() {
        return loaded;
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * The map called name, as declared in the C source (".rodata" and other internal maps
     * by their section name). Throws ENOENT when the object has none.
     */
    public synchronized BpfMap map(String mapName) {
        checkOpen();
        return maps.computeIfAbsent(mapName, n -> {
            MemorySegment map = LibBpf.objectFindMap(object, n);
            if (map.equals(MemorySegment.NULL)) {
                throw new BpfException("bpf_object__find_map_by_name", name + ": " + n,
                        Errno.ENOENT, null);
            }
            return new BpfMap(this, map, n);
        });
    }

    /** The program called name (its C function name). Throws ENOENT when there is none. */
    public synchronized BpfProgram program(String programName) {
        checkOpen();
        return programs.computeIfAbsent(programName, n -> {
            MemorySegment program = LibBpf.objectFindProgram(object, n);
            if (program.equals(MemorySegment.NULL)) {
                throw new BpfException("bpf_object__find_program_by_name", name + ": " + n,
                        Errno.ENOENT, null);
            }
            return new BpfProgram(this, program, n);
        });
    }

    /** The object's BTF, valid while the object is open. */
    public synchronized Btf btf() {
        checkOpen();
        if (btf == null) {
            MemorySegment pointer = LibBpf.objectBtf(object);
            if (pointer.equals(MemorySegment.NULL)) {
                throw new IllegalStateException(name + " has no BTF: compile it with clang -g");
            }
            btf = Btf.ownedBy(this, pointer);
        }
        return btf;
    }

    /**
     * Sets a {@code const volatile} integer variable of ".rodata" before load. The width is
     * the variable's (1, 2, 4 or 8 bytes); value must fit it, signed or unsigned.
     */
    public synchronized void setRodata(String variable, long value) {
        Btf.Variable v = rodataVariable(variable);
        MemorySegment at = rodata().asSlice(v.offset(), v.size());
        switch ((int) v.size()) {
            case 1 -> at.set(JAVA_BYTE, 0, (byte) fit(variable, value, 8));
            case 2 -> at.set(JAVA_SHORT, 0, (short) fit(variable, value, 16));
            case 4 -> at.set(JAVA_INT, 0, (int) fit(variable, value, 32));
            case 8 -> at.set(JAVA_LONG, 0, value);
            default -> throw new IllegalArgumentException(name + ": " + variable + " is "
                    + v.size() + " bytes, not an integer: set it with setRodata(String, byte[])");
        }
    }

    /** Sets a ".rodata" variable of any type, byte for byte, before load. */
    public synchronized void setRodata(String variable, byte[] value) {
        Btf.Variable v = rodataVariable(variable);
        if (value.length != v.size()) {
            throw new IllegalArgumentException(name + ": " + variable + " is " + v.size()
                    + " bytes, the value " + value.length);
        }
        MemorySegment.copy(value, 0, rodata(), JAVA_BYTE, v.offset(), value.length);
    }

    /**
     * Creates the maps (or reuses pinned or given ones) and loads the programs. A program the
     * verifier rejects fails with a {@link BpfException} whose message ends with the
     * verifier's log.
     */
    public synchronized void load() {
        checkOpen();
        if (loaded) {
            throw new IllegalStateException(name + " is already loaded");
        }
        try (LibBpf.LogCapture log = LibBpf.captureLog()) {
            LibBpf.objectLoad(object, name);
        }
        loaded = true;
        maps.values().forEach(BpfMap::objectLoaded);
        programs.values().forEach(BpfProgram::objectLoaded);
    }

    /** Closes what was made from this object (last first), then the object, then its memory. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException failure = null;
        while (!dependents.isEmpty()) {
            try {
                dependents.pop().close();
            } catch (Exception e) {
                if (failure == null) {
                    failure = new IllegalStateException("closing " + name + " failed", e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        maps.values().forEach(BpfMap::objectClosed);
        programs.values().forEach(BpfProgram::objectClosed);
        LibBpf.objectClose(object);
        arena.close();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "BpfObject[" + name + (closed ? ", closed" : loaded ? ", loaded" : ", open") + "]";
    }

    // --- for BpfMap and BpfProgram -------------------------------------------------------

    Arena arena() {
        return arena;
    }

    /** Registers something to close before this object; pushed last, closed first. */
    synchronized void addDependent(AutoCloseable dependent) {
        checkOpen();
        dependents.push(dependent);
    }

    synchronized void removeDependent(AutoCloseable dependent) {
        dependents.remove(dependent);
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
    }

    void checkNotLoaded(String what) {
        checkOpen();
        if (loaded) {
            throw new IllegalStateException("cannot " + what + " of " + name + " after load");
        }
    }

    // --- internals -----------------------------------------------------------------------

    private MemorySegment rodata() {
        checkNotLoaded("set .rodata"); // after load the map is frozen and mapped read-only
        MemorySegment map = LibBpf.objectFindMap(object, ".rodata");
        MemorySegment data = map.equals(MemorySegment.NULL)
                ? MemorySegment.NULL
                : LibBpf.mapInitialValue(map);
        if (data.equals(MemorySegment.NULL)) {
            throw new IllegalStateException(name + " has no .rodata: declare the variable"
                    + " 'const volatile' and use it in a program");
        }
        return data;
    }

    private Btf.Variable rodataVariable(String variable) {
        checkNotLoaded("set .rodata");
        return btf().sectionVariables(".rodata").stream()
                .filter(v -> v.name().equals(variable))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException(
                        name + " has no .rodata variable " + variable));
    }

    private long fit(String variable, long value, int bits) {
        long min = -(1L << (bits - 1));
        long max = (1L << bits) - 1;
        if (value < min || value > max) {
            throw new IllegalArgumentException(
                    value + " does not fit " + name + ": " + variable + " (" + bits + " bits)");
        }
        return value;
    }

    private static long offset(String field) {
        return OPEN_OPTS.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    private static String objectName(String file) {
        String base = file.substring(file.lastIndexOf('/') + 1);
        if (base.endsWith(".bpf.o")) {
            return base.substring(0, base.length() - ".bpf.o".length());
        }
        return base.endsWith(".o") ? base.substring(0, base.length() - 2) : base;
    }
}
