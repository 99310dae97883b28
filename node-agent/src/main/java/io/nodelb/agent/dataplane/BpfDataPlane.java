package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.AbiCheck;
import io.nodelb.agent.bpf.BpfLink;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfObject;
import io.nodelb.agent.bpf.BpfProgram;
import io.nodelb.agent.bpf.LibBpf;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * nodelb's programs loaded into the kernel: the XDP ingress and TC egress objects
 * sharing one set of maps, pinned under {@code <pin path>/v<layout version>/} so a
 * later agent of the same layout finds them (and one of a later layout migrates them:
 * {@link LayoutMigration}), and the links that attach them.
 */
public final class BpfDataPlane implements DataPlane {

    public static final String XDP_OBJECT = "io/nodelb/bpf/xdp_lb.bpf.o";
    public static final String TC_OBJECT = "io/nodelb/bpf/tc_lb.bpf.o";
    public static final String XDP_PROGRAM = "nlb_xdp";
    public static final String TC_PROGRAM = "nlb_tc_egress";
    private static final System.Logger LOG = System.getLogger(BpfDataPlane.class.getName());
    /** Where agent state lives by default: a tmpfs, gone at reboot like the pins and the sysctls. */
    public static final Path STATE_ROOT = Path.of("/run/nodelb");
    /** Every map of maps.h; both objects use the same instances. */
    static final String XDP_LINK_PREFIX = "link_xdp_";
    /**
     * A load setting named {@code <map>.max_entries} sizes that map instead of setting a .rodata
     * variable (tests load a small conntrack to flood it).
     */
    public static final String MAX_ENTRIES = ".max_entries";
    /** Conntrack entries read per call when flows are released. */
    private static final int RELEASE_BATCH = 8192;
    static final String TC_LINK_PREFIX = "link_tc_";
    static final List<String> MAPS = List.of("nlb_listeners", "nlb_routes", "nlb_timeouts", "nlb_groups", "nlb_tables",
            "nlb_backends", "nlb_be_stats", "nlb_conntrack", "nlb_ct_embryonic", "nlb_stats", "nlb_dports", "nlb_sports",
            "nlb_events",
            "nlb_ev_budget", "nlb_rate_limits", "nlb_rate_buckets",
            "nlb_pkt_buckets", "nlb_be_buckets");
    /** The table of unanswered TCP flows, apart from nlb_conntrack so that a flood churns only it. */
    public static final String EMBRYONIC_MAP = "nlb_ct_embryonic";
    /** The ring buffer of flow events (struct nlb_event records; read them with {@link io.nodelb.agent.bpf.RingBuffer}). */
    public static final String EVENTS_MAP = "nlb_events";
    /** The per-CPU budget of flow events and the counts of records not written ({@link #eventBudget()}). */
    public static final String EVENT_BUDGET_MAP = "nlb_ev_budget";
    /**
     * The read-only setting (a {@code rodata} entry of {@link #load}) of how many flow event records each CPU
     * may write per second; {@link #DEFAULT_EVENTS_PER_SEC} when not given.
     */
    public static final String EVENTS_PER_SEC = "cfg_events_per_sec";
    public static final long DEFAULT_EVENTS_PER_SEC = 20_000;

    private final Path pinDirectory;
    private final Path stateDirectory;
    private final DesiredState.Limits limits;
    private static final String ECHO_STATS_MAP = "nlb_echo_stats";
    private final BpfObject xdp;
    private final BpfObject tc;
    private final Map<String, BpfMap> maps = new LinkedHashMap<>();
    private final Map<String, List<BpfLink>> links = new LinkedHashMap<>();
    private final HostSettings hostSettings;
    private final FileChannel lock;
    /** Read-only settings given at load (tests shorten timeouts); the programs' defaults otherwise. */
    private final Map<String, Long> rodata;
    private final Maps writer = new Maps();
    private final int cpus = LibBpf.possibleCpus();
    /** What the load took, step by step; the agent adds its own start-up steps. */
    private final Phases startup;
    private boolean closed;
    /** How stale the flow table's entry count may be (nodelb_conntrack_entries). */
    static final java.time.Duration COUNT_MAX_AGE = java.time.Duration.ofSeconds(30);
    private long lastCount; // guarded by this
    private long lastEmbryonicCount; // nlb_ct_embryonic's, the same scan; guarded by this
    private long countedAt; // System.nanoTime() of that scan, guarded by this
    private boolean everCounted; // guarded by this
    /** What the layout migration at load did; null when there was none. */
    private LayoutMigration.Report migration;
    /** The XDP fast path's egress interfaces and counters (lib/fastpath.h). */
    private final XdpForward forward;

