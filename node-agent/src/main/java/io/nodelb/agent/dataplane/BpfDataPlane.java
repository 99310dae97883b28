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
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * later agent of the same layout finds them, and the links that attach them.
 */
public final class BpfDataPlane implements DataPlane {

    public static final String XDP_OBJECT = "io/nodelb/bpf/xdp_lb.bpf.o";
    public static final String TC_OBJECT = "io/nodelb/bpf/tc_lb.bpf.o";
    public static final String XDP_PROGRAM = "nlb_xdp";
    public static final String TC_PROGRAM = "nlb_tc_egress";
    private static final System.Logger LOG = System.getLogger(BpfDataPlane.class.getName());
    private static final Path RESERVED_PORTS = Path.of("/proc/sys/net/ipv4/ip_local_reserved_ports");
    /** Every map of maps.h; both objects use the same instances. */
    static final List<String> MAPS = List.of("nlb_listeners", "nlb_routes", "nlb_timeouts", "nlb_groups", "nlb_tables",
            "nlb_backends", "nlb_be_stats", "nlb_conntrack", "nlb_stats", "nlb_dports", "nlb_sports");

    private final Path pinDirectory;
    private final DesiredState.Limits limits;
    private final BpfObject xdp;
    private final BpfObject tc;
    private final Map<String, BpfMap> maps = new LinkedHashMap<>();
    private final Map<String, List<BpfLink>> links = new LinkedHashMap<>();
    /** Sysctls of each attached interface before we changed them, to put back on detach. */
    private final Map<String, Map<String, String>> sysctlsBefore = new LinkedHashMap<>();
    /** ip_local_reserved_ports before we added the FullNAT port range; null while we added nothing. */
    private String reservedPortsBefore;
    private final Maps writer = new Maps();
    private final int cpus = LibBpf.possibleCpus();
    private boolean closed;

    private BpfDataPlane(Path pinDirectory, DesiredState.Limits limits, BpfObject xdp, BpfObject tc) {
        this.pinDirectory = pinDirectory;
        this.limits = limits;
        this.xdp = xdp;
        this.tc = tc;
        for (String name : MAPS) {
            maps.put(name, xdp.map(name));
        }
    }

    /**
     * Loads both programs. Maps already pinned under the pin path by an agent of
     * this layout are reused, with the flows they hold.
     */
    public static BpfDataPlane load(Path pinPath, DesiredState.Limits limits) {
        return load(pinPath, limits, Map.of());
    }

