package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The narrow, hand-written binding to libbpf 1.x (libbpf.so.1) and the few libc calls it
 * needs. One {@code static final MethodHandle} per C function, named exactly like it, each
 * called through {@code invokeExact} from a small static method that turns a failure into a
 * {@link BpfException}.
 *
 * <p>How failures are reported: libbpf 1.x returns {@code -errno} from its int functions (and
 * sets errno too), so those need no captured state. Functions that return NULL, and the libc
 * ones, report through errno only: their handles capture it with
 * {@code Linker.Option.captureCallState("errno")}.
 *
 * <p>libbpf's log (warnings, and the verifier log when a program is rejected) is routed
 * through a print callback to {@link System.Logger} "io.nodelb.agent.bpf.libbpf", and,
 * inside {@link #captureLog()}, also collected so the exception thrown by a failed open or
 * load carries it. libbpf 1.x is always "strict", so libbpf_set_strict_mode is not called.
 *
 * <p>x86-64 Linux only: the print callback passes its {@code va_list} on as a pointer.
 */
public final class LibBpf {
    private static final System.Logger LOG = System.getLogger("io.nodelb.agent.bpf.libbpf");

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBBPF =
            SymbolLookup.libraryLookup("libbpf.so.1", Arena.global());
    private static final SymbolLookup LIBC = LINKER.defaultLookup();

    /** Filled by handles made with {@link #capturingErrno}: passed as their first argument. */
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final long ERRNO_OFFSET =
            CALL_STATE.byteOffset(PathElement.groupElement("errno"));

    // enum bpf_attach_type values we use (the 6.1 uapi headers on build hosts predate tcx).
    static final int BPF_XDP = 37;
    static final int BPF_TCX_INGRESS = 46;
    static final int BPF_TCX_EGRESS = 47;

    // enum libbpf_print_level
    private static final int LIBBPF_WARN = 0;
    private static final int LIBBPF_INFO = 1;

    // --- handles, named after the C functions they call ---------------------------------

    // objects
    private static final MethodHandle bpf_object__open_mem =
            capturingErrno(LIBBPF, "bpf_object__open_mem", ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
    private static final MethodHandle bpf_object__load =
            plain(LIBBPF, "bpf_object__load", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_object__close =
            plainVoid(LIBBPF, "bpf_object__close", ADDRESS);
    // NULL from these two only ever means "no such name": no errno needed.
    private static final MethodHandle bpf_object__find_map_by_name =
            plain(LIBBPF, "bpf_object__find_map_by_name", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_object__find_program_by_name =
            plain(LIBBPF, "bpf_object__find_program_by_name", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_object__btf =
            plain(LIBBPF, "bpf_object__btf", ADDRESS, ADDRESS);

    // struct bpf_map, before and after load
    private static final MethodHandle bpf_map__name =
            plain(LIBBPF, "bpf_map__name", ADDRESS, ADDRESS);
    private static final MethodHandle bpf_map__type =
            plain(LIBBPF, "bpf_map__type", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map__key_size =
            plain(LIBBPF, "bpf_map__key_size", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map__value_size =
            plain(LIBBPF, "bpf_map__value_size", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map__max_entries =
            plain(LIBBPF, "bpf_map__max_entries", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map__set_max_entries =
            plain(LIBBPF, "bpf_map__set_max_entries", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle bpf_map__set_pin_path =
            plain(LIBBPF, "bpf_map__set_pin_path", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_map__reuse_fd =
            plain(LIBBPF, "bpf_map__reuse_fd", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle bpf_map__fd =
            plain(LIBBPF, "bpf_map__fd", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map__initial_value =
            plain(LIBBPF, "bpf_map__initial_value", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_map__btf_key_type_id =
            plain(LIBBPF, "bpf_map__btf_key_type_id", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map__btf_value_type_id =
            plain(LIBBPF, "bpf_map__btf_value_type_id", JAVA_INT, ADDRESS);

    // struct bpf_program
    private static final MethodHandle bpf_program__name =
            plain(LIBBPF, "bpf_program__name", ADDRESS, ADDRESS);
    private static final MethodHandle bpf_program__fd =
            plain(LIBBPF, "bpf_program__fd", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_program__set_log_level =
            plain(LIBBPF, "bpf_program__set_log_level", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle bpf_program__set_log_buf =
            plain(LIBBPF, "bpf_program__set_log_buf", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);

    // map fds: the bpf() syscall wrappers
    private static final MethodHandle bpf_map_create = plain(LIBBPF, "bpf_map_create",
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map_lookup_elem =
            plain(LIBBPF, "bpf_map_lookup_elem", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_map_update_elem =
            plain(LIBBPF, "bpf_map_update_elem", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle bpf_map_delete_elem =
            plain(LIBBPF, "bpf_map_delete_elem", JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_map_get_next_key =
            plain(LIBBPF, "bpf_map_get_next_key", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_map_lookup_batch = plain(LIBBPF, "bpf_map_lookup_batch",
            JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_map_update_batch = plain(LIBBPF, "bpf_map_update_batch",
            JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_map_delete_batch = plain(LIBBPF, "bpf_map_delete_batch",
            JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);

    // pins, info, links, test runs
    private static final MethodHandle bpf_obj_pin =
            plain(LIBBPF, "bpf_obj_pin", JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_obj_get =
            plain(LIBBPF, "bpf_obj_get", JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_obj_get_info_by_fd =
            plain(LIBBPF, "bpf_obj_get_info_by_fd", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle bpf_link_create =
            plain(LIBBPF, "bpf_link_create", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_link_detach =
            plain(LIBBPF, "bpf_link_detach", JAVA_INT, JAVA_INT);
    private static final MethodHandle bpf_link_update =
            plain(LIBBPF, "bpf_link_update", JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle bpf_prog_test_run_opts =
            plain(LIBBPF, "bpf_prog_test_run_opts", JAVA_INT, JAVA_INT, ADDRESS);

    // ring buffers (BPF_MAP_TYPE_RINGBUF consumers)
    private static final MethodHandle ring_buffer__new = capturingErrno(LIBBPF,
            "ring_buffer__new", ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle ring_buffer__poll =
            plain(LIBBPF, "ring_buffer__poll", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle ring_buffer__consume =
            plain(LIBBPF, "ring_buffer__consume", JAVA_INT, ADDRESS);
    private static final MethodHandle ring_buffer__epoll_fd =
            plain(LIBBPF, "ring_buffer__epoll_fd", JAVA_INT, ADDRESS);
    private static final MethodHandle ring_buffer__free =
            plainVoid(LIBBPF, "ring_buffer__free", ADDRESS);

    // BTF
    private static final MethodHandle btf__parse =
            capturingErrno(LIBBPF, "btf__parse", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle btf__parse_elf =
            capturingErrno(LIBBPF, "btf__parse_elf", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle btf__load_from_kernel_by_id =
            capturingErrno(LIBBPF, "btf__load_from_kernel_by_id", ADDRESS, JAVA_INT);
    private static final MethodHandle btf__find_by_name_kind =
            plain(LIBBPF, "btf__find_by_name_kind", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
    private static final MethodHandle btf__type_by_id =
            plain(LIBBPF, "btf__type_by_id", ADDRESS, ADDRESS, JAVA_INT);
    private static final MethodHandle btf__name_by_offset =
            plain(LIBBPF, "btf__name_by_offset", ADDRESS, ADDRESS, JAVA_INT);
    private static final MethodHandle btf__resolve_size =
            plain(LIBBPF, "btf__resolve_size", JAVA_LONG, ADDRESS, JAVA_INT);
    private static final MethodHandle btf__resolve_type =
            plain(LIBBPF, "btf__resolve_type", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle btf__type_cnt =
            plain(LIBBPF, "btf__type_cnt", JAVA_INT, ADDRESS);
    private static final MethodHandle btf__free = plainVoid(LIBBPF, "btf__free", ADDRESS);

    // misc libbpf
    private static final MethodHandle libbpf_strerror =
            plain(LIBBPF, "libbpf_strerror", JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle libbpf_num_possible_cpus =
            plain(LIBBPF, "libbpf_num_possible_cpus", JAVA_INT);
    private static final MethodHandle libbpf_set_print =
            plain(LIBBPF, "libbpf_set_print", ADDRESS, ADDRESS);

    // libc
    private static final MethodHandle if_nametoindex =
            capturingErrno(LIBC, "if_nametoindex", JAVA_INT, ADDRESS);
    private static final MethodHandle close = capturingErrno(LIBC, "close", JAVA_INT, JAVA_INT);
    private static final MethodHandle unlink = capturingErrno(LIBC, "unlink", JAVA_INT, ADDRESS);
    private static final MethodHandle vasprintf =
            plain(LIBC, "vasprintf", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle free = plainVoid(LIBC, "free", ADDRESS);

    /** Collects libbpf's output for the calling thread while a {@link LogCapture} is open. */
    private static final ThreadLocal<StringBuilder> CAPTURE = new ThreadLocal<>();

    private static final int POSSIBLE_CPUS;

    static {
        try {
            MethodHandle target = MethodHandles.lookup().findStatic(LibBpf.class, "onPrint",
                    MethodType.methodType(int.class, int.class, MemorySegment.class,
                            MemorySegment.class));
            // int (*libbpf_print_fn_t)(enum libbpf_print_level, const char *, va_list)
            MemorySegment callback = LINKER.upcallStub(target,
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), Arena.global());
            MemorySegment libbpfDefault = (MemorySegment) libbpf_set_print.invokeExact(callback);
        } catch (Throwable t) {
            throw new ExceptionInInitializerError(t);
        }
        POSSIBLE_CPUS = check(numPossibleCpusRaw(), "libbpf_num_possible_cpus", "this host");
    }

    private LibBpf() {}

    // --- public helpers ----------------------------------------------------------------

    /** The number of possible CPUs: how many values a per-CPU map holds per key. */
    public static int possibleCpus() {
        return POSSIBLE_CPUS;
    }

    /** The index of a network interface in the calling thread's network namespace. */
    public static int ifindex(String interfaceName) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int index = (int) if_nametoindex.invokeExact(state, arena.allocateFrom(interfaceName));
            if (index == 0) {
                throw new BpfException("if_nametoindex", interfaceName, errno(state), null);
            }
            return index;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** strerror for an errno, or libbpf's text for its own error codes (4000 and up). */
    public static String strerror(int errno) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(256);
            int ret = (int) libbpf_strerror.invokeExact(errno, buffer, buffer.byteSize());
            String text = buffer.getString(0);
            return ret == 0 || !text.isEmpty() ? text : "errno " + errno;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // --- log capture -------------------------------------------------------------------

    /**
     * Starts collecting libbpf's output on this thread, until closed. Exceptions thrown by
     * this class while a capture is open carry what was collected so far.
     */
    static LogCapture captureLog() {
        return new LogCapture();
    }

    static final class LogCapture implements AutoCloseable {
        private final StringBuilder previous = CAPTURE.get();
        private final StringBuilder text = new StringBuilder();

        private LogCapture() {
            CAPTURE.set(text);
        }

        String text() {
            return text.toString();
        }

        @Override
        public void close() {
            if (previous == null) {
                CAPTURE.remove();
            } else {
                previous.append(text);
                CAPTURE.set(previous);
            }
        }
    }

    private static String capturedLog() {
        StringBuilder text = CAPTURE.get();
        return text == null ? null : text.toString();
    }

    /** The libbpf print callback. Must never throw: an exception here would abort the JVM. */
    private static int onPrint(int level, MemorySegment format, MemorySegment args) {
        try {
            System.Logger.Level javaLevel = switch (level) {
                case LIBBPF_WARN -> System.Logger.Level.WARNING;
                case LIBBPF_INFO -> System.Logger.Level.INFO;
                default -> System.Logger.Level.DEBUG;
            };
            StringBuilder capture = CAPTURE.get();
            boolean wanted = LOG.isLoggable(javaLevel) || (capture != null && level <= LIBBPF_INFO);
            if (!wanted) {
                return 0; // skip formatting libbpf's chatty debug output nobody reads
            }
            String text = format(format, args);
            if (capture != null && level <= LIBBPF_INFO) {
                capture.append(text);
            }
            LOG.log(javaLevel, text.stripTrailing());
            return text.length();
        } catch (Throwable t) {
            return 0;
        }
    }

    /** Formats a printf format and its va_list with libc's vasprintf. */
    private static String format(MemorySegment format, MemorySegment args) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment result = arena.allocate(ADDRESS);
            int length = (int) vasprintf.invokeExact(result, format, args);
            if (length < 0) {
                return "(libbpf message could not be formatted)\n";
            }
            MemorySegment text = result.get(ADDRESS, 0);
            try {
                return text.reinterpret(length + 1L).getString(0);
            } finally {
                free.invokeExact(text);
            }
        }
    }

    // --- bpf_object ----------------------------------------------------------------------

    static MemorySegment objectOpenMem(MemorySegment elf, MemorySegment opts, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment obj = (MemorySegment) bpf_object__open_mem.invokeExact(
                    state, elf, elf.byteSize(), opts);
            return nonNull(obj, state, "bpf_object__open_mem", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void objectLoad(MemorySegment obj, String name) {
        try {
            check((int) bpf_object__load.invokeExact(obj), "bpf_object__load", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void objectClose(MemorySegment obj) {
        try {
            bpf_object__close.invokeExact(obj);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The map called name (".rodata" finds the read-only data), or NULL when there is none. */
    static MemorySegment objectFindMap(MemorySegment obj, String name) {
        try (Arena arena = Arena.ofConfined()) {
            return (MemorySegment) bpf_object__find_map_by_name.invokeExact(
                    obj, arena.allocateFrom(name));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The program called name (the C function name), or NULL when there is none. */
    static MemorySegment objectFindProgram(MemorySegment obj, String name) {
        try (Arena arena = Arena.ofConfined()) {
            return (MemorySegment) bpf_object__find_program_by_name.invokeExact(
                    obj, arena.allocateFrom(name));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The object's BTF (owned by the object), or NULL when it has none. */
    static MemorySegment objectBtf(MemorySegment obj) {
        try {
            return (MemorySegment) bpf_object__btf.invokeExact(obj);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // --- struct bpf_map ------------------------------------------------------------------

    static String mapName(MemorySegment map) {
        try {
            return string((MemorySegment) bpf_map__name.invokeExact(map));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapType(MemorySegment map) {
        try {
            return (int) bpf_map__type.invokeExact(map);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapKeySize(MemorySegment map) {
        try {
            return (int) bpf_map__key_size.invokeExact(map);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapValueSize(MemorySegment map) {
        try {
            return (int) bpf_map__value_size.invokeExact(map);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int mapMaxEntries(MemorySegment map) {
        try {
            return (int) bpf_map__max_entries.invokeExact(map);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void mapSetMaxEntries(MemorySegment map, int maxEntries, String name) {
        try {
            check((int) bpf_map__set_max_entries.invokeExact(map, maxEntries),
                    "bpf_map__set_max_entries", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void mapSetPinPath(MemorySegment map, Path path, String name) {
        try (Arena arena = Arena.ofConfined()) {
            check((int) bpf_map__set_pin_path.invokeExact(map, arena.allocateFrom(path.toString())),
                    "bpf_map__set_pin_path", name + " -> " + path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void mapReuseFd(MemorySegment map, int fd, String name) {
        try {
            check((int) bpf_map__reuse_fd.invokeExact(map, fd), "bpf_map__reuse_fd", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The map's fd, or a negative value before load. */
    static int mapFd(MemorySegment map) {
        try {
            return (int) bpf_map__fd.invokeExact(map);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The map's initial contents (writable until load), or NULL for maps without them. */
    static MemorySegment mapInitialValue(MemorySegment map) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_LONG);
            MemorySegment value = (MemorySegment) bpf_map__initial_value.invokeExact(map, size);
            return value.equals(MemorySegment.NULL)
                    ? value
                    : value.reinterpret(size.get(JAVA_LONG, 0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The BTF type id of the map's key in its object's BTF (0: none). */
    static int mapBtfKeyTypeId(MemorySegment map) {
        try {
            return (int) bpf_map__btf_key_type_id.invokeExact(map);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The BTF type id of the map's value in its object's BTF (0: none). */
    static int mapBtfValueTypeId(MemorySegment map) {
        try {
            return (int) bpf_map__btf_value_type_id.invokeExact(map);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // --- struct bpf_program --------------------------------------------------------------

    static String programName(MemorySegment program) {
        try {
            return string((MemorySegment) bpf_program__name.invokeExact(program));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The program's fd, or a negative value before load. */
    static int programFd(MemorySegment program) {
        try {
            return (int) bpf_program__fd.invokeExact(program);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Before load: the verifier writes its log at this level into buf (level 4: statistics only). */
    static void programSetLog(MemorySegment program, int level, MemorySegment buf, String name) {
        try {
            check((int) bpf_program__set_log_level.invokeExact(program, level), "bpf_program__set_log_level", name);
            check((int) bpf_program__set_log_buf.invokeExact(program, buf, buf.byteSize()),
                    "bpf_program__set_log_buf", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // --- map fds -------------------------------------------------------------------------

    static int mapCreate(int type, String name, int keySize, int valueSize, int maxEntries,
            MemorySegment opts) {
        try (Arena arena = Arena.ofConfined()) {
            return check((int) bpf_map_create.invokeExact(type, arena.allocateFrom(name),
                    keySize, valueSize, maxEntries, opts), "bpf_map_create", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Copies the value of key into value; false when the key is absent. */
    static boolean mapLookup(int fd, MemorySegment key, MemorySegment value, String name) {
        int ret;
        try {
            ret = (int) bpf_map_lookup_elem.invokeExact(fd, key, value);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return found(ret, "bpf_map_lookup_elem", name);
    }

    static void mapUpdate(int fd, MemorySegment key, MemorySegment value, long flags, String name) {
        int ret;
        try {
            ret = (int) bpf_map_update_elem.invokeExact(fd, key, value, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(ret, "bpf_map_update_elem", name);
    }

    /** Deletes key; false when it was absent. */
    static boolean mapDelete(int fd, MemorySegment key, String name) {
        int ret;
        try {
            ret = (int) bpf_map_delete_elem.invokeExact(fd, key);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return found(ret, "bpf_map_delete_elem", name);
    }

    /** Writes the key after key (the first one for NULL) into next; false at the end. */
    static boolean mapNextKey(int fd, MemorySegment key, MemorySegment next, String name) {
        int ret;
        try {
            ret = (int) bpf_map_get_next_key.invokeExact(fd, key, next);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return found(ret, "bpf_map_get_next_key", name);
    }

    /**
     * One bpf_map_lookup_batch call. count is in/out (u32). Returns false when the map is
     * exhausted (ENOENT: count then holds the last, possibly empty, chunk).
     */
    static boolean mapLookupBatch(int fd, MemorySegment inBatch, MemorySegment outBatch,
            MemorySegment keys, MemorySegment values, MemorySegment count, MemorySegment opts,
            String name) {
        int ret;
        try {
            ret = (int) bpf_map_lookup_batch.invokeExact(
                    fd, inBatch, outBatch, keys, values, count, opts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return found(ret, "bpf_map_lookup_batch", name);
    }

    static void mapUpdateBatch(int fd, MemorySegment keys, MemorySegment values,
            MemorySegment count, MemorySegment opts, String name) {
        int ret;
        try {
            ret = (int) bpf_map_update_batch.invokeExact(fd, keys, values, count, opts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        checkBatch(ret, count, "bpf_map_update_batch", name);
    }

    static void mapDeleteBatch(int fd, MemorySegment keys, MemorySegment count,
            MemorySegment opts, String name) {
        int ret;
        try {
            ret = (int) bpf_map_delete_batch.invokeExact(fd, keys, count, opts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        checkBatch(ret, count, "bpf_map_delete_batch", name);
    }

    // --- pins, info, links, test runs ----------------------------------------------------

    static void objPin(int fd, Path path) {
        try (Arena arena = Arena.ofConfined()) {
            check((int) bpf_obj_pin.invokeExact(fd, arena.allocateFrom(path.toString())),
                    "bpf_obj_pin", path.toString());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A new fd for the object pinned at path. */
    static int objGet(Path path) {
        try (Arena arena = Arena.ofConfined()) {
            return check((int) bpf_obj_get.invokeExact(arena.allocateFrom(path.toString())),
                    "bpf_obj_get", path.toString());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Fills info (a struct bpf_*_info prefix: the kernel copies at most info's size). */
    static void objGetInfo(int fd, MemorySegment info, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment length = arena.allocateFrom(JAVA_INT, (int) info.byteSize());
            check((int) bpf_obj_get_info_by_fd.invokeExact(fd, info, length),
                    "bpf_obj_get_info_by_fd", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A link fd attaching the program to target (an ifindex for XDP and tcx). */
    static int linkCreate(int programFd, int target, int attachType, MemorySegment opts,
            String name) {
        try {
            return check((int) bpf_link_create.invokeExact(programFd, target, attachType, opts),
                    "bpf_link_create", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void linkDetach(int linkFd, String name) {
        try {
            check((int) bpf_link_detach.invokeExact(linkFd), "bpf_link_detach", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Swaps the program a link runs, atomically for packets (BPF_LINK_UPDATE). */
    static void linkUpdate(int linkFd, int programFd, String name) {
        try {
            check((int) bpf_link_update.invokeExact(linkFd, programFd, MemorySegment.NULL), "bpf_link_update", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The kernel's description of a BPF fd from /proc/self/fdinfo ("prog_id", "prog_tag",
     * "link_id", "ifindex", ...): a text interface, so no struct layout of bpf_*_info to keep.
     */
    static java.util.Map<String, String> fdInfo(int fd) {
        try {
            java.util.Map<String, String> info = new java.util.LinkedHashMap<>();
            for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    info.put(line.substring(0, colon).strip(), line.substring(colon + 1).strip());
                }
            }
            return info;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/self/fdinfo/" + fd, e);
        }
    }

    static void progTestRun(int programFd, MemorySegment opts, String name) {
        int ret;
        try {
            ret = (int) bpf_prog_test_run_opts.invokeExact(programFd, opts);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(ret, "bpf_prog_test_run_opts", name);
    }

    // --- ring buffers --------------------------------------------------------------------

    /**
     * A ring buffer consumer of the map mapFd calling sampleCallback (an upcall stub of
     * {@code int (*)(void *ctx, void *data, size_t size)}) for each record. Never NULL.
     */
    static MemorySegment ringBufferNew(int mapFd, MemorySegment sampleCallback, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment rb = (MemorySegment) ring_buffer__new.invokeExact(
                    state, mapFd, sampleCallback, MemorySegment.NULL, MemorySegment.NULL);
            return nonNull(rb, state, "ring_buffer__new", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Waits up to timeoutMs (-1: forever) for records and consumes them: the number consumed,
     * or a negative errno (the callback's own negative return, or epoll_wait's error).
     */
    static int ringBufferPoll(MemorySegment rb, int timeoutMs) {
        try {
            return (int) ring_buffer__poll.invokeExact(rb, timeoutMs);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Consumes what is there without waiting: as {@link #ringBufferPoll}. */
    static int ringBufferConsume(MemorySegment rb) {
        try {
            return (int) ring_buffer__consume.invokeExact(rb);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int ringBufferEpollFd(MemorySegment rb) {
        try {
            return (int) ring_buffer__epoll_fd.invokeExact(rb);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void ringBufferFree(MemorySegment rb) {
        try {
            ring_buffer__free.invokeExact(rb);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // --- BTF -----------------------------------------------------------------------------

    /** btf__parse_elf when elfOnly, else btf__parse (raw BTF or ELF). Never NULL. */
    static MemorySegment btfParse(Path path, boolean elfOnly) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment file = arena.allocateFrom(path.toString());
            MemorySegment btf = elfOnly
                    ? (MemorySegment) btf__parse_elf.invokeExact(state, file, MemorySegment.NULL)
                    : (MemorySegment) btf__parse.invokeExact(state, file, MemorySegment.NULL);
            return nonNull(btf, state, elfOnly ? "btf__parse_elf" : "btf__parse", path.toString());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The BTF the kernel holds under id (e.g. the btf_id of a loaded map: the BTF of the object
     * that created it). Never NULL.
     */
    static MemorySegment btfLoadFromKernel(int id) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment btf = (MemorySegment) btf__load_from_kernel_by_id.invokeExact(state, id);
            return nonNull(btf, state, "btf__load_from_kernel_by_id", "BTF id " + id);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The type id, or a negative errno (-ENOENT when absent). */
    static int btfFindByNameKind(MemorySegment btf, String name, int kind) {
        try (Arena arena = Arena.ofConfined()) {
            return (int) btf__find_by_name_kind.invokeExact(btf, arena.allocateFrom(name), kind);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A struct btf_type (zero-length segment: the caller sizes it), or NULL for a bad id. */
    static MemorySegment btfTypeById(MemorySegment btf, int id) {
        try {
            return (MemorySegment) btf__type_by_id.invokeExact(btf, id);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static String btfNameByOffset(MemorySegment btf, int offset) {
        try {
            return string((MemorySegment) btf__name_by_offset.invokeExact(btf, offset));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long btfResolveSize(MemorySegment btf, int id, String name) {
        try {
            long size = (long) btf__resolve_size.invokeExact(btf, id);
            if (size < 0) {
                throw new BpfException("btf__resolve_size", name, (int) -size, capturedLog());
            }
            return size;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The id behind typedefs and const/volatile modifiers. */
    static int btfResolveType(MemorySegment btf, int id, String name) {
        try {
            return check((int) btf__resolve_type.invokeExact(btf, id), "btf__resolve_type", name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Number of type ids, counting the void id 0. */
    static int btfTypeCount(MemorySegment btf) {
        try {
            return (int) btf__type_cnt.invokeExact(btf);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void btfFree(MemorySegment btf) {
        try {
            btf__free.invokeExact(btf);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // --- libc ----------------------------------------------------------------------------

    static void closeFd(int fd, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            if ((int) close.invokeExact(state, fd) != 0) {
                throw new BpfException("close", name, errno(state), null);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Removes a file, here a pin in bpffs. */
    static void unlink(Path path) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            if ((int) unlink.invokeExact(state, arena.allocateFrom(path.toString())) != 0) {
                throw new BpfException("unlink", path.toString(), errno(state), null);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // --- plumbing ------------------------------------------------------------------------

    /** Checks /proc/self/fdinfo: bpf_obj_get opens maps, programs and links alike. */
    static void requireFdKind(int fd, Path path, String fdinfoKey, String kind) {
        try {
            boolean matches = Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd)).stream()
                    .anyMatch(line -> line.startsWith(fdinfoKey));
            if (!matches) {
                throw new BpfException("bpf_obj_get", path + " is not a BPF " + kind,
                        Errno.EINVAL, null);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/self/fdinfo/" + fd, e);
        }
    }

    /** Returns ret when it is not negative, else throws for errno -ret. */
    static int check(int ret, String operation, String subject) {
        if (ret < 0) {
            throw new BpfException(operation, subject, -ret, capturedLog());
        }
        return ret;
    }

    /** Like {@link #check}, but ENOENT is an answer ("not found"), not an error. */
    private static boolean found(int ret, String operation, String subject) {
        if (ret == -Errno.ENOENT) {
            return false;
        }
        check(ret, operation, subject);
        return true;
    }

    private static void checkBatch(int ret, MemorySegment count, String operation, String subject) {
        if (ret < 0) {
            throw new BpfException(operation,
                    subject + " (" + count.get(JAVA_INT, 0) + " elements done)", -ret,
                    capturedLog());
        }
    }

    private static MemorySegment nonNull(
            MemorySegment pointer, MemorySegment state, String operation, String subject) {
        if (pointer.equals(MemorySegment.NULL)) {
            int errno = errno(state);
            throw new BpfException(operation, subject, errno == 0 ? Errno.EINVAL : errno,
                    capturedLog());
        }
        return pointer;
    }

    private static int errno(MemorySegment state) {
        return state.get(JAVA_INT, ERRNO_OFFSET);
    }

    private static int numPossibleCpusRaw() {
        try {
            return (int) libbpf_num_possible_cpus.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A NUL-terminated C string, or null for NULL. */
    static String string(MemorySegment cString) {
        return cString.equals(MemorySegment.NULL)
                ? null
                : cString.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** invokeExact declares Throwable; ours are runtime exceptions and errors, passed on. */
    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) {
            throw e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("unexpected checked exception from a native call", t);
    }

    private static MethodHandle plain(
            SymbolLookup library, String name, MemoryLayout result,
            MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(library, name), FunctionDescriptor.of(result, args));
    }

    private static MethodHandle plainVoid(
            SymbolLookup library, String name, MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(library, name), FunctionDescriptor.ofVoid(args));
    }

    /** A handle whose first argument is a {@link #CALL_STATE} segment receiving errno. */
    private static MethodHandle capturingErrno(
            SymbolLookup library, String name, MemoryLayout result,
            MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(library, name), FunctionDescriptor.of(result, args),
                Linker.Option.captureCallState("errno"));
    }

    private static MemorySegment symbol(SymbolLookup library, String name) {
        return library.find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                name + " not found (libbpf.so.1 1.1 or newer and glibc are required)"));
    }
}