    /**
     * Which programs to load: the objects packaged with this agent, of its layout; tests load
     * another build of the same sources, as an agent of another layout would.
     */
    public record Build(String xdpObject, String tcObject, int layoutVersion) {
        public static final Build PACKAGED = new Build(XDP_OBJECT, TC_OBJECT, Abi.LAYOUT_VERSION);
    }

    private BpfDataPlane(Path pinDirectory, Path stateDirectory, Path procSys, FileChannel lock,
                         DesiredState.Limits limits, Map<String, Long> rodata, BpfObject xdp, BpfObject tc,
                         Phases startup) {
        this.startup = startup;
        this.rodata = Map.copyOf(rodata);
        this.pinDirectory = pinDirectory;
        this.stateDirectory = stateDirectory;
        this.lock = lock;
        this.limits = limits;
        this.xdp = xdp;
        this.tc = tc;
        this.hostSettings = HostSettings.system(procSys, stateDirectory);
        for (String name : MAPS) {
            maps.put(name, xdp.map(name));
        }
        this.forward = XdpForward.of(rodata, xdp.map(XdpForward.PORTS_MAP), xdp.map(XdpForward.STATS_MAP));
    }

    /** The default state directory of a pin path: {@code /run/nodelb/<pin path>}. */
    public static Path stateDirectoryFor(Path pinPath) {
        Path absolute = pinPath.toAbsolutePath().normalize();
        return STATE_ROOT.resolve(absolute.getRoot().relativize(absolute).toString());
    }

    /**
     * Loads both programs. Maps already pinned under the pin path by an agent of
     * this layout are reused, with the flows they hold; those of an older layout are
     * migrated into new ones.
     */
    public static BpfDataPlane load(Path pinPath, DesiredState.Limits limits) {
        return load(pinPath, limits, Map.of());
    }

    /** As {@link #load(Path, DesiredState.Limits)}, with extra read-only settings (tests shorten timeouts). */
    public static BpfDataPlane load(Path pinPath, DesiredState.Limits limits, Map<String, Long> rodata) {
        return load(pinPath, stateDirectoryFor(pinPath), limits, rodata);
    }

    /**
     * Loads both programs, keeping agent state (saved ids, original host settings, the lock
     * that keeps a second agent off this data plane) in {@code stateDirectory}.
     *
     * @throws AgentLock.AgentRunningException when another agent holds this data plane
     * @throws LayoutMigration.Refused when the pin path holds a data plane this agent cannot migrate
     */
    public static BpfDataPlane load(Path pinPath, Path stateDirectory, DesiredState.Limits limits,
                                    Map<String, Long> rodata) {
        return load(pinPath, stateDirectory, HostSettings.DEFAULT_PROC_SYS, limits, rodata);
    }

    /**
     * As {@link #load(Path, Path, DesiredState.Limits, Map)}, with the host's sysctls under
     * {@code procSys} (a container mounts the host's /proc/sys/net elsewhere).
     */
    public static BpfDataPlane load(Path pinPath, Path stateDirectory, Path procSys, DesiredState.Limits limits,
                                    Map<String, Long> rodata) {
        return load(pinPath, stateDirectory, procSys, limits, rodata, Build.PACKAGED, LayoutMigration.Observer.NONE);
    }

    /** A build with the host's own /proc/sys (tests load another layout's build this way). */
    public static BpfDataPlane load(Path pinPath, Path stateDirectory, DesiredState.Limits limits,
                                    Map<String, Long> rodata, Build build, LayoutMigration.Observer observer) {
        return load(pinPath, stateDirectory, HostSettings.DEFAULT_PROC_SYS, limits, rodata, build, observer);
    }