    /** As {@link #load(Path, DesiredState.Limits)}, with extra read-only settings (tests shorten timeouts). */
    public static BpfDataPlane load(Path pinPath, DesiredState.Limits limits, Map<String, Long> rodata) {
        Path dir = pinPath.resolve("v" + Abi.LAYOUT_VERSION);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create pin directory " + dir, e);
        }
        BpfObject xdp = BpfObject.openResource(XDP_OBJECT);
        BpfObject tc = null;
        try {
            List<String> abi = AbiCheck.differences(xdp.btf(), false);
            if (!abi.isEmpty()) {
                throw new IllegalStateException("the packaged BPF object does not match this agent's ABI:\n  "
                        + String.join("\n  ", abi));
            }
            configure(xdp, limits, rodata);
            for (String name : MAPS) {
                xdp.map(name).setPinPath(dir.resolve(name));
            }
            xdp.load();
            tc = BpfObject.openResource(TC_OBJECT);
            configure(tc, limits, rodata);
            for (String name : MAPS) {
                tc.map(name).reuse(xdp.map(name));
            }
            tc.load();
            return new BpfDataPlane(dir, limits, xdp, tc);
        } catch (RuntimeException e) {
            if (tc != null) {
                tc.close();
            }
            xdp.close();
            throw e;
        }
    }

    private static void configure(BpfObject object, DesiredState.Limits limits, Map<String, Long> rodata) {
        object.setRodata("cfg_table_size", limits.tableSize());
        rodata.forEach(object::setRodata);
        object.map("nlb_tables").setMaxEntries(limits.maxGroups() * limits.tableSize());
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
    public BpfMap map(String name) {
        BpfMap map = maps.get(name);
        if (map == null) {
            throw new IllegalArgumentException("no map " + name + "; the maps are " + MAPS);
        }
        return map;
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
                attached.add(linkFor("link_xdp_" + ifname, () -> xdpProgram().attachXdp(ifindex)));
                attached.add(linkFor("link_tc_" + ifname,
                        () -> tcProgram().attachTcx(ifindex, BpfProgram.TcxDirection.EGRESS)));
            } catch (RuntimeException e) {
                attached.forEach(BpfDataPlane::detach);
                throw e;
            }
            links.put(ifname, attached);
            sysctlsBefore.put(ifname, relaxForNat(ifname));
            reserveNatPorts();
        }
        for (String ifname : List.copyOf(links.keySet())) {
            if (!interfaces.contains(ifname)) {
                links.remove(ifname).forEach(BpfDataPlane::detach);
                restore(ifname, sysctlsBefore.remove(ifname));
            }
        }
    }

    /**
     * IPv4 settings FullNAT needs on an interface where XDP rewrites: a forward
     * packet leaves XDP with the SNAT address (this node's own) as its source, which
     * input drops unless accept_local is set; a reply leaves it with the VIP as its
     * source, which strict reverse-path filtering drops (loose is fine).
     *
     * @return the values they had, to put back on detach
     */
    private static Map<String, String> relaxForNat(String ifname) {
        Map<String, String> before = new LinkedHashMap<>();
        String acceptLocal = sysctl(ifname, "accept_local", "1");
        if (acceptLocal != null) {
            before.put("accept_local", acceptLocal);
        }
        String rpFilter = sysctl(ifname, "rp_filter", null);
        if ("1".equals(rpFilter)) {
            before.put("rp_filter", sysctl(ifname, "rp_filter", "2"));
        }
        return before;
    }

    /**
     * Keeps this node's own connections off the FullNAT source ports: a local socket on one
     * of them could share its 5-tuple with a translated flow, whose reply entry would then
     * take the socket's packets. Reserved ports are skipped by ephemeral port allocation
     * only; an explicit bind still works.
     */
    private void reserveNatPorts() {
        if (reservedPortsBefore != null) {
            return;
        }
        try {
            String before = Files.readString(RESERVED_PORTS).strip();
            if (!PortRanges.covers(before, limits.snatPortMin(), limits.snatPortMax())) {
                String range = limits.snatPortMin() + "-" + limits.snatPortMax();
                Files.writeString(RESERVED_PORTS, before.isEmpty() ? range : before + "," + range);
                reservedPortsBefore = before;
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot reserve the FullNAT source ports "
                    + limits.snatPortMin() + "-" + limits.snatPortMax() + " in " + RESERVED_PORTS
                    + " (" + e.getMessage() + "); local connections may take them");
        }
    }

    private void releaseNatPorts() {
        if (reservedPortsBefore != null) {
            try {
                // An empty write is ignored; a newline clears the list.
                Files.writeString(RESERVED_PORTS, reservedPortsBefore + "\n");
            } catch (IOException e) {
                // The namespace is gone, and the setting with it.
            }
            reservedPortsBefore = null;
        }
    }

    private static void restore(String ifname, Map<String, String> before) {
        if (before != null) {
            before.forEach((knob, value) -> sysctl(ifname, knob, value));
        }
    }

    /**
     * Reads {@code net.ipv4.conf.<if>.<knob>} and, when {@code value} is not null, sets it.
     *
     * @return the value it had, or null when the interface is gone (its namespace was deleted)
     */
    private static String sysctl(String ifname, String knob, String value) {
        Path file = Path.of("/proc/sys/net/ipv4/conf", ifname, knob);
        try {
            String before = Files.readString(file).strip();
            if (value != null && !value.equals(before)) {
                Files.writeString(file, value);
            }
            return before;
        } catch (IOException e) {
            return null;
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
                return new BackendCounters(0, 0, 0, 0, 0);
            }
            Abi.BackendStats s = Abi.BackendStats.sumPerCpu(values, cpus);
            return new BackendCounters(s.packets(), s.bytes(), s.newFlows(), s.replyPackets(), s.replyBytes());
        }
    }

    @Override
    public long[] packetStats() {
        BpfMap stats = maps.get("nlb_stats");
        long[] out = new long[Abi.STAT_MAX];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment values = arena.allocate(stats.valueBufferSize());
            for (int i = 0; i < out.length; i++) {
                key.set(ValueLayout.JAVA_INT, 0, i);
                if (stats.lookup(key, values)) {
                    out[i] = stats.sumPerCpu(values, 0);
                }
            }
        }
        return out;
    }

    /** Detaches every link, unloads the programs and removes every pin of this data plane. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<RuntimeException> failures = new ArrayList<>();
        for (var attached : links.entrySet()) {
            for (BpfLink link : attached.getValue()) {
                try {
                    detach(link);
                } catch (RuntimeException e) {
                    failures.add(e);
                }
            }
            restore(attached.getKey(), sysctlsBefore.get(attached.getKey()));
        }
        links.clear();
        releaseNatPorts();
        for (BpfMap map : maps.values()) {
            try {
                map.unpin();
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
        tc.close();
        xdp.close();
        try {
            Files.deleteIfExists(pinDirectory);
            Files.deleteIfExists(pinDirectory.getParent());
        } catch (IOException e) {
            failures.add(new UncheckedIOException("could not remove " + pinDirectory, e));
        }
        if (!failures.isEmpty()) {
            RuntimeException first = failures.getFirst();
            failures.stream().skip(1).forEach(first::addSuppressed);
            throw first;
        }
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
            put(map, index(word), v -> v.set(ValueLayout.JAVA_LONG, 0, bits));
        }
    }
}
