package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;

/**
 * A program of a {@link BpfObject}: attach it through a link, or run it on a packet with
 * BPF_PROG_TEST_RUN. Valid while its object is open.
 */
public final class BpfProgram {

    /** How an XDP program is attached (the XDP_FLAGS_*_MODE link flags). */
    public enum XdpMode {
        /** The driver's native XDP where it has one, else generic. */
        AUTO(0),
        /** Generic (skb) XDP: works on every device, slower. */
        GENERIC(1 << 1),
        /** Native (driver) XDP: fails on a device without it. */
        NATIVE(1 << 2);

        private final int flags;

        XdpMode(int flags) {
            this.flags = flags;
        }
    }

    /** The tcx hook of an interface. */
    public enum TcxDirection {
        INGRESS(LibBpf.BPF_TCX_INGRESS),
        EGRESS(LibBpf.BPF_TCX_EGRESS);

        private final int attachType;

        TcxDirection(int attachType) {
            this.attachType = attachType;
        }
    }

    /**
     * What a test run returned.
     *
     * @param retval the program's return value (XDP_PASS is 2)
     * @param durationNs average run time per repetition, as the kernel measured it
     * @param output the packet after the program ran
     */
    public record TestRunResult(int retval, long durationNs, byte[] output) {}

    /** struct bpf_test_run_opts of libbpf 1.1 (80 bytes). */
    private static final StructLayout TEST_RUN_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            ADDRESS.withName("data_in"),
            ADDRESS.withName("data_out"),
            JAVA_INT.withName("data_size_in"),
            JAVA_INT.withName("data_size_out"),
            ADDRESS.withName("ctx_in"),
            ADDRESS.withName("ctx_out"),
            JAVA_INT.withName("ctx_size_in"),
            JAVA_INT.withName("ctx_size_out"),
            JAVA_INT.withName("retval"),
            JAVA_INT.withName("repeat"),
            JAVA_INT.withName("duration"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("cpu"),
            JAVA_INT.withName("batch_size"));
    private static final long DATA_IN = offset(TEST_RUN_OPTS, "data_in");
    private static final long DATA_OUT = offset(TEST_RUN_OPTS, "data_out");
    private static final long DATA_SIZE_IN = offset(TEST_RUN_OPTS, "data_size_in");
    private static final long DATA_SIZE_OUT = offset(TEST_RUN_OPTS, "data_size_out");
    private static final long RETVAL = offset(TEST_RUN_OPTS, "retval");
    private static final long REPEAT = offset(TEST_RUN_OPTS, "repeat");
    private static final long DURATION = offset(TEST_RUN_OPTS, "duration");
    private static final long CTX_IN = offset(TEST_RUN_OPTS, "ctx_in");
    private static final long CTX_SIZE_IN = offset(TEST_RUN_OPTS, "ctx_size_in");
    /** struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex (u32 each). */
    private static final int XDP_MD_SIZE = 24;