    /**
     * Loads a build. When the pin path holds the data plane of an older layout, it is migrated
     * with its live flows (see {@link LayoutMigration}); a newer one, or one that cannot be
     * migrated, is refused ({@link LayoutMigration.Refused}) and left as it is.
     *
     * @param observer told the moments of a migration (tests create flows there); {@link
     *     LayoutMigration.Observer#NONE} otherwise
     */
    public static BpfDataPlane load(Path pinPath, Path stateDirectory, Path procSys, DesiredState.Limits limits,
                                    Map<String, Long> rodata, Build build, LayoutMigration.Observer observer) {
        Path dir = LayoutMigration.layoutDirectory(pinPath, build.layoutVersion());
        FileChannel lock = AgentLock.acquire(stateDirectory, pinPath);
        java.util.OptionalInt older;
        Phases phases = new Phases();
        BpfObject xdp;
        try {
            older = LayoutMigration.olderLayout(pinPath, build.layoutVersion());
            xdp = phases.time("open xdp", () -> BpfObject.openResource(build.xdpObject()));
        } catch (RuntimeException e) {
            AgentLock.release(lock);
            throw e;
        }
        BpfObject tc = null;
        LayoutMigration migration = null;
        try {
            // Abi describes this agent's layout; another build's (tests) is checked by the agent of its layout.
            List<String> abi = build.layoutVersion() == Abi.LAYOUT_VERSION
                    ? phases.time("check abi", () -> AbiCheck.differences(xdp.btf(), false)) : List.of();
            if (!abi.isEmpty()) {
                throw new IllegalStateException("the packaged BPF object does not match this agent's ABI:\n  "
                        + String.join("\n  ", abi));
            }
            configure(xdp, limits, rodata);
            if (older.isPresent()) {
                migration = LayoutMigration.plan(pinPath, older.getAsInt(), xdp, build.layoutVersion());
            }
            try {
                Files.createDirectories(dir);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create pin directory " + dir, e);
            }
            for (String name : MAPS) {
                xdp.map(name).setPinPath(dir.resolve(name));
            }
            // Loading verifies the programs and creates the maps, or reuses those pinned.
            phases.time("load xdp", xdp::load);
            tc = phases.time("open tc", () -> BpfObject.openResource(build.tcObject()));
            configure(tc, limits, XdpForward.withoutXdpOnly(rodata));
            for (String name : MAPS) {
                tc.map(name).reuse(xdp.map(name));
            }
            phases.time("load tc", tc::load);
            BpfDataPlane dataPlane = new BpfDataPlane(dir, stateDirectory, procSys, lock, limits, rodata, xdp, tc,
                    phases);
            if (migration != null) {
                LayoutMigration planned = migration;
                dataPlane.migration = phases.time("migrate layout", () -> planned.run(dataPlane.maps,
                        dataPlane.xdpProgram(), dataPlane.tcProgram(), observer));
            }
            phases.time("adopt links", dataPlane::adoptLinks);
            dataPlane.recheckForward();
            return dataPlane;
        } catch (RuntimeException | Error e) {
            if (tc != null) {
                tc.close();
            }
            xdp.close();
            if (migration != null) {
                migration.abandon();
            }
            AgentLock.release(lock);
            throw e;
        } finally {
            if (migration != null) {
                migration.close();
            }
        }
    }

    /** The XDP fast path: which interfaces it sends to, what it did (lib/fastpath.h). */
    public XdpForward forward() {
        return forward;
    }

    /** Decides again which attached interfaces the fast path may send to (a veth peer's GRO or XDP may change). */
    public synchronized void recheckForward() {
        if (!closed) {
            forward.sync(links.keySet());
        }
    }

    /** What the layout migration at load carried, if there was one. */
    public java.util.Optional<LayoutMigration.Report> migration() {
        return java.util.Optional.ofNullable(migration);
    }

