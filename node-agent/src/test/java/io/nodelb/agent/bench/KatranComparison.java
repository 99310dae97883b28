package io.nodelb.agent.bench;

import com.google.protobuf.ByteString;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfObject;
import io.nodelb.agent.bpf.BpfProgram;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.packet.Checksums;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.packet.PacketBuilder;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * nodelb beside Katran and the empty program, in one run: the same frames, the same timer
 * (BPF_PROG_TEST_RUN, repeat = 1, a fresh copy of the frame per call), the same rounds, at
 * each table size asked for. The configuration of the issue that asked for it: one VIP:80/TCP,
 * 8 backends; nodelb in DNAT (its default), Katran in its default IPIP flavour.
 *
 * <p>Cases: a new flow (the SYN of a flow the program has never seen: state emptied before
 * each pass), an established flow (a data segment of a flow the program holds), another
 * address of the node on the listener port, and the VIP on a port without listener.
 *
 * <p>Checked, not assumed: every call's verdict; for nodelb every pass's nlb_stats delta; a
 * sample of outputs byte by byte (nodelb: rewritten to a backend with checksums that verify;
 * Katran: IPIP to one of its reals, outer checksum valid, the inner packet the input);
 * established flows are proven to hit their state: nodelb's flows are answered through its TC
 * program and must then all sit in nlb_conntrack (none left in nlb_ct_embryonic), and a sample
 * of flows is moved to another backend in the program's own table (nodelb's conntrack, Katran's
 * LRU): their established packets must go there.
 *
 * <p>Run it through {@code bin/nodelb-bench-bpf --katran MIRROR}, which builds Katran's object.
 */
public final class KatranComparison {

    private static final int XDP_PASS = 2;
    private static final int XDP_TX = 3;
    private static final int SAMPLE_EVERY = 409;
    /** Calls per case and round at least: small flow sets cycle through their frames. */
    private static final int MIN_CALLS = 65_536;

    private static final String VIP = "10.200.1.1";
    private static final String OTHER_ADDRESS = "10.200.1.2";
    private static final int HTTP = 80;
    private static final int UNUSED_PORT = 8081;
    private static final int BACKEND_PORT = 8080;
    private static final int BACKENDS = 8;

    /** Katran's constants (katran/lib/bpf/balancer_consts.h). */
    private static final int KATRAN_RING_SIZE = 65_537;
    private static final byte[] ROUTER_MAC = HexFormat.of().parseHex("020000000001");
    /**
     * nodelb's flow tables in this run, both of them: the agent's conntrack size, and the table of
     * unanswered flows as large, since every new flow of a pass waits there until answered.
     */
    private static final int FLOW_TABLE_SIZE = Abi.MAX_CONNTRACK;

    /**
     * The configuration maps nodelb's programs share (bpf/lib/maps.h): a second nodelb object uses the
     * same ones, but its own flow tables (its layout and flags may differ; its flows are its own).
     */
    private static final List<String> NODELB_MAPS = List.of("nlb_listeners", "nlb_routes", "nlb_timeouts",
            "nlb_groups", "nlb_tables", "nlb_backends", "nlb_be_stats", "nlb_stats", "nlb_dports", "nlb_sports");
    private static final String CONNTRACK = "nlb_conntrack";
    private static final int TC_ACT_OK = 0;

    enum Case {
        NEW_FLOW("new flow (SYN of a never-seen flow)"),
        ESTABLISHED("established (state hit)"),
        OTHER_ADDRESS("another address, listener port"),
        UNUSED_PORT("the VIP, port without listener");

        final String title;

        Case(String title) {
            this.title = title;
        }
    }