    /** struct bpf_link_create_opts of libbpf 1.1 (64 bytes; we only set flags). */
    private static final StructLayout LINK_CREATE_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            JAVA_INT.withName("flags"),
            MemoryLayout.paddingLayout(4),
            ADDRESS.withName("iter_info"),
            JAVA_INT.withName("iter_info_len"),
            JAVA_INT.withName("target_btf_id"),
            MemoryLayout.paddingLayout(32)); // the union of per-attach-type fields

    /** Room for what XDP can add to a packet (bpf_xdp_adjust_head/tail) in test runs. */
    private static final int OUTPUT_SLACK = 512;
    private static final int MIN_BUFFER = 4096;

    private final BpfObject owner;
    private final MemorySegment handle;
    private final String name;
    private volatile int fd = -1;

    private static final byte[] NO_OUTPUT = new byte[0];
    /** BPF_LOG_STATS: the verifier's log says only what it processed. */
    private static final int LOG_STATS = 4;

    private MemorySegment verifierLog;

    // Test-run buffers, made once and reused: a benchmark calls testRun in a tight loop.
    private MemorySegment testOpts;
    private MemorySegment testIn;
    private MemorySegment testCtx;
    private MemorySegment testOut;

    BpfProgram(BpfObject owner, MemorySegment handle, String name) {
        this.owner = owner;
        this.handle = handle;
        this.name = owner.name() + "." + name;
        if (owner.isLoaded()) {
            objectLoaded();
        }
    }

    /** "object.program". */
    public String name() {
        return name;
    }

    /** The program's fd. Throws before its object is loaded or after it is closed. */
    public int fd() {
        int current = fd;
        if (current < 0) {
            throw new IllegalStateException("program " + name
                    + (owner.isClosed() ? " is closed" : " is not loaded"));
        }
        return current;
    }

    /** The kernel's id of the loaded program. */
    public int id() {
        return Integer.parseInt(LibBpf.fdInfo(fd()).getOrDefault("prog_id", "0"));
    }

    /** The tag of the loaded program: a hash of its instructions, as bpftool shows it. */
    public String tag() {
        return LibBpf.fdInfo(fd()).getOrDefault("prog_tag", "");
    }

    /**
     * Attaches to the XDP hook of ifindex through a BPF link. A link never replaces what is
     * there: if the interface already has an XDP program (link or not) this fails with
     * EBUSY. The link detaches when closed, unless it is pinned.
     */
    public BpfLink attachXdp(int ifindex, XdpMode mode) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = MemorySegment.NULL;
            if (mode.flags != 0) {
                opts = arena.allocate(LINK_CREATE_OPTS);
                opts.set(JAVA_LONG, 0, LINK_CREATE_OPTS.byteSize());
                opts.set(JAVA_INT, offset(LINK_CREATE_OPTS, "flags"), mode.flags);
            }
            String where = name + " -> xdp of ifindex " + ifindex;
            try {
                return BpfLink.madeBy(owner, LibBpf.linkCreate(fd(), ifindex, LibBpf.BPF_XDP, opts, where), where);
            } catch (BpfException e) {
                if (e.errno() != Errno.ERANGE) {
                    throw e;
                }
                // The driver's reason goes to netlink's extended ack, which bpf() has not: say the usual one.
                throw new BpfException(e.operation(), where + ", whose MTU (or its veth peer's) is more than its"
                        + " driver takes with an XDP program", e.errno(), e.libbpfLog());
            }
        }
    }

    public BpfLink attachXdp(int ifindex) {
        return attachXdp(ifindex, XdpMode.AUTO);
    }

    /**
     * Attaches a tc (SCHED_CLS) program to the tcx ingress or egress hook of ifindex through
     * a BPF link (kernel 6.6+). Other tcx programs stay; ours runs after them. The link
     * detaches when closed, unless it is pinned.
     */
    public BpfLink attachTcx(int ifindex, TcxDirection direction) {
        String where = name + " -> tcx " + direction.name().toLowerCase() + " of ifindex " + ifindex;
        int link = LibBpf.linkCreate(fd(), ifindex, direction.attachType, MemorySegment.NULL, where);
        return BpfLink.madeBy(owner, link, where);
    }

    /**
     * Attaches an sk_skb stream-verdict program to a SOCKMAP or SOCKHASH through a BPF link
     * (kernel 6.10+): each socket in the map has its data judged by this program.
     */
    public BpfLink attachSockmapVerdict(BpfMap map) {
        String where = name + " -> stream verdict of map " + map.name();
        int link = LibBpf.linkCreate(fd(), map.fd(), BPF_SK_SKB_STREAM_VERDICT, MemorySegment.NULL, where);
        return BpfLink.madeBy(owner, link, where);
    }

    /** enum bpf_attach_type */
    private static final int BPF_SK_SKB_STREAM_VERDICT = 5;

    /** Before load: keeps the verifier's statistics of this program, for {@link #verifierStats()}. */
    public synchronized void keepVerifierStats() {
        if (owner.isLoaded()) {
            throw new IllegalStateException(name + ": the verifier's statistics must be asked for before load");
        }
        verifierLog = owner.arena().allocate(4096);
        LibBpf.programSetLog(handle, LOG_STATS, verifierLog, name);
    }

    /**
     * After load: the verifier's statistics line, e.g. "processed 567945 insns (limit 1000000)
     * max_states_per_insn 84 ...", or "" when {@link #keepVerifierStats()} was not called.
     */
    public synchronized String verifierStats() {
        if (verifierLog == null) {
            return "";
        }
        return verifierLog.getString(0).lines().filter(l -> l.startsWith("processed ")).findFirst().orElse("");
    }

    /** Runs the program once on packet (BPF_PROG_TEST_RUN). */
    public TestRunResult testRun(byte[] packet) {
        return testRun(packet, 1);
    }

    /**
     * Runs the program repeat times on packet and returns its verdict, the mean time per run
     * and the packet as the program left it. Reuses its native buffers between calls.
     */
    public TestRunResult testRun(byte[] packet, int repeat) {
        return testRun(packet, repeat, true);
    }

    /**
     * As {@link #testRun(byte[], int)}; without keepOutput the result's output is empty and the
     * call allocates nothing for it (a benchmark loop that streams fresh memory through the caches
     * on every call would measure its own allocations).
     */
    public synchronized TestRunResult testRun(byte[] packet, int repeat, boolean keepOutput) {
        if (repeat < 1) {
            throw new IllegalArgumentException("repeat must be at least 1: " + repeat);
        }
        int programFd = fd();
        ensureTestBuffers(packet.length);
        MemorySegment.copy(packet, 0, testIn, JAVA_BYTE, 0, packet.length);
        testOpts.set(JAVA_INT, DATA_SIZE_IN, packet.length);
        // Always bound the output: 0 would let the kernel write any length.
        testOpts.set(JAVA_INT, DATA_SIZE_OUT, (int) testOut.byteSize());
        testOpts.set(JAVA_INT, REPEAT, repeat);
        testOpts.set(JAVA_INT, RETVAL, 0);
        testOpts.set(JAVA_INT, DURATION, 0);
        LibBpf.progTestRun(programFd, testOpts, name);
        int outputLength = testOpts.get(JAVA_INT, DATA_SIZE_OUT);
        byte[] output = keepOutput ? testOut.asSlice(0, outputLength).toArray(JAVA_BYTE) : NO_OUTPUT;
        return new TestRunResult(testOpts.get(JAVA_INT, RETVAL),
                Integer.toUnsignedLong(testOpts.get(JAVA_INT, DURATION)), output);
    }

    /**
     * As {@link #testRun(byte[])} for an XDP program, the packet arriving on the interface with this
     * index (in the caller's network namespace, rx queue 0) instead of that namespace's loopback.
     */
    public synchronized TestRunResult testRunXdp(byte[] packet, int ingressIfindex) {
        ensureTestBuffers(packet.length);
        if (testCtx == null) {
            testCtx = owner.arena().allocate(XDP_MD_SIZE, 4);
        }
        testCtx.fill((byte) 0);
        testCtx.set(JAVA_INT, 4, packet.length); // data_end: the whole frame
        testCtx.set(JAVA_INT, 12, ingressIfindex);
        testOpts.set(ADDRESS, CTX_IN, testCtx);
        testOpts.set(JAVA_INT, CTX_SIZE_IN, XDP_MD_SIZE);
        try {
            return testRun(packet, 1, true);
        } finally {
            testOpts.set(ADDRESS, CTX_IN, MemorySegment.NULL);
            testOpts.set(JAVA_INT, CTX_SIZE_IN, 0);
        }
    }

    @Override
    public String toString() {
        return "BpfProgram[" + name + (fd >= 0 ? ", fd " + fd : "") + "]";
    }

    // --- called by BpfObject -------------------------------------------------------------

    void objectLoaded() {
        fd = LibBpf.programFd(handle);
    }

    void objectClosed() {
        fd = -1;
    }

    private void ensureTestBuffers(int packetLength) {
        if (testIn != null && testIn.byteSize() >= packetLength) {
            return;
        }
        Arena arena = owner.arena(); // lives as long as the program; grows only by doubling
        long size = Math.max(MIN_BUFFER, Long.highestOneBit(packetLength) * 2);
        if (testOpts == null) {
            testOpts = arena.allocate(TEST_RUN_OPTS);
            testOpts.set(JAVA_LONG, 0, TEST_RUN_OPTS.byteSize());
        }
        testIn = arena.allocate(size, 8);
        testOut = arena.allocate(size + OUTPUT_SLACK, 8);
        testOpts.set(ADDRESS, DATA_IN, testIn);
        testOpts.set(ADDRESS, DATA_OUT, testOut);
    }

    private static long offset(StructLayout layout, String field) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }
}