    /**
     * Takes over the links a previous agent pinned: each is switched to the programs this agent
     * loaded (one atomic link update, so packets never see a detached hook), or let go when its
     * interface is gone or was re-created under the same name.
     */
    private void adoptLinks() {
        Map<String, BpfLink> found = new java.util.TreeMap<>();
        try (var pins = Files.list(pinDirectory)) {
            for (Path pin : (Iterable<Path>) pins::iterator) {
                String name = pin.getFileName().toString();
                if (name.startsWith(XDP_LINK_PREFIX) || name.startsWith(TC_LINK_PREFIX)) {
                    found.put(name, BpfLink.openPinned(pin));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + pinDirectory, e);
        }
        Set<String> interfaces = new java.util.TreeSet<>();
        found.keySet().forEach(n -> interfaces.add(n.substring(n.indexOf('_', 5) + 1)));
        for (String ifname : interfaces) {
            BpfLink xdpLink = found.remove(XDP_LINK_PREFIX + ifname);
            BpfLink tcLink = found.remove(TC_LINK_PREFIX + ifname);
            int ifindex = currentIfindex(ifname);
            boolean usable = xdpLink != null && tcLink != null && ifindex > 0
                    && xdpLink.ifindex() == ifindex && tcLink.ifindex() == ifindex;
            if (!usable) {
                LOG.log(System.Logger.Level.INFO, "letting go of the links a previous agent left on " + ifname
                        + (ifindex == 0 ? " (the interface is gone)" : " (the interface was re-created)"));
                for (BpfLink l : java.util.Arrays.asList(xdpLink, tcLink)) {
                    if (l != null) {
                        detach(l);
                    }
                }
                hostSettings.restoreInterface(ifname);
                continue;
            }
            xdpLink.update(xdpProgram());
            tcLink.update(tcProgram());
            links.put(ifname, List.of(xdpLink, tcLink));
            LOG.log(System.Logger.Level.INFO, "adopted the links on " + ifname + "; they run programs "
                    + xdpProgram().tag() + " (xdp) and " + tcProgram().tag() + " (tc) now");
        }
    }

    private static int currentIfindex(String ifname) {
        try {
            return LibBpf.ifindex(ifname);
        } catch (RuntimeException e) {
            return 0;
        }
    }

    public Path stateDirectory() {
        return stateDirectory;
    }

    public HostSettings hostSettings() {
        return hostSettings;
    }

    /** The .rodata settings given at load beyond the limits' (tests shorten timeouts); empty: the programs' defaults. */
    public Map<String, Long> rodata() {
        return rodata;
    }

    public DesiredState.Limits limits() {
        return limits;
    }

    private static void configure(BpfObject object, DesiredState.Limits limits, Map<String, Long> rodata) {
        object.setRodata("cfg_table_size", limits.tableSize());
        // The programs look FullNAT replies up only on these ports (bpf/README.md).
        object.setRodata("cfg_nat_port_min", limits.snatPortMin());
        object.setRodata("cfg_nat_port_max", limits.snatPortMax());
        rodata.forEach((name, value) -> {
            if (name.endsWith(MAX_ENTRIES)) {
                object.map(name.substring(0, name.length() - MAX_ENTRIES.length())).setMaxEntries(Math.toIntExact(value));
            } else {
                object.setRodata(name, value);
            }
        });
        // One LRU list per CPU in nlb_ct_embryonic (maps.h): the kernel makes the size a multiple of the
        // possible CPUs; rounded up here, so that the capacity the agent reports is the kernel's.
        int cpus = LibBpf.possibleCpus();
        BpfMap embryonic = object.map(EMBRYONIC_MAP);
        embryonic.setMaxEntries(Math.ceilDiv(embryonic.maxEntries(), cpus) * cpus);
        // Said once at load: on a host that reports many more possible CPUs than it runs, each CPU's share of
        // the unanswered handshakes (what a SYN flood on one RX queue can push out) is smaller than it looks.
        LOG.log(System.Logger.Level.INFO, "{0} holds {1} unanswered TCP flows, {2} per CPU ({3} possible CPUs)",
                EMBRYONIC_MAP, embryonic.maxEntries(), embryonic.maxEntries() / cpus, cpus);
        object.map("nlb_tables").setMaxEntries(limits.maxGroups() * limits.tableSize());
        // Listener ids index nlb_timeouts and nlb_rate_limits; limits above the header's size grow the maps (never shrink them).
        int listeners = Math.max(Abi.MAX_LISTENERS, limits.maxListeners());
        object.map("nlb_listeners").setMaxEntries(listeners);
        object.map("nlb_timeouts").setMaxEntries(listeners);
        object.map("nlb_rate_limits").setMaxEntries(listeners);
    }

    /** The steps of {@link #load} and their durations; the caller may add its own. */
    public Phases startup() {
        return startup;
    }

    public Path pinDirectory() {
        return pinDirectory;
    }

    public BpfProgram xdpProgram() {
        return xdp.program(XDP_PROGRAM);
    }

    public BpfProgram tcProgram() {
        return tc.program(TC_PROGRAM);
    }

    /** A map by its name in maps.h, for tests and diagnostics. */
    /**
     * The flow tables: nlb_conntrack, then nlb_ct_embryonic (TCP flows whose backend has not
     * answered yet, bpf/README.md "Conntrack flood safety"). Each holds both entries of its flows.
     */
    public List<BpfMap> conntrackTables() {
        return List.of(map("nlb_conntrack"), map(EMBRYONIC_MAP));
    }

    public BpfMap map(String name) {
        BpfMap map = maps.get(name);
        if (map == null) {
            throw new IllegalArgumentException("no map " + name + "; the maps are " + MAPS);
        }
        return map;
    }

    /** The flow event budget's counts, summed over CPUs: records written, and not written (over budget, ring full). */
    public Abi.EventBudget eventBudget() {
        BpfMap budget = map(EVENT_BUDGET_MAP);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment values = budget.allocateValue(arena);
            if (!budget.lookup(key, values)) {
                return new Abi.EventBudget(0, 0, 0);
            }
            return Abi.EventBudget.sumPerCpu(values, cpus);
        }
    }