    record Options(List<Integer> flows, int rounds, Path katranObject, int katranLru, Path nodelbBefore,
            Path nodelbBeforeTc, String beforeLabel, Path out) {

        static Options parse(String[] args) {
            List<Integer> flows = List.of(4096, 100_000);
            int rounds = 5;
            int lru = 1 << 20;
            Path katran = null;
            Path before = null;
            Path beforeTc = null;
            String beforeLabel = "nodelb before";
            Path out = null;
            for (int i = 0; i < args.length; i++) {
                String flag = args[i];
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(flag + " needs a value");
                }
                String value = args[++i];
                switch (flag) {
                    case "--flows" -> flows = Arrays.stream(value.split(",")).map(v -> positive(flag, v)).toList();
                    case "--rounds" -> rounds = positive(flag, value);
                    case "--katran-object" -> katran = Path.of(value);
                    case "--katran-lru" -> lru = positive(flag, value);
                    case "--nodelb-before" -> before = Path.of(value);
                    case "--nodelb-before-tc" -> beforeTc = Path.of(value);
                    case "--before-label" -> beforeLabel = value;
                    case "--out" -> out = Path.of(value);
                    default -> throw new IllegalArgumentException("unknown option " + flag);
                }
            }
            if (katran == null) {
                throw new IllegalArgumentException("--katran-object is required (bin/nodelb-bench-bpf --katran builds it)");
            }
            if ((before == null) != (beforeTc == null)) {
                throw new IllegalArgumentException("--nodelb-before and --nodelb-before-tc go together");
            }
            // The run is on one CPU, and a flow table keeps one LRU list per CPU: two entries per flow
            // must fit that CPU's share without eviction.
            int perCpu = FLOW_TABLE_SIZE / onlineCpus();
            if (flows.stream().anyMatch(n -> 2 * n > perCpu)) {
                throw new IllegalArgumentException("--flows is at most " + perCpu / 2 + ": two entries per flow"
                        + " must fit one CPU's share (" + perCpu + ") of the flow tables without eviction");
            }
            return new Options(flows, rounds, katran, lru, before, beforeTc, beforeLabel, out);
        }

