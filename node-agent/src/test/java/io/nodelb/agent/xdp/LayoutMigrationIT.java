package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.PSH;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.HOST;
import static io.nodelb.agent.xdp.LoadedDataPlane.LIMITS;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfLink;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfObject;
import io.nodelb.agent.bpf.BpfProgram;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.LayoutMigration;
import io.nodelb.agent.dataplane.NodeProgrammer;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.dataplane.Uninstaller;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.NetnsThread;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An upgrade across a real layout change keeps live flows: "an agent of layout 0" (the same
 * sources built with the header's NLB_TEST_OLD_LAYOUT conntrack: fields reordered, backend
 * narrower, pad missing, hint extra) serves flows and holds links on a veth pair in a network
 * namespace of the test's own; then this agent (layout 1) starts on the same pin path. Its
 * programs must translate the old flows' next packets exactly as the old ones did, having found
 * their entries, and hold the links alone.
 */
@Privileged
class LayoutMigrationIT {

    /** The old agent's build, from src/test/bpf/Makefile. */
    private static final BpfDataPlane.Build OLD = new BpfDataPlane.Build("bpf/old-layout/xdp_lb.bpf.o",
            "bpf/old-layout/tc_lb.bpf.o", 0);
    private static final Pattern XDP_PROG = Pattern.compile("prog/xdp id (\\d+)");
    /** How far the programs' coarse clock may lag CLOCK_MONOTONIC: a tick, with room. */
    private static final long CLOCK_SLACK_NS = 50_000_000L;
    /** Packets of a flow that the new programs saw between the link swap and the second copy. */
    private static final int NEW_PROGRAMS_PACKETS = 5;
    private static final Pattern LINK_PROG = Pattern.compile("\"prog_id\":(\\d+)");

    private Path pinPath;
    private Path state;
    private String netns;
    private boolean netnsCreated;
    private NetnsThread inside;
    private final List<BpfDataPlane> open = new ArrayList<>();

    /** A flow as a data plane translated its first packet: the rewrite every later packet must get. */
    record Live(StandardListener listener, Flow flow, InetAddress natSource, int natSourcePort,
                InetAddress natDestination, int natDestinationPort, int forwardPackets, int replyPackets) {

        byte[] forward(int flags) {
            return flow.forward(flags);
        }

        byte[] forwardTranslated(int flags) {
            return Frames.frame(flow.proto(), flags, natSource.getHostAddress(), natSourcePort,
                    natDestination.getHostAddress(), natDestinationPort);
        }

        /** A packet from the backend back to the flow's (client or SNAT) address. */
        byte[] reply(int flags) {
            return Frames.frame(flow.proto(), flags, natDestination.getHostAddress(), natDestinationPort,
                    natSource.getHostAddress(), natSourcePort);
        }

        byte[] replyTranslated(int flags) {
            return Frames.frame(flow.proto(), flags, flow.vip(), flow.vipPort(), flow.client(), flow.clientPort());
        }
    }