    @Override
    public DataPlaneMaps maps() {
        return writer;
    }

    /**
     * XDP on ingress and TC on egress of each interface, through links pinned as
     * {@code link_xdp_<if>} and {@code link_tc_<if>}. A link already pinned there
     * (left by an earlier agent) is adopted, never replaced; an interface that has
     * another XDP program fails with EBUSY rather than taking it over.
     */
    @Override
    public synchronized void attach(Set<String> interfaces) {
        for (String ifname : interfaces) {
            if (links.containsKey(ifname)) {
                continue;
            }
            int ifindex = LibBpf.ifindex(ifname);
            List<BpfLink> attached = new ArrayList<>();
            try {
                attached.add(linkFor(XDP_LINK_PREFIX + ifname, () -> xdpProgram().attachXdp(ifindex)));
                attached.add(linkFor(TC_LINK_PREFIX + ifname,
                        () -> tcProgram().attachTcx(ifindex, BpfProgram.TcxDirection.EGRESS)));
            } catch (RuntimeException e) {
                attached.forEach(BpfDataPlane::detach);
                if (e instanceof io.nodelb.agent.bpf.BpfException bpf && bpf.errno() == io.nodelb.agent.bpf.Errno.EBUSY) {
                    throw new IllegalStateException(ifname + " already runs an XDP program that is not this agent's"
                            + " (another nodelb agent with another --pin-path, or another tool's program);"
                            + " see `bpftool net show dev " + ifname + "`", e);
                }
                throw e;
            }
            links.put(ifname, attached);
        }
        for (String ifname : List.copyOf(links.keySet())) {
            if (!interfaces.contains(ifname)) {
                links.remove(ifname).forEach(BpfDataPlane::detach);
                hostSettings.restoreInterface(ifname);
            }
        }
        // Also for adopted links: a previous agent may have died before it set them.
        for (String ifname : links.keySet()) {
            hostSettings.relaxForNat(ifname);
        }
        forward.sync(links.keySet());
        if (!links.isEmpty()) {
            hostSettings.reservePorts(limits.snatPortMin(), limits.snatPortMax());
        }
    }

    private BpfLink linkFor(String pinName, java.util.function.Supplier<BpfLink> attach) {
        Path pin = pinDirectory.resolve(pinName);
        if (Files.exists(pin)) {
            return BpfLink.openPinned(pin);
        }
        BpfLink link = attach.get();
        link.pin(pin);
        return link;
    }

    private static void detach(BpfLink link) {
        try {
            link.unpin();
        } finally {
            link.detach();
            link.close();
        }
    }

    @Override
    public synchronized List<String> problems(Set<String> interfaces) {
        List<String> problems = new ArrayList<>();
        for (String ifname : interfaces) {
            List<BpfLink> attached = links.get(ifname);
            if (attached == null) {
                problems.add(ifname + ": programs not attached");
                continue;
            }
            int ifindex = currentIfindex(ifname);
            try {
                if (ifindex == 0 || attached.stream().anyMatch(l -> l.ifindex() != ifindex)) {
                    problems.add(ifname + ": the interface is gone or was re-created; its links are defunct");
                } else if (attached.get(0).programId() != xdpProgram().id()
                        || attached.get(1).programId() != tcProgram().id()) {
                    problems.add(ifname + ": the links run programs other than this agent's");
                }
            } catch (RuntimeException e) {
                problems.add(ifname + ": " + e.getMessage());
            }
        }
        return problems;
    }

    /** Live flows per backend id: forward entries within their idle timeout that have seen no FIN or RST. */
    public synchronized Map<Integer, Long> liveFlowsByBackend() {
        long[] flows = new long[maps.get("nlb_backends").maxEntries()];
        long now = System.nanoTime();
        long[] entries = forEachLiveForward(now, false, (keys, keyAt, values, at) -> {
            int backend = Abi.CtEntry.backendAt(values, at);
            if (backend >= 0 && backend < flows.length) {
                flows[backend]++;
            }
        });
        counted(entries[0], entries[1], now);
        Map<Integer, Long> out = new java.util.HashMap<>();
        for (int backend = 0; backend < flows.length; backend++) {
            if (flows[backend] > 0) {
                out.put(backend, flows[backend]);
            }
        }
        return out;
    }