        private static int positive(String flag, String value) {
            int n = Integer.parseInt(value.trim());
            if (n < 1) {
                throw new IllegalArgumentException(flag + " must be positive: " + value);
            }
            return n;
        }
    }

    /** A program under test with its state: emptied, and a sample of its flows moved to another backend. */
    private interface Target {
        String label();

        BpfProgram program();

        /** Forgets every flow. */
        void clearFlows();

        /** The backends' answers to the SYNs of all flows, where the program sees them. */
        default void answer(Frames f) {}

        /** Checks that the flows are held as established ones: the next pass hits that state. */
        default void checkEstablished(Frames f) {}

        /** Moves flow i (client i -> VIP:80) to another backend in the program's own state. */
        void moveFlow(int i, Frames f);

        /** Checks a sampled output of flow i in case c, for the given input. */
        void check(Case c, int i, byte[] input, byte[] output, Frames f);

        int verdict(Case c);

        /** Checks the counters of a pass, where the program keeps any (nodelb's nlb_stats). */
        default void countersBefore() {}

        default void countersAfter(Case c, boolean ackPass, int calls) {}
    }

    /** The frames of one table size. */
    private record Frames(int n, byte[][] syn, byte[][] ack, byte[][] data, byte[][] otherAddress,
            byte[][] unusedPort, InetAddress[] movedTo) {

        static Frames of(int n) {
            InetAddress vip = ip(VIP);
            byte[][] syn = new byte[n][];
            byte[][] ack = new byte[n][];
            byte[][] data = new byte[n][];
            byte[][] other = new byte[n][];
            byte[][] unused = new byte[n][];
            for (int i = 0; i < n; i++) {
                InetAddress c = client(i);
                int port = clientPort(i);
                syn[i] = tcp(c, port, vip, HTTP, PacketBuilder.SYN, false);
                ack[i] = tcp(c, port, vip, HTTP, PacketBuilder.ACK, false);
                data[i] = tcp(c, port, vip, HTTP, PacketBuilder.ACK | PacketBuilder.PSH, true);
                other[i] = tcp(c, port, ip(OTHER_ADDRESS), HTTP, PacketBuilder.SYN, false);
                unused[i] = tcp(c, port, vip, UNUSED_PORT, PacketBuilder.SYN, false);
            }
            return new Frames(n, syn, ack, data, other, unused, new InetAddress[n]);
        }

        byte[][] of(Case c) {
            return switch (c) {
                case NEW_FLOW -> syn;
                case ESTABLISHED -> data;
                case OTHER_ADDRESS -> otherAddress;
                case UNUSED_PORT -> unusedPort;
            };
        }
    }

    private final Options options;
    private final List<Target> targets = new ArrayList<>();
    private final Target floor;
    private final Target katran;

    private KatranComparison(Options options, Target floor, Target katran, List<Target> nodelb) {
        this.options = options;
        this.floor = floor;
        this.katran = katran;
        targets.add(floor);
        targets.add(katran);
        targets.addAll(nodelb);
    }

    public static void main(String[] args) throws IOException {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("nodelb-bench-bpf --katran: " + e.getMessage());
            System.exit(2);
            return;
        }
        Path pinPath = Path.of("/sys/fs/bpf", "nodelb-bench-katran-" + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
        DesiredState.Limits limits = DesiredState.Limits.defaults();
        Map<String, Long> sizes = Map.of(BpfDataPlane.EMBRYONIC_MAP + BpfDataPlane.MAX_ENTRIES,
                (long) FLOW_TABLE_SIZE, CONNTRACK + BpfDataPlane.MAX_ENTRIES, (long) FLOW_TABLE_SIZE);
        BpfDataPlane dataPlane = BpfDataPlane.load(pinPath, limits, sizes);
        Thread cleanup = new Thread(dataPlane::uninstall, "nodelb-bench-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        List<BpfMap> katranLrus = new ArrayList<>();
        try (BpfObject floorObject = BpfObject.openResource("io/nodelb/bpf/xdp_pass.bpf.o");
                BpfObject katranObject = BpfObject.openFile(options.katranObject());
                BpfObject beforeObject = options.nodelbBefore() == null ? null
                        : BpfObject.openFile(options.nodelbBefore());
                BpfObject beforeTc = options.nodelbBeforeTc() == null ? null
                        : BpfObject.openFile(options.nodelbBeforeTc())) {
            floorObject.load();
            new SnapshotApplier(dataPlane.maps(), name -> List.of(ip("192.0.2.1")), limits).apply(snapshot());
            List<Target> nodelb = new ArrayList<>();
            nodelb.add(new Nodelb("nodelb", dataPlane.xdpProgram(), dataPlane.tcProgram(),
                    dataPlane.map(CONNTRACK), dataPlane.map(BpfDataPlane.EMBRYONIC_MAP), dataPlane));
            if (beforeObject != null) {
                for (BpfObject o : List.of(beforeObject, beforeTc)) {
                    for (String name : NODELB_MAPS) {
                        o.map(name).reuse(dataPlane.map(name));
                    }
                    o.setRodata("cfg_table_size", limits.tableSize());
                    o.setRodata("cfg_nat_port_min", limits.snatPortMin());
                    o.setRodata("cfg_nat_port_max", limits.snatPortMax());
                }
                for (String table : List.of(CONNTRACK, BpfDataPlane.EMBRYONIC_MAP)) {
                    beforeObject.map(table).setMaxEntries(FLOW_TABLE_SIZE);
                }
                beforeObject.load();
                for (String table : List.of(CONNTRACK, BpfDataPlane.EMBRYONIC_MAP)) {
                    beforeTc.map(table).reuse(beforeObject.map(table)); // its own flow tables, both programs
                }
                beforeTc.load();
                nodelb.add(new Nodelb(options.beforeLabel(), beforeObject.program("nlb_xdp"),
                        beforeTc.program(BpfDataPlane.TC_PROGRAM), beforeObject.map(CONNTRACK),
                        beforeObject.map(BpfDataPlane.EMBRYONIC_MAP), dataPlane));
            }
            Katran k = Katran.load(katranObject, options.katranLru(), katranLrus);
            KatranComparison run = new KatranComparison(options, new Floor(floorObject.program("xdp_pass")), k,
                    nodelb);
            StringBuilder report = new StringBuilder();
            for (int n : options.flows()) {
                report.append(run.measure(n));
            }
            System.out.print(report);
            if (options.out() != null) {
                Files.createDirectories(options.out().toAbsolutePath().getParent());
                Files.writeString(options.out(), report);
                System.out.println("written to " + options.out());
            }
        } finally {
            katranLrus.forEach(BpfMap::close);
            dataPlane.uninstall();
            Runtime.getRuntime().removeShutdownHook(cleanup);
        }
    }

    /** One VIP:80/TCP (DNAT) to 8 backends 10.0.0.1-8:8080. */
    private static NodeSnapshot snapshot() {
        TargetGroup.Builder web = TargetGroup.newBuilder().setName("bench/web").setAlgorithm(Algorithm.MAGLEV);
        for (int i = 1; i <= BACKENDS; i++) {
            web.addBackends(Backend.newBuilder().setAddress(bytes(backend(i))).setPort(BACKEND_PORT).setWeight(1)
                    .setState(BackendState.ACTIVE).setOrigin("static"));
        }
        Listener http = Listener.newBuilder().setName("bench/lb/http").setAddress(bytes(VIP)).setPort(HTTP)
                .setProtocol(Protocol.TCP).setNatMode(NatMode.DNAT).setTargetGroup("bench/web").addInterfaces("eth0")
                .build();
        return NodeSnapshot.newBuilder().setNode("bench").addListeners(http).addTargetGroups(web).build();
    }

    private static String backend(int i) {
        return "10.0.0." + i;
    }

    // ---- the run ----------------------------------------------------------------------------

    /** Runs the rounds at n flows; returns the report. */
    private String measure(int n) {
        Frames f = Frames.of(n);
        int passes = Math.max(1, MIN_CALLS / n);
        // durations[case][target]: one array of every call's ns per measured round
        Map<Case, Map<Target, List<long[]>>> durations = new LinkedHashMap<>();
        for (Case c : Case.values()) {
            durations.put(c, new LinkedHashMap<>());
            targets.forEach(t -> durations.get(c).put(t, new ArrayList<>()));
        }
        System.out.printf(Locale.ROOT, "nodelb-bench-bpf --katran: %d flows, %d rounds (+1 warm-up), %d pass(es) of"
                + " %d calls per case and round%n", n, options.rounds(), passes, n);
        for (int round = 0; round <= options.rounds(); round++) {
            long started = System.nanoTime();
            for (int t = 0; t < targets.size(); t++) {
                Target target = targets.get((t + round) % targets.size());
                Map<Case, long[]> measured = runTarget(target, f, passes);
                if (round > 0) {
                    measured.forEach((c, d) -> durations.get(c).get(target).add(d));
                }
            }
            System.out.printf(Locale.ROOT, "round %d%s: %.1f s%n", round, round == 0 ? " (warm-up)" : "",
                    (System.nanoTime() - started) / 1e9);
        }
        targets.forEach(Target::clearFlows);
        return report(n, passes, durations);
    }

    /** The four cases on one program: new flows from empty state, then the same flows established. */
    private Map<Case, long[]> runTarget(Target t, Frames f, int passes) {
        Map<Case, long[]> out = new LinkedHashMap<>();
        long[][] syn = new long[passes][];
        for (int p = 0; p < passes; p++) {
            t.clearFlows();
            syn[p] = pass(t, Case.NEW_FLOW, f.syn, 1, f);
        }
        out.put(Case.NEW_FLOW, concat(syn));
        t.answer(f); // untimed: each backend answers its flow (nodelb's entries move to its conntrack)
        pass(t, null, f.ack, 1, f); // untimed: every flow past its SYN, in both programs
        t.checkEstablished(f);
        for (int i = 0; i < f.n; i += SAMPLE_EVERY) {
            t.moveFlow(i, f);
        }
        out.put(Case.ESTABLISHED, pass(t, Case.ESTABLISHED, f.data, passes, f));
        out.put(Case.OTHER_ADDRESS, pass(t, Case.OTHER_ADDRESS, f.otherAddress, passes, f));
        out.put(Case.UNUSED_PORT, pass(t, Case.UNUSED_PORT, f.unusedPort, passes, f));
        return out;
    }

    /** cycles passes over the frames; c null: the untimed ACK pass. Returns every call's duration. */
    private static long[] pass(Target t, Case c, byte[][] frames, int cycles, Frames f) {
        Case verdictOf = c == null ? Case.ESTABLISHED : c;
        int expected = t.verdict(verdictOf);
        long[] ns = new long[frames.length * cycles];
        t.countersBefore();
        int k = 0;
        for (int cycle = 0; cycle < cycles; cycle++) {
            for (int i = 0; i < frames.length; i++) {
                boolean sampled = c != null && i % SAMPLE_EVERY == 0;
                TestRunResult r = t.program().testRun(frames[i], 1, sampled);
                ns[k++] = r.durationNs();
                if (r.retval() != expected) {
                    throw new IllegalStateException(t.label() + ", " + (c == null ? "ACK pass" : c.title) + ": call "
                            + i + " returned " + r.retval() + ", expected " + expected);
                }
                if (sampled) {
                    t.check(c, i, frames[i], r.output(), f);
                }
            }
        }
        t.countersAfter(verdictOf, c == null, ns.length);
        return ns;
    }

    private static long[] concat(long[][] parts) {
        return Arrays.stream(parts).flatMapToLong(Arrays::stream).toArray();
    }

    // ---- the report -------------------------------------------------------------------------

    private String report(int n, int passes, Map<Case, Map<Target, List<long[]>>> durations) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%n### nodelb beside Katran, %,d flows, %s%n%n", n,
                Instant.now().toString().substring(0, 19)));
        out.append(String.format(Locale.ROOT, "BPF_PROG_TEST_RUN, repeat = 1, %d measured rounds, %d call(s) per"
                + " case, target and round; targets rotated within each round. Net = the program's mean per call"
                + " minus the empty program's, same case, same round; the median of the rounds. Ratio = net / Katran's"
                + " net (in brackets: the range of the per-round ratios). p50/p99: pooled per-call durations, gross."
                + " Katran's LRU: %,d entries per CPU.%n%n", options.rounds(), n * passes, options.katranLru()));
        out.append("| case | empty | Katran net | ");
        List<Target> others = targets.subList(2, targets.size());
        for (Target t : others) {
            out.append(t.label()).append(" net | ").append(t.label()).append(" ÷ Katran | ");
        }
        out.append("p50 / p99: Katran | ");
        for (Target t : others) {
            out.append(t.label()).append(" | ");
        }
        out.append("\n|---|---:|---:|");
        out.append("---:|---:|".repeat(others.size())).append("---:|").append("---:|".repeat(others.size()))
                .append('\n');
        for (Case c : Case.values()) {
            Map<Target, List<long[]>> byTarget = durations.get(c);
            double[] floorMeans = means(byTarget.get(floor));
            double[] katranNet = net(means(byTarget.get(katran)), floorMeans);
            out.append(String.format(Locale.ROOT, "| %s | %.0f | %.1f |", c.title, median(floorMeans),
                    median(katranNet)));
            for (Target t : others) {
                double[] net = net(means(byTarget.get(t)), floorMeans);
                double[] ratios = new double[net.length];
                for (int r = 0; r < net.length; r++) {
                    ratios[r] = net[r] / katranNet[r];
                }
                Arrays.sort(ratios);
                out.append(String.format(Locale.ROOT, " %.1f | **%.2f** (%.2f-%.2f) |", median(net),
                        median(net) / median(katranNet), ratios[0], ratios[ratios.length - 1]));
            }
            out.append(' ').append(percentiles(byTarget.get(katran))).append(" |");
            for (Target t : others) {
                out.append(' ').append(percentiles(byTarget.get(t))).append(" |");
            }
            out.append('\n');
        }
        return out.toString();
    }

    private static double[] means(List<long[]> rounds) {
        return rounds.stream().mapToDouble(r -> Arrays.stream(r).average().orElse(Double.NaN)).toArray();
    }

    private static double[] net(double[] program, double[] floor) {
        double[] net = new double[program.length];
        for (int i = 0; i < net.length; i++) {
            net[i] = program[i] - floor[i];
        }
        return net;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int m = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }

    private static String percentiles(List<long[]> rounds) {
        long[] all = rounds.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        return String.format(Locale.ROOT, "%d / %d", all[all.length / 2], all[(int) (all.length * 0.99)]);
    }

    // ---- the targets ------------------------------------------------------------------------

    /** The empty program: returns XDP_PASS, the timer's own cost. */
    private record Floor(BpfProgram program) implements Target {
        public String label() {
            return "empty";
        }

        public void clearFlows() {}

        public void moveFlow(int i, Frames f) {}

        public void check(Case c, int i, byte[] input, byte[] output, Frames f) {
            if (!Arrays.equals(input, output)) {
                throw new IllegalStateException("the empty program changed a packet");
            }
        }

        public int verdict(Case c) {
            return XDP_PASS;
        }
    }

    /**
     * nodelb's nlb_xdp and nlb_tc_egress with their flow tables, on the agent's configuration maps
     * (the agent's own build, or another build of nodelb with flow tables of its own).
     */
    private static final class Nodelb implements Target {
        private final String label;
        private final BpfProgram program;
        private final BpfProgram tc;
        private final BpfMap conntrack;
        private final BpfMap embryonic;
        private final BpfDataPlane dataPlane;
        private long[] before;

        Nodelb(String label, BpfProgram program, BpfProgram tc, BpfMap conntrack, BpfMap embryonic,
                BpfDataPlane dataPlane) {
            this.label = label;
            this.program = program;
            this.tc = tc;
            this.conntrack = conntrack;
            this.embryonic = embryonic;
            this.dataPlane = dataPlane;
        }

        public String label() {
            return label;
        }

        public BpfProgram program() {
            return program;
        }

        public int verdict(Case c) {
            return XDP_PASS;
        }

        public void clearFlows() {
            clear(conntrack);
            clear(embryonic);
        }

        /** The forward entry of flow i, from the table it is in (conntrack first). */
        private Abi.CtEntry entry(int i, BpfMap table, Arena arena) {
            MemorySegment key = table.allocateKey(arena);
            MemorySegment value = table.allocateValue(arena);
            new Abi.CtKey(client(i), clientPort(i), ip(VIP), HTTP, Abi.IPPROTO_TCP).writeTo(key);
            return table.lookup(key, value) ? Abi.CtEntry.readFrom(value, Abi.FAMILY_IPV4) : null;
        }

        /** Each backend's answer through the egress program: the flow is established and moves to nlb_conntrack. */
        public void answer(Frames f) {
            before = dataPlane.packetStats();
            try (Arena arena = Arena.ofConfined()) {
                for (int i = 0; i < f.n; i++) {
                    Abi.CtEntry e = entry(i, embryonic, arena);
                    if (e == null) {
                        throw new IllegalStateException(label + ": flow " + i + " is not waiting in "
                                + BpfDataPlane.EMBRYONIC_MAP + " after its SYN");
                    }
                    // Its SYN-ACK, then its first segment without SYN: only that one answers (ct_next_state).
                    for (int flags : new int[] {PacketBuilder.SYN | PacketBuilder.ACK, PacketBuilder.ACK}) {
                        byte[] reply = tcp(e.natDestination(), e.natDestinationPort(), client(i), clientPort(i),
                                flags, flags == PacketBuilder.ACK);
                        int verdict = tc.testRun(reply, 1, false).retval();
                        if (verdict != TC_ACT_OK) {
                            throw new IllegalStateException(label + ": the answer of flow " + i + " returned "
                                    + verdict);
                        }
                    }
                }
            }
            countersAfter(Abi.Stat.CT_REPLY, "answer pass", 2 * f.n);
        }

        /** Every flow's two entries in nlb_conntrack, none left waiting: the established pass is a conntrack hit. */
        public void checkEstablished(Frames f) {
            long[] count = {0, 0};
            conntrack.forEachKey(k -> count[0]++);
            embryonic.forEachKey(k -> count[1]++);
            if (count[0] != 2L * f.n || count[1] != 0) {
                throw new IllegalStateException(label + ": after the answers and ACKs " + CONNTRACK + " holds "
                        + count[0] + " entries (expected " + 2L * f.n + ") and " + BpfDataPlane.EMBRYONIC_MAP + " "
                        + count[1] + " (expected 0)");
            }
        }

        /** Moves flow i to the next backend in its nlb_conntrack entry. */
        public void moveFlow(int i, Frames f) {
            try (Arena arena = Arena.ofConfined()) {
                Abi.CtEntry e = entry(i, conntrack, arena);
                if (e == null) {
                    throw new IllegalStateException(label + ": no " + CONNTRACK + " entry for flow " + i);
                }
                InetAddress next = ip(backend(e.natDestination().getAddress()[3] % BACKENDS + 1));
                MemorySegment key = conntrack.allocateKey(arena);
                MemorySegment value = conntrack.allocateValue(arena);
                new Abi.CtKey(client(i), clientPort(i), ip(VIP), HTTP, Abi.IPPROTO_TCP).writeTo(key);
                new Abi.CtEntry(e.natSource(), next, e.natSourcePort(), e.natDestinationPort(), e.backend(),
                        e.createdNs(), e.lastSeenNs(), e.packets(), e.bytes(), e.state(), e.flags(), e.listener())
                        .writeTo(value);
                conntrack.update(key, value, BpfMap.BPF_EXIST);
                f.movedTo[i] = next;
            }
        }

        public void check(Case c, int i, byte[] input, byte[] output, Frames f) {
            if (c == Case.OTHER_ADDRESS || c == Case.UNUSED_PORT) {
                if (!Arrays.equals(input, output)) {
                    throw new IllegalStateException(label + ": a packet that is not ours was changed, " + c.title);
                }
                return;
            }
            Packet in = Packet.parse(input);
            Packet p = Packet.parse(output);
            boolean toBackend = c == Case.ESTABLISHED ? p.dst().equals(f.movedTo[i])
                    : p.dst().getAddress()[0] == 10 && p.dst().getAddress()[2] == 0
                            && p.dst().getAddress()[3] >= 1 && p.dst().getAddress()[3] <= BACKENDS;
            if (!toBackend || p.dstPort() != BACKEND_PORT || !p.src().equals(in.src()) || p.srcPort() != in.srcPort()) {
                throw new IllegalStateException(label + ", " + c.title + ": flow " + i + " came out as " + p
                        + (c == Case.ESTABLISHED ? ", expected to the moved backend " + f.movedTo[i] : ""));
            }
            Checksums.Result sums = Checksums.verify(output);
            if (!sums.valid()) {
                throw new IllegalStateException(label + ": bad checksums in " + p + ": " + sums);
            }
        }

        public void countersBefore() {
            before = dataPlane.packetStats();
        }

        public void countersAfter(Case c, boolean ackPass, int calls) {
            Abi.Stat reason = switch (c) {
                case NEW_FLOW -> Abi.Stat.NEW_FLOW;
                case ESTABLISHED -> Abi.Stat.CT_HIT;
                case OTHER_ADDRESS, UNUSED_PORT -> Abi.Stat.PASS_NO_LISTENER;
            };
            countersAfter(reason, ackPass ? "ACK pass" : c.title, calls);
        }

        private void countersAfter(Abi.Stat reason, String pass, int calls) {
            long[] after = dataPlane.packetStats();
            for (Abi.Stat s : Abi.Stat.values()) {
                long moved = after[s.value()] - before[s.value()];
                if (moved != (s == reason ? calls : 0)) {
                    throw new IllegalStateException(label + ", " + pass + ": nlb_stats[" + s + "] moved by " + moved
                            + ", expected " + (s == reason ? calls : 0));
                }
            }
        }
    }

    /**
     * Katran's balancer_ingress, its maps filled the way its KatranLb does: the router MAC,
     * the VIP, 8 reals, a ring of 65,537 slots (slot % 8 + 1: how the ring is filled does not
     * change the cost), one LRU per CPU in lru_mapping.
     */
    private static final class Katran implements Target {
        private static final int FLOW_KEY = 40;
        private final BpfProgram program;
        private final List<BpfMap> lrus;

        private Katran(BpfProgram program, List<BpfMap> lrus) {
            this.program = program;
            this.lrus = lrus;
        }

        static Katran load(BpfObject object, int lruSize, List<BpfMap> lrus) {
            object.map("ch_rings").setMaxEntries(KATRAN_RING_SIZE); // one VIP: one ring
            object.load();
            try (Arena arena = Arena.ofConfined()) {
                update(object.map("ctl_array"), arena, u32(0), Arrays.copyOf(ROUTER_MAC, 8));
                byte[] vip = new byte[20];
                System.arraycopy(ip(VIP).getAddress(), 0, vip, 0, 4);
                vip[17] = HTTP; // the port in network order: bytes 16-17
                vip[18] = Abi.IPPROTO_TCP;
                update(object.map("vip_map"), arena, vip, new byte[8]); // flags 0, vip_num 0
                for (int i = 1; i <= BACKENDS; i++) {
                    update(object.map("reals"), arena, u32(i), Arrays.copyOf(ip(backend(i)).getAddress(), 20));
                }
                BpfMap rings = object.map("ch_rings");
                for (int slot = 0; slot < KATRAN_RING_SIZE; slot++) {
                    update(rings, arena, u32(slot), u32(slot % BACKENDS + 1));
                }
                int cpus = onlineCpus();
                for (int cpu = 0; cpu < cpus; cpu++) {
                    BpfMap lru = BpfMap.create(BpfMap.Type.LRU_HASH, "katran_lru" + cpu, FLOW_KEY, 16, lruSize, 0);
                    lrus.add(lru);
                    update(object.map("lru_mapping"), arena, u32(cpu), u32(lru.fd()));
                }
            }
            return new Katran(object.program("balancer_ingress"), List.copyOf(lrus));
        }

        public String label() {
            return "Katran";
        }

        public BpfProgram program() {
            return program;
        }

        public int verdict(Case c) {
            return c == Case.NEW_FLOW || c == Case.ESTABLISHED ? XDP_TX : XDP_PASS;
        }

        public void clearFlows() {
            lrus.forEach(KatranComparison::clear);
        }

        /** Wherever the flow is (the LRU of the CPU that ran it), points it at the next real. */
        public void moveFlow(int i, Frames f) {
            byte[] key = flowKey(i);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment k = arena.allocateFrom(ValueLayout.JAVA_BYTE, key);
                MemorySegment v = arena.allocate(16, 8);
                for (BpfMap lru : lrus) {
                    if (lru.lookup(k, v)) {
                        int next = v.get(ValueLayout.JAVA_INT, 0) % BACKENDS + 1;
                        v.set(ValueLayout.JAVA_INT, 0, next);
                        lru.update(k, v, BpfMap.BPF_EXIST);
                        f.movedTo[i] = ip(backend(next));
                        return;
                    }
                }
            }
            throw new IllegalStateException("Katran: flow " + i + " is in no LRU after its SYN");
        }

        public void check(Case c, int i, byte[] input, byte[] output, Frames f) {
            if (c == Case.OTHER_ADDRESS || c == Case.UNUSED_PORT) {
                if (!Arrays.equals(input, output)) {
                    throw new IllegalStateException("Katran changed a packet that is not its own, " + c.title);
                }
                return;
            }
            // Ethernet to the router, an outer IPv4 header (IPIP) to a real, the input's IP packet inside.
            ByteBuffer o = ByteBuffer.wrap(output).order(ByteOrder.BIG_ENDIAN);
            int realHost = output.length >= 34 ? output[33] & 0xff : -1;
            boolean ok = output.length == input.length + 20
                    && Arrays.equals(Arrays.copyOf(output, 6), ROUTER_MAC)
                    && o.getShort(12) == 0x0800 && output[14] == 0x45 && output[23] == 4
                    && output[30] == 10 && output[31] == 0 && output[32] == 0 && realHost >= 1 && realHost <= BACKENDS
                    && Arrays.equals(Arrays.copyOfRange(output, 34, output.length),
                            Arrays.copyOfRange(input, 14, input.length))
                    && ipHeaderSum(output, 14) == 0xffff;
            if (c == Case.ESTABLISHED) {
                ok &= ip(backend(realHost)).equals(f.movedTo[i]);
            }
            if (!ok) {
                throw new IllegalStateException("Katran, " + c.title + ": flow " + i + " came out as "
                        + HexFormat.of().formatHex(output, 0, Math.min(output.length, 60))
                        + (c == Case.ESTABLISHED ? ", expected IPIP to the moved real " + f.movedTo[i] : ""));
            }
        }

        /** struct flow_key: src, dst (16 bytes each, IPv4 first), sport, dport, proto, padding. */
        private static byte[] flowKey(int i) {
            byte[] key = new byte[FLOW_KEY];
            System.arraycopy(client(i).getAddress(), 0, key, 0, 4);
            System.arraycopy(ip(VIP).getAddress(), 0, key, 16, 4);
            key[32] = (byte) (clientPort(i) >>> 8);
            key[33] = (byte) clientPort(i);
            key[34] = 0;
            key[35] = HTTP;
            key[36] = Abi.IPPROTO_TCP;
            return key;
        }

        private static int ipHeaderSum(byte[] frame, int at) {
            int sum = 0;
            for (int i = 0; i < 20; i += 2) {
                sum += ((frame[at + i] & 0xff) << 8) | (frame[at + i + 1] & 0xff);
            }
            while ((sum >>> 16) != 0) {
                sum = (sum & 0xffff) + (sum >>> 16);
            }
            return sum;
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static void update(BpfMap map, Arena arena, byte[] key, byte[] value) {
        map.update(arena.allocateFrom(ValueLayout.JAVA_BYTE, key), arena.allocateFrom(ValueLayout.JAVA_BYTE, value),
                BpfMap.BPF_ANY);
    }

    private static byte[] u32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }

    /** Deletes every element of a hash map, in batches. */
    private static void clear(BpfMap map) {
        int keySize = map.keySize();
        int batch = 8192;
        List<byte[]> keys = new ArrayList<>();
        map.forEachKey(k -> keys.add(k.toArray(ValueLayout.JAVA_BYTE)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment chunk = arena.allocate((long) keySize * batch, 8);
            for (int from = 0; from < keys.size(); from += batch) {
                int count = Math.min(batch, keys.size() - from);
                for (int i = 0; i < count; i++) {
                    MemorySegment.copy(keys.get(from + i), 0, chunk, ValueLayout.JAVA_BYTE, (long) i * keySize,
                            keySize);
                }
                map.deleteBatch(chunk, count);
            }
        }
    }

    private static int onlineCpus() {
        try {
            String online = Files.readString(Path.of("/sys/devices/system/cpu/possible")).trim();
            String last = online.contains("-") ? online.substring(online.lastIndexOf('-') + 1) : online;
            return Integer.parseInt(last) + 1;
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("cannot read the possible CPUs", e);
        }
    }

    /** Client i: 100.64.0.0 + i/512, port 10000 + (i % 512) * 97. */
    private static InetAddress client(int i) {
        int host = i >>> 9;
        try {
            return InetAddress.getByAddress(new byte[] {100, (byte) (64 + (host >>> 16)), (byte) (host >>> 8),
                    (byte) host});
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int clientPort(int i) {
        return 10000 + (i & 511) * 97;
    }

    private static byte[] tcp(InetAddress src, int sport, InetAddress dst, int dport, int flags, boolean payload) {
        PacketBuilder b = PacketBuilder.ipv4(src, dst).tcp(sport, dport).flags(flags).seq(1);
        if ((flags & PacketBuilder.SYN) != 0) {
            b.tcpOptions(new byte[] {2, 4, 0x05, (byte) 0xb4});
        }
        if (payload) {
            b.payload(new byte[64]);
        }
        return b.build();
    }

    private static ByteString bytes(String address) {
        return ByteString.copyFrom(ip(address).getAddress());
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }
}