    @BeforeEach
    void paths() throws IOException {
        String id = ProcessHandle.current().pid() + "-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        pinPath = Path.of("/sys/fs/bpf", "nodelb-test-" + id);
        state = Files.createTempDirectory("nodelb-migration-");
        netns = "nlbmig-" + id;
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            for (BpfDataPlane dataPlane : open) {
                dataPlane.close();
            }
            if (Files.exists(pinPath)) {
                // In the namespace: the host settings it puts back are the namespace's.
                if (inside != null) {
                    inside.call(() -> Uninstaller.uninstall(pinPath, state));
                } else {
                    Uninstaller.uninstall(pinPath, state);
                }
            }
        } finally {
            removeTree(pinPath);
            removeTree(state);
            if (inside != null) {
                inside.close();
            }
            if (netnsCreated) {
                Command.result("ip", "netns", "del", netns);
            }
        }
    }

    @Test
    void anUpgradeAcrossALayoutChangeKeepsLiveFlowsAndTheLinks() throws Exception {
        createNetns();
        NodeSnapshot snapshot = versioned(Snapshots.standard());

        OldAgent old = startOldAgent(snapshot);
        List<Live> flows = old.flows();
        SnapshotApplier oldApplier = old.applier();
        int oldXdp = old.xdpProgram();
        int oldTc = old.tcProgram();
        Path v0 = pinPath.resolve("v0");
        assertThat(linkPins(v0)).hasSize(4);

        // The new agent. Between its first conntrack copy and the link swap the old programs still
        // run: two new flows arrive, and flow 0 sees one more packet a clock tick later. Between the
        // swap and the second copy the new programs see the first new flow again: their entry is
        // newer than the old one and must stay.
        List<Live> meanwhile = new ArrayList<>();
        AtomicLong linksOnOldProgramsAfterSwap = new AtomicLong(-1);
        Live touched = flows.getFirst();
        long loadStarted = System.nanoTime();
        BpfDataPlane current;
        try (BpfObject oldPrograms = oldProgramsOn(v0)) {
            BpfProgram oldXdpAgain = oldPrograms.program(BpfDataPlane.XDP_PROGRAM);
            current = inside(() -> BpfDataPlane.load(pinPath, state, LIMITS, Map.of(), BpfDataPlane.Build.PACKAGED,
                    new LayoutMigration.Observer() {
                        @Override
                        public void beforeLinkSwap() {
                            meanwhile.add(open(oldXdpAgain, null, new StandardListener(false, Abi.IPPROTO_TCP,
                                    NatMode.FULL_NAT), 42000, false));
                            meanwhile.add(open(oldXdpAgain, null, new StandardListener(true, Abi.IPPROTO_UDP,
                                    NatMode.DNAT), 42001, false));
                            sleepATick();
                            assertThat(oldXdpAgain.testRun(touched.forward(ACK | PSH)).retval()).isEqualTo(XDP_PASS);
                        }

                        @Override
                        public void afterLinkSwap() {
                            // Before the second copy: from here on the old programs write nothing.
                            linksOnOldProgramsAfterSwap.set(linksRunning(bpftoolLinks(), oldXdp)
                                    + linksRunning(bpftoolLinks(), oldTc));
                            sleepATick();
                            seenByTheNewPrograms(meanwhile.getFirst(), oldApplier);
                        }
                    }));
        }
        long loadEnded = System.nanoTime();
        long loadMillis = (loadEnded - loadStarted) / 1_000_000;
        open.add(current);
        System.out.println("layout migration: load with migration took " + loadMillis + " ms; "
                + current.migration().orElseThrow());

        // What it says it did.
        LayoutMigration.Report report = current.migration().orElseThrow();
        int entries = 2 * (flows.size() + meanwhile.size());
        Live keptNewer = meanwhile.getFirst();
        assertThat(linksOnOldProgramsAfterSwap).as("links on the old programs when the second copy starts")
                .hasValue(0);
        assertThat(report.fromLayout()).isZero();
        assertThat(report.toLayout()).isEqualTo(Abi.LAYOUT_VERSION);
        assertThat(report.migrated()).as("both entries of every flow but the one the new programs wrote")
                .isEqualTo(entries - 1);
        assertThat(report.converted()).as("the layouts differ: every entry by field name").isEqualTo(entries - 1);
        assertThat(report.afterSwap()).as("the meanwhile flows' entries but that one, and flow 0's forward entry")
                .isEqualTo(2 * meanwhile.size() - 1 + 1);
        assertThat(report.keptNewer()).isEqualTo(1);
        assertThat(report.dropped()).isEmpty();
        assertThat(report.links()).isEqualTo(4);
        assertThat(report.defunctLinks()).isZero();
        assertThat(report.configuration()).isEqualTo(configurationEntries(current));
        assertThat(report.notes()).contains("nlb_conntrack value.hint dropped", "nlb_conntrack value.pad zeroed",
                "nlb_conntrack value.backend (2 to 4 bytes) widened", "nlb_stats reset", "nlb_be_stats reset");

        // The old layout's pins are gone; the links are pinned under v1 and run the new programs, alone.
        assertThat(v0).doesNotExist();
        try (Stream<Path> layouts = Files.list(pinPath)) {
            assertThat(layouts.toList()).containsExactly(pinPath.resolve("v" + Abi.LAYOUT_VERSION));
        }
        for (String ifname : List.of("eth0", "eth1")) {
            assertThat(programOfPinnedLink("link_xdp_" + ifname)).isEqualTo(current.xdpProgram().id());
            assertThat(programOfPinnedLink("link_tc_" + ifname)).isEqualTo(current.tcProgram().id());
            Matcher xdp = XDP_PROG.matcher(Command.run("ip", "-n", netns, "link", "show", "dev", ifname));
            assertThat(xdp.find()).as("an XDP program on " + ifname).isTrue();
            assertThat(Integer.parseInt(xdp.group(1))).isEqualTo(current.xdpProgram().id());
        }
        String links = bpftoolLinks();
        assertThat(linksRunning(links, current.xdpProgram().id())).as("XDP links").isEqualTo(2);
        assertThat(linksRunning(links, current.tcProgram().id())).as("tcx links").isEqualTo(2);
        assertThat(linksRunning(links, oldXdp) + linksRunning(links, oldTc)).as("links left on the old programs")
                .isZero();
        assertThat(inside(() -> current.problems(java.util.Set.of("eth0", "eth1")))).isEmpty();

        // Every carried flow: its entry as the old programs left it, then its next packets translated
        // exactly as before (same backend, same FullNAT port), found in conntrack, not created anew.
        // Counters start again (the old ones are not carried). Only our own verdicts: the kernel's stray
        // packets on the veths (IPv6 neighbour discovery) may already count as not ours.
        long[] fresh = current.packetStats();
        assertThat(List.of(fresh[Abi.Stat.CT_HIT.value()], fresh[Abi.Stat.CT_REPLY.value()],
                fresh[Abi.Stat.NEW_FLOW.value()])).as("counters start again").containsOnly(0L);
        List<Live> all = new ArrayList<>(flows);
        all.addAll(meanwhile);
        for (Live live : all) {
            Abi.CtEntry carried = entry(current, live.flow().forwardKey());
            assertThat(carried).as("forward entry of %s", live.flow()).isNotNull();
            int forwardPackets = live == keptNewer ? NEW_PROGRAMS_PACKETS
                    : live.forwardPackets() + (live == touched ? 1 : 0);
            assertThat(carried.packets()).as("packets of %s", live.flow()).isEqualTo(forwardPackets);
            if (meanwhile.contains(live)) {
                assertThat(carried.createdNs()).as("created during the migration")
                        .isBetween(loadStarted - CLOCK_SLACK_NS, loadEnded);
            } else {
                assertThat(carried.createdNs()).as("created before the migration").isLessThan(loadStarted);
            }
            assertThat(carried.natSourcePort()).isEqualTo(live.natSourcePort());
            assertThat(carried.backend()).isEqualTo(backendId(current, live.natDestination(), live.natDestinationPort()));

            TestRunResult forward = current.xdpProgram().testRun(live.forward(ACK | PSH));
            assertThat(forward.retval()).isEqualTo(XDP_PASS);
            Frames.assertRewritten(forward.output(), live.forwardTranslated(ACK | PSH));
            TestRunResult reply = live.listener().isFullNat()
                    ? current.xdpProgram().testRun(live.reply(ACK))
                    : current.tcProgram().testRun(live.reply(ACK));
            assertThat(reply.retval()).isEqualTo(live.listener().isFullNat() ? XDP_PASS : TC_ACT_OK);
            Frames.assertRewritten(reply.output(), live.replyTranslated(ACK));

            Abi.CtEntry after = entry(current, live.flow().forwardKey());
            assertThat(after.packets()).isEqualTo(forwardPackets + 1);
            assertThat(after.createdNs()).isEqualTo(carried.createdNs());
        }
        long[] stats = current.packetStats();
        assertThat(stats[Abi.Stat.CT_HIT.value()]).isEqualTo(all.size());
        assertThat(stats[Abi.Stat.CT_REPLY.value()]).isEqualTo(all.size());
        assertThat(stats[Abi.Stat.NEW_FLOW.value()]).as("no flow was created anew").isZero();

        // The configuration came across as the old agent programmed it: the next agent's first
        // snapshot is a diff with nothing to write, ids and all (the state directory is layout-free).
        SnapshotApplier applier = SnapshotApplier.adopting(current.maps(), HOST, LIMITS, current.programmed(), state);
        assertThat(applier.appliedVersion()).isEqualTo(snapshot.getVersion());
        assertThat(applier.apply(snapshot)).as("writes for the same snapshot").isZero();

        open.remove(current);
        List<String> removed = inside(current::uninstall);
        assertThat(removed).isNotEmpty();
        assertThat(pinPath).doesNotExist();
    }

    @Test
    void aMigrationThatFailsBeforeTheSwapChangesNothingAndOneInterruptedAfterItIsFinishedByTheNextStart()
            throws Exception {
        createNetns();
        NodeSnapshot snapshot = versioned(Snapshots.standard());
        OldAgent old = startOldAgent(snapshot);
        Path v0 = pinPath.resolve("v0");
        Path v1 = pinPath.resolve("v" + Abi.LAYOUT_VERSION);

        assertThatThrownBy(() -> inside(() -> BpfDataPlane.load(pinPath, state, LIMITS, Map.of(),
                BpfDataPlane.Build.PACKAGED, new LayoutMigration.Observer() {
                    @Override
                    public void beforeLinkSwap() {
                        throw new IllegalStateException("killed before the swap");
                    }
                }))).hasMessageContaining("failed before any link moved, and the old data plane serves as before");
        assertThat(v1).as("what the failed attempt pinned").doesNotExist();
        assertThat(linkPins(v0)).hasSize(4);
        String links = bpftoolLinks();
        assertThat(linksRunning(links, old.xdpProgram()) + linksRunning(links, old.tcProgram())).isEqualTo(4);

        assertThatThrownBy(() -> inside(() -> BpfDataPlane.load(pinPath, state, LIMITS, Map.of(),
                BpfDataPlane.Build.PACKAGED, new LayoutMigration.Observer() {
                    @Override
                    public void afterLinkSwap() {
                        throw new IllegalStateException("killed after the swap");
                    }
                }))).hasMessageContaining("stopped after it began moving links")
                .hasMessageContaining("start this agent again to finish it");
        assertThat(linkPins(v1)).hasSize(4);
        assertThat(linkPins(v0)).isEmpty();
        assertThat(v0.resolve("nlb_conntrack")).as("the old maps, not copied a second time yet").exists();

        BpfDataPlane current = inside(() -> BpfDataPlane.load(pinPath, state, LIMITS, Map.of()));
        open.add(current);
        LayoutMigration.Report report = current.migration().orElseThrow();
        assertThat(report.links()).as("moved by the interrupted attempt").isZero();
        assertThat(report.migrated()).as("carried by the interrupted attempt, unchanged since").isZero();
        assertThat(report.keptNewer()).isZero();
        assertThat(v0).doesNotExist();
        for (String ifname : List.of("eth0", "eth1")) {
            assertThat(programOfPinnedLink("link_xdp_" + ifname)).isEqualTo(current.xdpProgram().id());
            assertThat(programOfPinnedLink("link_tc_" + ifname)).isEqualTo(current.tcProgram().id());
        }
        for (Live live : old.flows()) {
            Frames.assertRewritten(current.xdpProgram().testRun(live.forward(ACK | PSH)).output(),
                    live.forwardTranslated(ACK | PSH));
        }
        assertThat(current.packetStats()[Abi.Stat.CT_HIT.value()]).isEqualTo(old.flows().size());
        assertThat(current.packetStats()[Abi.Stat.NEW_FLOW.value()]).isZero();
    }

    @Test
    void theDataPlaneOfANewerLayoutIsRefusedAndLeftAsItIs() throws Exception {
        BpfDataPlane current = BpfDataPlane.load(pinPath, state, LIMITS, Map.of());
        current.close();
        List<Path> before = tree(pinPath);

        assertThatThrownBy(() -> BpfDataPlane.load(pinPath, state, LIMITS, Map.of(), OLD, LayoutMigration.Observer.NONE))
                .isInstanceOf(LayoutMigration.Refused.class)
                .hasMessageContaining("the data plane pinned under " + pinPath + " has layout v" + Abi.LAYOUT_VERSION + ", newer than this"
                        + " agent's v0")
                .hasMessageContaining("`nodelb-agent uninstall --pin-path " + pinPath + "`");
        assertThat(tree(pinPath)).isEqualTo(before);
    }

    @Test
    void aLayoutWhoseFieldsCannotBeKnownIsRefusedAndLeftServing() throws Exception {
        Path v0 = pinPath.resolve("v0");
        Files.createDirectories(v0);
        // A conntrack without BTF: nothing says where its fields are.
        try (BpfMap unknown = BpfMap.create(BpfMap.Type.LRU_HASH, "nlb_conntrack", 40, 80, 1024, 0)) {
            unknown.pin(v0.resolve("nlb_conntrack"));
        }

        assertThatThrownBy(() -> BpfDataPlane.load(pinPath, state, LIMITS, Map.of()))
                .isInstanceOf(LayoutMigration.Refused.class)
                .hasMessageContaining("cannot migrate the data plane pinned under " + v0 + " to layout v" + Abi.LAYOUT_VERSION)
                .hasMessageContaining("nlb_conntrack: the pinned map carries no BTF")
                .hasMessageContaining("`nodelb-agent uninstall --pin-path " + pinPath + "`");
        assertThat(tree(pinPath)).containsExactly(pinPath, v0, v0.resolve("nlb_conntrack"));
    }

    /** What the old agent left serving: its flows, its applier, and its programs' ids. */
    record OldAgent(List<Live> flows, SnapshotApplier applier, int xdpProgram, int tcProgram) {}

    /**
     * The old agent: programmed, attached to eth0 and eth1, one flow per listener (TCP
     * established, UDP answered); then it finishes and leaves its data plane serving.
     */
    private OldAgent startOldAgent(NodeSnapshot snapshot) throws Exception {
        BpfDataPlane old = inside(() -> BpfDataPlane.load(pinPath, state, LIMITS, Map.of(), OLD,
                LayoutMigration.Observer.NONE));
        open.add(old);
        SnapshotApplier applier = SnapshotApplier.adopting(old.maps(), HOST, LIMITS, old.programmed(), state);
        inside(() -> new NodeProgrammer(old, applier).program(snapshot));
        List<Live> flows = new ArrayList<>();
        int port = 41000;
        for (StandardListener l : StandardListener.all().toList()) {
            flows.add(open(old.xdpProgram(), old.tcProgram(), l, port++, true));
        }
        OldAgent agent = new OldAgent(flows, applier, old.xdpProgram().id(), old.tcProgram().id());
        open.remove(old);
        old.close();
        return agent;
    }

    /**
     * Sends a flow's first packet through xdp and, with established, the SYN-ACK back (through
     * TC for DNAT, XDP for FullNAT) and the client's ACK.
     */
    private static Live open(BpfProgram xdp, BpfProgram tc, StandardListener l, int clientPort, boolean established) {
        Flow flow = l.flow(clientPort);
        TestRunResult first = xdp.testRun(flow.first());
        assertThat(first.retval()).as("first packet of %s", flow).isEqualTo(XDP_PASS);
        Packet out = Packet.parse(first.output());
        Live live = new Live(l, flow, out.src(), out.srcPort(), out.dst(), out.dstPort(), established ? 2 : 1,
                established ? 1 : 0);
        assertThat(live.natSource()).isEqualTo(l.isFullNat() ? Snapshots.ip(l.snat()) : flow.clientAddress());
        if (established) {
            TestRunResult synAck = (l.isFullNat() ? xdp : tc).testRun(live.reply(SYN | ACK));
            Frames.assertRewritten(synAck.output(), live.replyTranslated(SYN | ACK));
            TestRunResult ack = xdp.testRun(live.forward(ACK));
            Frames.assertRewritten(ack.output(), live.forwardTranslated(ACK));
        }
        return live;
    }

    /**
     * Writes the forward entry of a flow into the new conntrack as the new programs would after
     * seeing more of its packets ({@link #NEW_PROGRAMS_PACKETS} in all) now.
     */
    private void seenByTheNewPrograms(Live live, SnapshotApplier programmed) {
        int backend = programmed.applied().backends().entrySet().stream()
                .filter(e -> e.getValue().address().equals(live.natDestination())
                        && e.getValue().port() == live.natDestinationPort())
                .map(Map.Entry::getKey).findFirst().orElseThrow();
        int listener = programmed.applied().listeners()
                .get(new Abi.ListenerKey(live.flow().vipAddress(), live.flow().vipPort(), live.flow().proto())).id();
        Path v1 = pinPath.resolve("v" + Abi.LAYOUT_VERSION);
        // Where the new programs keep it: a TCP flow not answered yet waits in nlb_ct_embryonic.
        String table = live.flow().isTcp() ? BpfDataPlane.EMBRYONIC_MAP : "nlb_conntrack";
        try (BpfMap conntrack = BpfMap.openPinned(v1.resolve(table)); Arena arena = Arena.ofConfined()) {
            MemorySegment k = conntrack.allocateKey(arena);
            MemorySegment v = conntrack.allocateValue(arena);
            live.flow().forwardKey().writeTo(k);
            long now = System.nanoTime();
            new Abi.CtEntry(live.natSource(), live.natDestination(), live.natSourcePort(), live.natDestinationPort(),
                    backend, now, now, NEW_PROGRAMS_PACKETS, 0, live.flow().isTcp() ? Abi.CT_SYN : Abi.CT_UDP,
                    live.listener().isFullNat() ? Abi.CT_FULLNAT : 0, listener).writeTo(v);
            conntrack.update(k, v, BpfMap.BPF_ANY);
        }
    }

    /** The old build loaded once more on the pinned maps of layoutDir: the old code as its links run it. */
    private static BpfObject oldProgramsOn(Path layoutDir) throws IOException {
        BpfObject object = BpfObject.openResource(OLD.xdpObject());
        try {
            object.setRodata("cfg_table_size", LIMITS.tableSize());
            object.map("nlb_tables").setMaxEntries(LIMITS.maxGroups() * LIMITS.tableSize());
            try (Stream<Path> pins = Files.list(layoutDir)) {
                for (Path pin : pins.toList()) {
                    if (!pin.getFileName().toString().startsWith("link_")) {
                        object.map(pin.getFileName().toString()).setPinPath(pin);
                    }
                }
            }
            object.load();
            return object;
        } catch (RuntimeException e) {
            object.close();
            throw e;
        }
    }

    /** The coarse clock of the programs moves once a tick (4 ms at HZ=250): wait for more than one. */
    private static void sleepATick() {
        try {
            Thread.sleep(20);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The key's entry in either flow table (nlb_conntrack first, as the programs look), or null. */
    private static Abi.CtEntry entry(BpfDataPlane dataPlane, Abi.CtKey key) {
        for (BpfMap map : dataPlane.conntrackTables()) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment k = map.allocateKey(arena);
                MemorySegment v = map.allocateValue(arena);
                key.writeTo(k);
                if (map.lookup(k, v)) {
                    return Abi.CtEntry.readFrom(v, Abi.CtKey.readFrom(k).family());
                }
            }
        }
        return null;
    }

    private static int backendId(BpfDataPlane dataPlane, InetAddress address, int port) {
        return dataPlane.programmed().backends().entrySet().stream()
                .filter(e -> e.getValue().address().equals(address) && e.getValue().port() == port)
                .map(Map.Entry::getKey).findFirst()
                .orElseThrow(() -> new AssertionError("no backend " + address + ":" + port));
    }

    /** Entries of the configuration maps (array slots that are not all zero). */
    private static long configurationEntries(BpfDataPlane dataPlane) {
        long count = 0;
        for (String name : List.of("nlb_listeners", "nlb_routes", "nlb_timeouts", "nlb_groups", "nlb_tables",
                "nlb_backends", "nlb_dports", "nlb_sports")) {
            BpfMap map = dataPlane.map(name);
            boolean array = map.type() == BpfMap.Type.ARRAY.id();
            long[] n = {0};
            map.forEachEntry(4096, (k, v) -> {
                if (!array || MemorySegment.mismatch(v, 0, v.byteSize(), zero(v.byteSize()), 0, v.byteSize()) >= 0) {
                    n[0]++;
                }
            });
            count += n[0];
        }
        return count;
    }

    private static MemorySegment zero(long size) {
        return MemorySegment.ofArray(new byte[(int) size]);
    }

    private int programOfPinnedLink(String name) {
        try (BpfLink link = BpfLink.openPinned(pinPath.resolve("v" + Abi.LAYOUT_VERSION).resolve(name))) {
            return link.programId();
        }
    }

    /** Every link of the host, as bpftool lists them (JSON). */
    private static String bpftoolLinks() {
        try {
            return Command.run("bpftool", "-j", "link", "show");
        } catch (IOException | TimeoutException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static long linksRunning(String bpftoolJson, int programId) {
        Matcher m = LINK_PROG.matcher(bpftoolJson);
        long n = 0;
        while (m.find()) {
            if (Integer.parseInt(m.group(1)) == programId) {
                n++;
            }
        }
        return n;
    }

    private static List<Path> linkPins(Path dir) throws IOException {
        try (Stream<Path> pins = Files.list(dir)) {
            return pins.filter(p -> p.getFileName().toString().startsWith("link_")).toList();
        }
    }

    private static List<Path> tree(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            return all.sorted().toList();
        }
    }

    private static NodeSnapshot versioned(NodeSnapshot s) {
        return s.toBuilder().setVersion(io.nodelb.model.compiler.Snapshots.version(s)).build();
    }

    /** A namespace with the veth pair eth0 <-> eth1: the interfaces of {@link Snapshots#standard()}. */
    private void createNetns() throws Exception {
        Command.run("ip", "netns", "add", netns);
        netnsCreated = true;
        inside = NetnsThread.enter(netns);
        Command.run("ip", "-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
        Command.run("ip", "-n", netns, "link", "set", "eth0", "up");
        Command.run("ip", "-n", netns, "link", "set", "eth1", "up");
    }

    private <T> T inside(Callable<T> code) throws Exception {
        return inside.call(code);
    }

    private static void removeTree(Path root) throws IOException {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