    /**
     * The SNAT addresses of FullNAT flows within their idle timeout, closing ones included: their
     * replies still come back to those addresses (one scan of both flow tables).
     */
    synchronized Set<InetAddress> fullNatSourcesInUse() {
        Set<InetAddress> out = new java.util.HashSet<>();
        long now = System.nanoTime();
        long[] entries = forEachLiveForward(now, true, (keys, keyAt, values, at) -> {
            if ((Abi.CtEntry.flagsAt(values, at) & Abi.CT_FULLNAT) != 0) {
                out.add(Abi.CtEntry.natSourceAt(values, at, Abi.CtKey.familyAt(keys, keyAt)));
            }
        });
        counted(entries[0], entries[1], now);
        return out;
    }

    /** A forward entry found live by a scan, read in place: the batch's keys and values and its offsets. */
    private interface LiveForward {
        void accept(MemorySegment keys, long keyAt, MemorySegment values, long at);
    }

    /**
     * Calls {@code live} with each forward entry of both flow tables that is within its idle timeout
     * by the data plane's rule (the listener's timeouts, else the defaults), CLOSING ones only when
     * {@code closing}. Reply entries are the same flows again. The entries of closed flows stay in
     * the LRU tables until reused, hence the timeouts. A scan reads every entry (batches of 8,192,
     * a few fields read in place): its cost grows with the conntrack's size, see docs/benchmarks.md
     * ("Agent restart (adoption)").
     *
     * @param now CLOCK_MONOTONIC nanoseconds, the clock of bpf_ktime_get_coarse_ns
     * @return the entries read in nlb_conntrack and in nlb_ct_embryonic
     */
    private long[] forEachLiveForward(long now, boolean closing, LiveForward live) {
        Abi.Timeouts[] perListener = FlowTimeouts.perListener(maps.get("nlb_timeouts"));
        FlowTimeouts timeouts = FlowTimeouts.of(rodata);
        long[] entries = {0, 0}; // nlb_conntrack's, nlb_ct_embryonic's
        List<BpfMap> tables = conntrackTables();
        for (int t = 0; t < tables.size(); t++) {
            BpfMap conntrack = tables.get(t);
            long stride = conntrack.valueBufferSize();
            int keySize = conntrack.keySize();
            int table = t;
            conntrack.forEachBatch(8192, (keys, values, count) -> {
                entries[table] += count;
                for (int i = 0; i < count; i++) {
                    long at = i * stride;
                    int state = Abi.CtEntry.stateAt(values, at);
                    if ((Abi.CtEntry.flagsAt(values, at) & Abi.CT_REPLY) != 0 || (state == Abi.CT_CLOSING && !closing)) {
                        continue;
                    }
                    long idle = timeouts.timeoutNs(state, Abi.CtEntry.listenerAt(values, at), perListener);
                    if (now - Abi.CtEntry.lastSeenNsAt(values, at) < idle) {
                        live.accept(keys, (long) i * keySize, values, at);
                    }
                }
            });
        }
        return entries;
    }

    /**
     * Entries in the flow table, from the last scan of it (a node report's, see
     * {@link #liveFlowsByBackend}) when that is at most {@link #COUNT_MAX_AGE} old, else from a
     * scan of its own: a scan reads the whole table, so a scrape should not add one to every report's.
     */
    @Override
    public synchronized long conntrackEntries() {
        countIfOld();
        return lastCount;
    }

    /** Entries in nlb_ct_embryonic (unanswered TCP flows), from the same scan as {@link #conntrackEntries}. */
    @Override
    public synchronized long embryonicEntries() {
        countIfOld();
        return lastEmbryonicCount;
    }

    private void countIfOld() {
        long now = System.nanoTime();
        if (!everCounted || now - countedAt > COUNT_MAX_AGE.toNanos()) {
            long[] count = {0, 0};
            maps.get("nlb_conntrack").forEachEntry(8192, (k, v) -> count[0]++);
            maps.get(EMBRYONIC_MAP).forEachEntry(8192, (k, v) -> count[1]++);
            counted(count[0], count[1], now);
        }
    }

    private void counted(long entries, long embryonic, long at) {
        lastCount = entries;
        lastEmbryonicCount = embryonic;
        countedAt = at;
        everCounted = true;
    }

    @Override
    public long conntrackCapacity() {
        return maps.get("nlb_conntrack").maxEntries();
    }

    @Override
    public long embryonicCapacity() {
        return maps.get(EMBRYONIC_MAP).maxEntries();
    }

    /** The tags of the loaded programs (bpftool's "tag"): which code runs. */
    public Map<String, String> programTags() {
        return Map.of("xdp", xdpProgram().tag(), "tc", tcProgram().tag());
    }

    public synchronized Set<String> attachedInterfaces() {
        return Set.copyOf(links.keySet());
    }

    @Override
    public BackendCounters backendCounters(int backendId) {
        BpfMap stats = maps.get("nlb_be_stats");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
            key.set(ValueLayout.JAVA_INT, 0, backendId);
            MemorySegment values = arena.allocate(stats.valueBufferSize());
            if (!stats.lookup(key, values)) {
                return BackendCounters.ZERO;
            }
            Abi.BackendStats s = Abi.BackendStats.sumPerCpu(values, cpus);
            return new BackendCounters(s.packets(), s.bytes(), s.newFlows(), s.replyPackets(), s.replyBytes(),
                    s.resets(), s.unansweredSyns());
        }
    }

    @Override
    public long[] packetStats() {
        return maps.get("nlb_stats").sumPerCpuCounters(Abi.STAT_MAX);
    }

    /** The map of the XDP object this agent loaded (lib/icmp.h), not pinned. */
    @Override
    public long[] echoStats() {
        return xdp.map(ECHO_STATS_MAP).sumPerCpuCounters(Abi.Echo.values().length);
    }

    /**
     * Finish: lets go of this data plane and leaves it running. The programs stay attached
     * through their pinned links, the maps keep every flow, and the next agent adopts them.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            links.values().forEach(attached -> attached.forEach(BpfLink::close));
            links.clear();
            tc.close();
            xdp.close();
        } finally {
            AgentLock.release(lock);
        }
    }

    /**
     * Shutdown: detaches our programs, removes our pins and puts back the host settings (see
     * {@link Uninstaller}).
     */
    public synchronized List<String> uninstall() {
        close();
        return Uninstaller.uninstall(pinDirectory.getParent(), stateDirectory, hostSettings.procSys());
    }

    /**
     * What the maps and links hold now, in the applier's terms: after a restart this is the
     * state the first snapshot is diffed against, so whatever an earlier agent programmed and
     * is no longer wanted gets removed, and what is unchanged is not written again.
     */
    public DesiredState programmed() {
        return programmed(new Phases());
    }

    /** As {@link #programmed()}, adding the time each map's read took to {@code phases}. */
    public synchronized DesiredState programmed(Phases phases) {
        return MapReadBack.read(maps::get, limits.tableSize(), links.keySet(), phases);
    }

    /**
     * The read-back of {@link #programmed()} in the two parts an adopting applier asks for
     * (see {@link SnapshotApplier#adopting(DataPlaneMaps, DesiredState.Host, DesiredState.Limits,
     * SnapshotApplier.ReadBack, Path)}), each read's time added to {@code phases}.
     */
    public SnapshotApplier.ReadBack readBack(Phases phases) {
        return new SnapshotApplier.ReadBack() {
            @Override
            public DesiredState withoutTables() {
                synchronized (BpfDataPlane.this) {
                    return MapReadBack.readWithoutTables(maps::get, links.keySet(), phases);
                }
            }

            @Override
            public Map<Integer, int[]> tables(Set<Integer> groups) {
                return phases.time("read nlb_tables",
                        () -> MapReadBack.readTables(maps.get("nlb_tables"), limits.tableSize(), groups));
            }
        };
    }

    /** Writes through the Abi records: one map operation per call. */
    private final class Maps implements DataPlaneMaps {

        private void put(String map, Consumer<MemorySegment> key, Consumer<MemorySegment> value) {
            BpfMap m = maps.get(map);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment k = arena.allocate(m.keySize());
                key.accept(k);
                MemorySegment v = arena.allocate(m.valueSize());
                value.accept(v);
                m.update(k, v, BpfMap.BPF_ANY);
            }
        }

        private void delete(String map, Consumer<MemorySegment> key) {
            BpfMap m = maps.get(map);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment k = arena.allocate(m.keySize());
                key.accept(k);
                m.delete(k);
            }
        }

        private static Consumer<MemorySegment> index(int i) {
            return k -> k.set(ValueLayout.JAVA_INT, 0, i);
        }

        /** Array entries cannot be deleted: zero means empty. */
        private static void zero(MemorySegment v) {
            v.fill((byte) 0);
        }

        @Override
        public void putBackend(int id, Abi.Backend backend) {
            put("nlb_backends", index(id), backend::writeTo);
        }

        @Override
        public void deleteBackend(int id) {
            put("nlb_backends", index(id), Maps::zero);
        }

        @Override
        public void putTableSlots(int group, int from, int[] ids) {
            BpfMap table = maps.get("nlb_tables");
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment keys = arena.allocate(ValueLayout.JAVA_INT, ids.length);
                MemorySegment values = arena.allocate(ValueLayout.JAVA_INT, ids.length);
                int base = group * limits.tableSize() + from;
                for (int i = 0; i < ids.length; i++) {
                    keys.setAtIndex(ValueLayout.JAVA_INT, i, base + i);
                    values.setAtIndex(ValueLayout.JAVA_INT, i, ids[i]);
                }
                table.updateBatch(keys, values, ids.length);
            }
        }

        @Override
        public void putGroup(int id, Abi.Group group) {
            put("nlb_groups", index(id), group::writeTo);
        }

        @Override
        public void deleteGroup(int id) {
            put("nlb_groups", index(id), Maps::zero);
        }

        @Override
        public void putRoute(Abi.RouteKey key, int group) {
            put("nlb_routes", key::writeTo, new Abi.Route(group)::writeTo);
        }

        @Override
        public void deleteRoute(Abi.RouteKey key) {
            delete("nlb_routes", key::writeTo);
        }

        @Override
        public void putTimeouts(int listener, Abi.Timeouts timeouts) {
            put("nlb_timeouts", index(listener), timeouts::writeTo);
        }

        @Override
        public void deleteTimeouts(int listener) {
            put("nlb_timeouts", index(listener), Maps::zero);
        }

        @Override
        public void putRateLimit(int listener, Abi.RateLimit limit) {
            put("nlb_rate_limits", index(listener), limit::writeTo);
        }

        @Override
        public void deleteRateLimit(int listener) {
            put("nlb_rate_limits", index(listener), Maps::zero);
        }

        @Override
        public void putListener(Abi.ListenerKey key, Abi.Listener listener) {
            put("nlb_listeners", key::writeTo, listener::writeTo);
        }

        @Override
        public void deleteListener(Abi.ListenerKey key) {
            delete("nlb_listeners", key::writeTo);
        }

        @Override
        public void putPortWord(PortFilter.Direction direction, int word, long bits) {
            String map = direction == PortFilter.Direction.INGRESS ? "nlb_dports" : "nlb_sports";
            if (word >= maps.get(map).maxEntries()) {
                return; // a build without address words (LayoutMigrationIT's older layout) has no address filter
            }
            put(map, index(word), v -> v.set(ValueLayout.JAVA_LONG, 0, bits));
        }

        /**
         * One scan of each flow table in batches; each batch's matching keys are deleted right after it
         * is read (a batch read resumes at the next hash bucket, so deleting keys already read
         * disturbs nothing). A key the programs deleted or replaced meanwhile is skipped.
         */
        @Override
        public Set<InetAddress> fullNatSourcesInUse() {
            return BpfDataPlane.this.fullNatSourcesInUse();
        }

        @Override
        public long releaseFlows(Set<Integer> backends) {
            boolean[] removed = new boolean[maps.get("nlb_backends").maxEntries()];
            backends.forEach(id -> removed[id] = true);
            long deleted = 0;
            for (BpfMap conntrack : conntrackTables()) {
                deleted += releaseFlows(conntrack, removed);
            }
            return deleted;
        }

        private long releaseFlows(BpfMap conntrack, boolean[] removed) {
            int keySize = conntrack.keySize();
            long stride = conntrack.valueBufferSize();
            long[] deleted = {0};
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment[] doomed = {arena.allocate((long) keySize * RELEASE_BATCH, 8)};
                conntrack.forEachBatch(RELEASE_BATCH, (keys, values, count) -> {
                    if (doomed[0].byteSize() < (long) keySize * count) {
                        doomed[0] = arena.allocate((long) keySize * count, 8); // a bucket bigger than a batch
                    }
                    int n = 0;
                    for (int i = 0; i < count; i++) {
                        int backend = Abi.CtEntry.backendAt(values, i * stride);
                        if (backend >= 0 && backend < removed.length && removed[backend]) {
                            MemorySegment.copy(keys, (long) i * keySize, doomed[0], (long) n++ * keySize, keySize);
                        }
                    }
                    deleted[0] += deleteAll(conntrack, doomed[0], n);
                });
            }
            return deleted[0];
        }

        /** Deletes n packed keys in one call; when one is gone already, key by key. */
        private static int deleteAll(BpfMap map, MemorySegment keys, int n) {
            if (n == 0) {
                return 0;
            }
            try {
                map.deleteBatch(keys, n);
                return n;
            } catch (io.nodelb.agent.bpf.BpfException e) {
                if (e.errno() != io.nodelb.agent.bpf.Errno.ENOENT) {
                    throw e;
                }
            }
            int done = 0;
            for (int i = 0; i < n; i++) {
                if (map.delete(keys.asSlice((long) i * map.keySize(), map.keySize()))) {
                    done++;
                }
            }
            return done;
        }
    }
}
