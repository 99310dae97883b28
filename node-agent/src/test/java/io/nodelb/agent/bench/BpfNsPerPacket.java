package io.nodelb.agent.bench;

import com.google.protobuf.ByteString;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfObject;
import io.nodelb.agent.bpf.BpfProgram;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.bpf.RingBuffer;
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
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
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
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

/**
 * Nanoseconds per packet of the production XDP and TC programs through BPF_PROG_TEST_RUN,
 * measured the way traffic arrives: one fresh packet per call (repeat = 1), every call a
 * different flow, the kernel's own per-call duration recorded. The trivial programs (xdp_pass,
 * and a tc program that returns TC_ACT_OK) run in the same rounds, interleaved with the real
 * ones, as the floor: what the test-run machinery costs around any program.
 *
 * <p>Paths: a new flow (SYN to a VIP: conntrack miss, listener, Maglev, two conntrack inserts,
 * DNAT), an established flow (the same flows again: one conntrack hit), non-VIP traffic (the
 * port filter; and a listener port on another address, which gets to the lookups), the DNAT
 * reply at TC egress, FullNAT new flows and FullNAT replies at XDP, for IPv4 and IPv6.
 *
 * <p>Every call's verdict is checked, every pass's nlb_stats delta is checked (one reason, one
 * count per packet), a sample of outputs is parsed and its checksums recomputed, and after
 * each round the conntrack must hold exactly two entries per flow. Runs as root; run it
 * through bin/nodelb-bench-bpf.
 */
public final class BpfNsPerPacket {

    private static final int XDP_PASS = 2;
    private static final int XDP_REDIRECT = 4;
    /** What the XDP program returns for a packet it translated: XDP_REDIRECT with --xdp-forward to a safe interface. */
    private static int translatedRetval = XDP_PASS;
    private static final int TC_ACT_OK = 0;
    private static final int SAMPLE_EVERY = 4099;

    private static final String VIP4 = "203.0.113.10";
    private static final String VIP6 = "2001:db8:f::10";
    private static final String SNAT4 = "10.0.0.1";
    private static final int HTTP = 80;
    private static final int HTTP_FULLNAT = 8443;
    private static final int BACKEND_PORT = 8080;
    private static final int BACKENDS_PER_FAMILY = 32;

    private final Options options;
    private final BpfDataPlane dataPlane;
    private final BpfObject xdpFloorObject;
    private final BpfObject tcFloorObject;
    private final BpfProgram xdpFloor;
    private final BpfProgram tcFloor;
    private final Map<String, Series> series = new LinkedHashMap<>();
    /** The flow events' consumer (--events), drained between calls; null otherwise. */
    private RingBuffer events;
    private long eventRecords;
    /** The port of the listener with flow events (--events): the same as HTTP on VIP4 otherwise. */
    private static final int HTTP_EVENTS = 81;
    /**
     * The port of the rate-limited listener (--rate-limit): 1,000,000 new connections per second and as
     * many of burst per source address, so every SYN is admitted and the bench measures taking a token
     * (512 flows per client address: one bucket insert, then 511 refills from a bucket found).
     */
    private static final int HTTP_RATE = 83;
    private static final int DRAIN_EVERY = 8192;

    /**
     * @param events also measure the IPv4 DNAT new-flow and established paths of a listener with flow
     *     events on (port 81, NLB_LISTENER_EVENTS; records drained between calls, budget unlimited),
     *     beside the same paths of port 80 without: on and off in the same rounds
     */
    record Options(int flows, int fullNatFlows, int rounds, Path out, boolean events,
                   boolean rateLimit, String xdpForward, int calls, int repetitions) {

        static Options parse(String[] args) {
            int flows = 100_000;
            int fullNatFlows = 32_768;
            int rounds = 5;
            Path out = null;
            boolean events = false;
            boolean rateLimit = false;
            String xdpForward = null;
            int calls = 7;
            int repetitions = 1_000_000;
            for (int i = 0; i < args.length; i++) {
                String flag = args[i];
                if (flag.equals("--events")) {
                    events = true;
                    continue;
                }
                if (flag.equals("--rate-limit")) {
                    rateLimit = true;
                    continue;
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(flag + " needs a value");
                }
                String value = args[++i];
                switch (flag) {
                    case "--flows" -> flows = positive(flag, value);
                    case "--fullnat-flows" -> fullNatFlows = positive(flag, value);
                    case "--rounds" -> rounds = positive(flag, value);
                    case "--out" -> out = Path.of(value);
                    case "--xdp-forward" -> xdpForward = value;
                    case "--calls" -> calls = positive(flag, value);
                    case "--repetitions" -> repetitions = positive(flag, value);
                    default -> throw new IllegalArgumentException("unknown option " + flag);
                }
            }
            int extra = (events ? 1 : 0) + (rateLimit ? 1 : 0);
            if (flows > 500_000 / (2 + extra)) {
                throw new IllegalArgumentException("--flows is at most 250000 (166000 with --events or --rate-limit,"
                        + " 125000 with both): two families, FullNAT (and the events and rate-limited listeners) must"
                        + " fit the 1M-entry conntrack without eviction");
            }
            return new Options(flows, Math.min(fullNatFlows, flows), rounds, out, events, rateLimit,
                    xdpForward, calls, repetitions);
        }

        private static int positive(String flag, String value) {
            int n = Integer.parseInt(value);
            if (n < 1) {
                throw new IllegalArgumentException(flag + " must be positive: " + value);
            }
            return n;
        }
    }

    /** Every per-call duration of one path, over the measured rounds. */
    private static final class Series {
        final String name;
        final String hook;
        final List<long[]> rounds = new ArrayList<>();

        Series(String name, String hook) {
            this.name = name;
            this.hook = hook;
        }

        long[] all() {
            return rounds.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        }
    }

    /** One pass: every frame through one program once, with the checks of its outcome. */
    private record Pass(String series, String hook, BpfProgram program, byte[][] frames, int retval,
            Abi.Stat reason, Predicate<Packet> sample) {}

    private BpfNsPerPacket(Options options, BpfDataPlane dataPlane, BpfObject xdpFloorObject, BpfObject tcFloorObject) {
        this.options = options;
        this.dataPlane = dataPlane;
        this.xdpFloorObject = xdpFloorObject;
        this.tcFloorObject = tcFloorObject;
        this.xdpFloor = xdpFloorObject.program("xdp_pass");
        this.tcFloor = tcFloorObject.program("tc_pass");
    }

    public static void main(String[] args) throws IOException {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("nodelb-bench-bpf: " + e.getMessage());
            System.err.println("usage: nodelb-bench-bpf [--flows N] [--fullnat-flows N] [--rounds N] [--events] [--rate-limit]"
                    + " [--xdp-forward IF] [--calls N] [--repetitions N] [--out FILE]");
            System.exit(2);
            return;
        }
        Path pinPath = Path.of("/sys/fs/bpf", "nodelb-bench-" + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
        DesiredState.Limits limits = DesiredState.Limits.defaults();
        // With --events the budget never holds a record back: the bench measures writing them.
        // --xdp-forward IF: translated packets take the fast path (lib/fastpath.h) with this namespace's routes,
        // IF marked safe by the agent's rule: up to XDP_REDIRECT (test-run returns it without sending).
        Map<String, Long> rodata = new java.util.HashMap<>();
        if (options.events()) {
            rodata.put(BpfDataPlane.EVENTS_PER_SEC, 1_000_000_000L);
        }
        if (options.xdpForward() != null) {
            rodata.put(io.nodelb.agent.dataplane.XdpForward.RODATA, 1L);
        }
        // Every flow's entries kept until the round's count, also those still waiting for their backend's answer.
        rodata.put(BpfDataPlane.EMBRYONIC_MAP + BpfDataPlane.MAX_ENTRIES, (long) Abi.MAX_CONNTRACK);
        BpfDataPlane dataPlane = BpfDataPlane.load(pinPath, limits, rodata);
        Thread cleanup = new Thread(dataPlane::uninstall, "nodelb-bench-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try (BpfObject xdpFloor = BpfObject.openResource("io/nodelb/bpf/xdp_pass.bpf.o");
                BpfObject tcFloor = BpfObject.openResource("io/nodelb/bpf/tc_pass.bpf.o")) {
            xdpFloor.load();
            tcFloor.load();
            new SnapshotApplier(dataPlane.maps(), BpfNsPerPacket::host, limits)
                    .apply(snapshot(options.events(), options.rateLimit()));
            if (options.xdpForward() != null) {
                dataPlane.forward().sync(java.util.Set.of(options.xdpForward()));
                System.out.println("nodelb-bench-bpf: XDP fast path, safe interfaces " + dataPlane.forward().safeInterfaces());
                translatedRetval = dataPlane.forward().safeInterfaces().getOrDefault(options.xdpForward(), false)
                        ? XDP_REDIRECT : XDP_PASS;
            }
            BpfNsPerPacket bench = new BpfNsPerPacket(options, dataPlane, xdpFloor, tcFloor);
            String table;
            if (options.events()) {
                listenerEvents(dataPlane, VIP4, HTTP_EVENTS);
                try (RingBuffer ring = RingBuffer.open(dataPlane.map(BpfDataPlane.EVENTS_MAP),
                        record -> bench.eventRecords++)) {
                    bench.events = ring;
                    table = bench.run();
                }
            } else {
                table = bench.run();
            }
            System.out.print(table);
            if (options.out() != null) {
                Files.createDirectories(options.out().toAbsolutePath().getParent());
                Files.writeString(options.out(), table);
                System.out.println("written to " + options.out());
            }
        } finally {
            dataPlane.uninstall();
            Runtime.getRuntime().removeShutdownHook(cleanup);
        }
    }

    // ---- the node ---------------------------------------------------------------------------

    private static List<InetAddress> host(String name) {
        return switch (name) {
            case "eth0" -> List.of(ip("192.0.2.1"), ip("2001:db8::1"));
            case "eth1" -> List.of(ip(SNAT4), ip("fd00::1"));
            default -> null;
        };
    }

    /** HTTP on VIP4 and VIP6 (DNAT) and 8443 on VIP4 (FullNAT), to 32 backends per family. */
    private static NodeSnapshot snapshot(boolean events, boolean rateLimit) {
        List<Backend> backends = new ArrayList<>();
        for (int i = 1; i <= BACKENDS_PER_FAMILY; i++) {
            for (String address : List.of("10.0.1." + i, "fd00:1::" + i)) {
                backends.add(Backend.newBuilder().setAddress(bytes(address)).setPort(BACKEND_PORT).setWeight(1)
                        .setState(BackendState.ACTIVE).setOrigin("static").build());
            }
        }
        TargetGroup web = TargetGroup.newBuilder().setName("bench/web").setAlgorithm(Algorithm.MAGLEV)
                .addAllBackends(backends).build();
        List<Listener> listeners = List.of(
                listener("http4", VIP4, HTTP, NatMode.DNAT),
                listener("http6", VIP6, HTTP, NatMode.DNAT),
                listener("https4", VIP4, HTTP_FULLNAT, NatMode.FULL_NAT).toBuilder().setSnatAddress(bytes(SNAT4))
                        .addInterfaces("eth1").build());
        if (events) {
            listeners = new ArrayList<>(listeners);
            listeners.add(listener("http4e", VIP4, HTTP_EVENTS, NatMode.DNAT));
        }
        if (rateLimit) {
            listeners = new ArrayList<>(listeners);
            listeners.add(listener("http4r", VIP4, HTTP_RATE, NatMode.DNAT).toBuilder()
                    .setRateLimit(io.nodelb.dataplane.v1alpha1.RateLimit.newBuilder()
                            .setNewConnectionsPerSecond(1_000_000).setBurst(1_000_000)
                            .setSourcePrefixLength(32).setSourcePrefixLengthV6(64))
                    .build());
        }
        return NodeSnapshot.newBuilder().setNode("bench").addAllListeners(listeners).addTargetGroups(web).build();
    }

    /**
     * Sets NLB_LISTENER_EVENTS on the TCP listener vip:port in nlb_listeners, as the agent does for a
     * listener whose flow events are on.
     */
    private static void listenerEvents(BpfDataPlane dataPlane, String vip, int port) {
        BpfMap map = dataPlane.map("nlb_listeners");
        Abi.ListenerKey listenerKey = new Abi.ListenerKey(ip(vip), port, Abi.IPPROTO_TCP);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = map.allocateKey(arena);
            MemorySegment value = map.allocateValue(arena);
            listenerKey.writeTo(key);
            if (!map.lookup(key, value)) {
                throw new IllegalStateException("no listener " + listenerKey);
            }
            Abi.Listener l = Abi.Listener.readFrom(value, listenerKey.family());
            new Abi.Listener(l.id(), l.group(), l.flags() | Abi.LISTENER_EVENTS, l.snatPortMin(), l.snatPortMax(),
                    l.snatAddress()).writeTo(value);
            map.update(key, value, BpfMap.BPF_EXIST);
        }
    }

    private static Listener listener(String name, String vip, int port, NatMode mode) {
        return Listener.newBuilder().setName("bench/lb/" + name).setAddress(bytes(vip)).setPort(port)
                .setProtocol(Protocol.TCP).setNatMode(mode).setTargetGroup("bench/web").addInterfaces("eth0").build();
    }

    // ---- the frames -------------------------------------------------------------------------

    /** Client i: 100.64.0.0 + i/512 (IPv4) or 2001:db8:100::/64 + i/512, port 10000 + (i % 512) * 97. */
    private static InetAddress client(int i, boolean ipv6) {
        int host = i >>> 9;
        byte[] address = ipv6 ? ip("2001:db8:100::").getAddress() : new byte[] {100, 64, 0, 0};
        address[address.length - 2] = (byte) (host >>> 8);
        address[address.length - 1] = (byte) host;
        try {
            return InetAddress.getByAddress(address);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int clientPort(int i) {
        return 10000 + (i & 511) * 97;
    }

    private static byte[][] frames(int n, boolean ipv6, String to, int port, int flags, boolean payload) {
        return frames(0, n, ipv6, to, port, flags, payload);
    }

    /** The frames of clients first .. first + n - 1. */
    private static byte[][] frames(int first, int n, boolean ipv6, String to, int port, int flags, boolean payload) {
        byte[][] frames = new byte[n][];
        for (int i = 0; i < n; i++) {
            frames[i] = tcp(client(first + i, ipv6), clientPort(first + i), ip(to), port, flags, payload);
        }
        return frames;
    }

    private static byte[] tcp(InetAddress src, int sport, InetAddress dst, int dport, int flags, boolean payload) {
        PacketBuilder b = src instanceof Inet4Address ? PacketBuilder.ipv4(src, dst) : PacketBuilder.ipv6(src, dst);
        b.tcp(sport, dport).flags(flags).seq(1);
        if ((flags & PacketBuilder.SYN) != 0) {
            b.tcpOptions(new byte[] {2, 4, 0x05, (byte) 0xb4});
        }
        if (payload) {
            b.payload(new byte[64]);
        }
        return b.build();
    }

    /** The backend's answers to the translated packets: swap the translated tuple. */
    private static byte[][] replies(byte[][] translated) {
        return replies(translated, PacketBuilder.SYN | PacketBuilder.ACK);
    }

    private static byte[][] replies(byte[][] translated, int flags) {
        byte[][] replies = new byte[translated.length][];
        for (int i = 0; i < translated.length; i++) {
            Packet p = Packet.parse(translated[i]);
            replies[i] = tcp(p.dst(), p.dstPort(), p.src(), p.srcPort(), flags, false);
        }
        return replies;
    }

    /** Untimed: the backend's ACK to each flow at TC egress, which establishes it (bpf/README.md, "Conntrack flood safety"). */
    private void establish(byte[][] translated) {
        establish(false, "", translated);
    }

    /** As {@link #establish(byte[][])}, recorded under series when record is set. */
    private void establish(boolean record, String series, byte[][] translated) {
        measure(record, new Pass(series, "tc", dataPlane.tcProgram(), replies(translated, PacketBuilder.ACK), TC_ACT_OK,
                Abi.Stat.CT_REPLY, p -> p.src().equals(ip(VIP4)) || p.src().equals(ip(VIP6))), false);
    }

    // ---- the run ----------------------------------------------------------------------------

    private String run() {
        int n = options.flows();
        int nf = options.fullNatFlows();
        byte[][] syn4 = frames(n, false, VIP4, HTTP, PacketBuilder.SYN, false);
        byte[][] ack4 = frames(n, false, VIP4, HTTP, PacketBuilder.ACK, false);
        byte[][] data4 = frames(n, false, VIP4, HTTP, PacketBuilder.ACK | PacketBuilder.PSH, true);
        byte[][] syn6 = frames(n, true, VIP6, HTTP, PacketBuilder.SYN, false);
        byte[][] ack6 = frames(n, true, VIP6, HTTP, PacketBuilder.ACK, false);
        byte[][] data6 = frames(n, true, VIP6, HTTP, PacketBuilder.ACK | PacketBuilder.PSH, true);
        byte[][] otherPort = frames(n, false, VIP4, 22, PacketBuilder.SYN, false);
        byte[][] otherAddress = frames(n, false, "203.0.113.99", HTTP, PacketBuilder.SYN, false);
        byte[][] fullNatSyn = frames(nf, false, VIP4, HTTP_FULLNAT, PacketBuilder.SYN, false);
        // The events listener's clients come after the others: no two flows share a DNAT reply key.
        byte[][] syn4e = options.events() ? frames(n, n, false, VIP4, HTTP_EVENTS, PacketBuilder.SYN, false) : null;
        byte[][] ack4e = options.events() ? frames(n, n, false, VIP4, HTTP_EVENTS, PacketBuilder.ACK, false) : null;
        byte[][] data4e = options.events()
                ? frames(n, n, false, VIP4, HTTP_EVENTS, PacketBuilder.ACK | PacketBuilder.PSH, true) : null;
        // The rate-limited listener's clients come after the events listener's.
        byte[][] syn4r = options.rateLimit() ? frames(2 * n, n, false, VIP4, HTTP_RATE, PacketBuilder.SYN, false) : null;
        byte[][] hot = new byte[n][];
        Arrays.fill(hot, data4[0]);

        Set<InetAddress> backends4 = backendAddresses(false);
        Set<InetAddress> backends6 = backendAddresses(true);
        Predicate<Packet> toBackend4 = p -> backends4.contains(p.dst()) && p.dstPort() == BACKEND_PORT;
        Predicate<Packet> toBackend6 = p -> backends6.contains(p.dst()) && p.dstPort() == BACKEND_PORT;
        Predicate<Packet> fromVip4 = p -> p.src().equals(ip(VIP4)) && p.srcPort() == HTTP;
        Predicate<Packet> fullNatToBackend = p -> toBackend4.test(p) && p.src().equals(ip(SNAT4))
                && p.srcPort() >= 61000;
        Predicate<Packet> fullNatBack = p -> p.src().equals(ip(VIP4)) && p.srcPort() == HTTP_FULLNAT;

        System.out.printf(Locale.ROOT, "nodelb-bench-bpf: %d flows per family, %d FullNAT flows, %d rounds"
                + " (+1 warm-up), repeat = 1%n", n, nf, options.rounds());
        for (int round = 0; round <= options.rounds(); round++) {
            boolean measured = round > 0;
            long started = System.nanoTime();
            clearConntrack();
            List<Runnable> blocks = new ArrayList<>();
            blocks.add(() -> {
                byte[][] translated = measure(measured, new Pass("new flow, IPv4 TCP SYN (DNAT)", "xdp",
                        dataPlane.xdpProgram(), syn4, translatedRetval, Abi.Stat.NEW_FLOW, toBackend4), true);
                measure(false, new Pass("", "xdp", dataPlane.xdpProgram(), ack4, translatedRetval, Abi.Stat.CT_HIT,
                        toBackend4), false);
                establish(measured, "DNAT reply at TC egress, IPv4, the backend's first ACK (establishes)",
                        translated);
                measure(measured, new Pass("established, IPv4 TCP (conntrack hit)", "xdp", dataPlane.xdpProgram(),
                        data4, translatedRetval, Abi.Stat.CT_HIT, toBackend4), false);
                measure(measured, new Pass("established, IPv4, one hot flow every call", "xdp",
                        dataPlane.xdpProgram(), hot, translatedRetval, Abi.Stat.CT_HIT, toBackend4), false);
                byte[][] back = replies(translated);
                measure(measured, new Pass("TC floor (tc_pass)", "tc", tcFloor, back, TC_ACT_OK, null,
                        null), false);
                measure(measured, new Pass("DNAT reply at TC egress, IPv4", "tc", dataPlane.tcProgram(), back,
                        TC_ACT_OK, Abi.Stat.CT_REPLY, fromVip4), false);
            });
            blocks.add(() -> {
                byte[][] translated = measure(measured, new Pass("new flow, IPv6 TCP SYN (DNAT)", "xdp",
                        dataPlane.xdpProgram(), syn6, translatedRetval, Abi.Stat.NEW_FLOW, toBackend6), true);
                measure(false, new Pass("", "xdp", dataPlane.xdpProgram(), ack6, translatedRetval, Abi.Stat.CT_HIT,
                        toBackend6), false);
                establish(translated);
                measure(measured, new Pass("established, IPv6 TCP (conntrack hit)", "xdp", dataPlane.xdpProgram(),
                        data6, translatedRetval, Abi.Stat.CT_HIT, toBackend6), false);
            });
            blocks.add(() -> {
                measure(measured, new Pass("non-VIP: VIP address, port without listener", "xdp",
                        dataPlane.xdpProgram(), otherPort, XDP_PASS, Abi.Stat.PASS_NO_LISTENER, null), false);
                measure(measured, new Pass("non-VIP: other address, listener port", "xdp", dataPlane.xdpProgram(),
                        otherAddress, XDP_PASS, Abi.Stat.PASS_NO_LISTENER, null), false);
            });
            blocks.add(() -> {
                byte[][] translated = measure(measured, new Pass("new flow, IPv4 TCP SYN (FullNAT)", "xdp",
                        dataPlane.xdpProgram(), fullNatSyn, translatedRetval, Abi.Stat.NEW_FLOW, fullNatToBackend), true);
                measure(measured, new Pass("FullNAT reply at XDP, IPv4", "xdp", dataPlane.xdpProgram(),
                        replies(translated), translatedRetval, Abi.Stat.CT_REPLY, fullNatBack), false);
            });
            if (options.events()) {
                blocks.add(() -> {
                    byte[][] translated = measure(measured, new Pass("new flow, IPv4 TCP SYN (DNAT), events on",
                            "xdp", dataPlane.xdpProgram(), syn4e, translatedRetval, Abi.Stat.NEW_FLOW, toBackend4), true);
                    measure(false, new Pass("", "xdp", dataPlane.xdpProgram(), ack4e, translatedRetval, Abi.Stat.CT_HIT,
                            toBackend4), false);
                    establish(translated);
                    measure(measured, new Pass("established, IPv4 TCP (conntrack hit), events on", "xdp",
                            dataPlane.xdpProgram(), data4e, translatedRetval, Abi.Stat.CT_HIT, toBackend4), false);
                });
            }
            if (options.rateLimit()) {
                blocks.add(() -> measure(measured, new Pass("new flow, IPv4 TCP SYN (DNAT), rate limited", "xdp",
                        dataPlane.xdpProgram(), syn4r, translatedRetval, Abi.Stat.NEW_FLOW, toBackend4), false));
            }
            // Rotate the blocks from round to round, so no path always runs first or last.
            for (int b = 0; b < blocks.size(); b++) {
                blocks.get((b + round) % blocks.size()).run();
            }
            long entries = countConntrack();
            long expected = 2L * (2L * n + nf + (options.events() ? n : 0) + (options.rateLimit() ? n : 0));
            if (entries != expected) {
                throw new IllegalStateException("after round " + round + " the conntrack holds " + entries
                        + " entries, expected " + expected + " (two per flow)");
            }
            System.out.printf(Locale.ROOT, "round %d%s: %.1f s, conntrack %d entries%n", round,
                    measured ? "" : " (warm-up)", (System.nanoTime() - started) / 1e9, entries);
        }
        clearConntrack();
        if (events != null) {
            events.consume();
            long expectedRecords = (long) n * (options.rounds() + 1);
            Abi.EventBudget budget = dataPlane.eventBudget();
            if (eventRecords != expectedRecords || budget.overBudget() != 0 || budget.ringFull() != 0) {
                throw new IllegalStateException("flow events: " + eventRecords + " records read, expected "
                        + expectedRecords + " (one per new flow of port " + HTTP_EVENTS + "); budget " + budget);
            }
            System.out.printf(Locale.ROOT, "flow events: %d records read, one per new flow of the events"
                    + " listener, none held back (%s)%n", eventRecords, budget);
        }
        return table() + repeatedSamePacket(syn4[0], otherPort[0]);
    }

    // ---- the other method: one packet, repeated ---------------------------------------------

    /**
     * The method of bpf/README.md, for comparison in the same run: one packet run --repetitions times
     * in one call (the kernel reports the mean), median and best of --calls calls (more, shorter
     * calls are disturbed less often on a busy machine). The program
     * rewrites the packet in place, so each repetition sees the previous output: the
     * established path gets two entries that map the tuple to the backend's and back; the new
     * flow path gets a data plane whose SYN timeout is UINT64_MAX (every entry is stale, each
     * repetition selects and inserts again) and whose backend is the VIP itself (the rewrite
     * leaves the tuple as it was).
     */
    private String repeatedSamePacket(byte[] syn, byte[] foreign) {
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "%nThe same packet repeated (%d repetitions"
                + " per call, %d calls; the kernel's mean per repetition):%n%n", options.repetitions(), options.calls()));
        out.append(String.format(Locale.ROOT, "| path | median of %d | best of %d | net of floor (median) |%n|---|---:|---:|---:|%n",
                options.calls(), options.calls()));
        long[] floor = repeated(xdpFloor, syn, null, null);
        row(out, "XDP floor (xdp_pass)", floor, null);
        row(out, "non-VIP: VIP address, port without listener",
                repeated(dataPlane.xdpProgram(), foreign, dataPlane, Abi.Stat.PASS_NO_LISTENER), floor);

        // The "backend" is the VIP's other listener (8443): only packets to a listener reach the
        // conntrack, so both tuples must be listeners' for every repetition to hit.
        InetAddress client = ip("100.127.0.1");
        InetAddress vip = ip(VIP4);
        long now = System.nanoTime(); // CLOCK_MONOTONIC, the programs' clock
        putEntry(new Abi.CtKey(client, 5555, vip, HTTP, Abi.IPPROTO_TCP),
                new Abi.CtEntry(client, vip, 5555, HTTP_FULLNAT, 1, now, now, 0, 0, Abi.CT_ESTABLISHED, 0, 0));
        putEntry(new Abi.CtKey(client, 5555, vip, HTTP_FULLNAT, Abi.IPPROTO_TCP),
                new Abi.CtEntry(client, vip, 5555, HTTP, 1, now, now, 0, 0, Abi.CT_ESTABLISHED, 0, 0));
        byte[] data = tcp(client, 5555, vip, HTTP, PacketBuilder.ACK | PacketBuilder.PSH, true);
        Packet once = Packet.parse(dataPlane.xdpProgram().testRun(data).output());
        if (!once.dst().equals(vip) || once.dstPort() != HTTP_FULLNAT) {
            throw new IllegalStateException("the hand-made established entries did not translate: " + once);
        }
        if (dataPlane.forward().enabled()) {
            // Repetitions run on the same bytes: each would take a hop off the TTL, and from the 64th on
            // every one would take the fast path's TTL fallback instead.
            out.append("| established, IPv4 TCP (two entries, tuple and back) | not measured with --xdp-forward | | |\n");
        } else {
            row(out, "established, IPv4 TCP (two entries, tuple and back)",
                    repeated(dataPlane.xdpProgram(), data, dataPlane, Abi.Stat.CT_HIT), floor);
        }

        Path pin = Path.of("/sys/fs/bpf", "nodelb-bench-stale-" + ProcessHandle.current().pid());
        DesiredState.Limits limits = DesiredState.Limits.defaults();
        BpfDataPlane stale = BpfDataPlane.load(pin, limits, Map.of("cfg_timeout_syn_ns", -1L));
        try {
            Backend self = Backend.newBuilder().setAddress(bytes(VIP4)).setPort(HTTP).setWeight(1)
                    .setState(BackendState.ACTIVE).setOrigin("static").build();
            new SnapshotApplier(stale.maps(), BpfNsPerPacket::host, limits).apply(NodeSnapshot.newBuilder()
                    .setNode("bench").addListeners(listener("self", VIP4, HTTP, NatMode.DNAT))
                    .addTargetGroups(TargetGroup.newBuilder().setName("bench/web").setAlgorithm(Algorithm.MAGLEV)
                            .addBackends(self))
                    .build());
            long[] before = stale.packetStats();
            TestRunResult first = stale.xdpProgram().testRun(syn);
            if (!Arrays.equals(first.output(), syn)
                    || stale.packetStats()[Abi.Stat.NEW_FLOW.value()] - before[Abi.Stat.NEW_FLOW.value()] != 1) {
                throw new IllegalStateException("the stale-entry data plane did not take the new-flow path");
            }
            row(out, "new flow, IPv4 TCP SYN (stale entries updated in place)",
                    repeated(stale.xdpProgram(), syn, stale, Abi.Stat.NEW_FLOW), floor);
            if (options.rateLimit()) {
                // The same listener and group with each limit out of reach (2*10^9 a second and of burst, beyond
                // the API's bounds but within the data plane's arithmetic): every repetition takes a token.
                Listener plain = listener("self", VIP4, HTTP, NatMode.DNAT);
                TargetGroup group = TargetGroup.newBuilder().setName("bench/web").setAlgorithm(Algorithm.MAGLEV)
                        .addBackends(self).build();
                io.nodelb.dataplane.v1alpha1.RateLimit.Builder limit = io.nodelb.dataplane.v1alpha1.RateLimit
                        .newBuilder().setSourcePrefixLength(32).setSourcePrefixLengthV6(64);
                row(out, "new flow, IPv4 TCP SYN (stale entries updated in place), rate limited",
                        repeatedWith(stale, limits, plain.toBuilder().setRateLimit(limit.clone()
                                .setNewConnectionsPerSecond(2_000_000_000).setBurst(2_000_000_000)).build(), group,
                                syn), floor);
                row(out, "new flow, IPv4 TCP SYN (stale entries updated in place), packet limited",
                        repeatedWith(stale, limits, plain.toBuilder().setRateLimit(limit.clone()
                                .setPacketsPerSecond(2_000_000_000).setPacketBurst(2_000_000_000)).build(), group,
                                syn), floor);
                row(out, "new flow, IPv4 TCP SYN (stale entries updated in place), backend limited",
                        repeatedWith(stale, limits, plain, group.toBuilder().setBackendRateLimit(
                                io.nodelb.dataplane.v1alpha1.BackendRateLimit.newBuilder()
                                        .setNewConnectionsPerSecond(2_000_000_000).setBurst(2_000_000_000)).build(),
                                syn), floor);
                row(out, "new flow, IPv4 TCP SYN (stale entries updated in place), again without",
                        repeatedWith(stale, limits, plain, group, syn), floor);
            }
        } finally {
            stale.uninstall();
        }
        return out.toString();
    }

    /** The stale-entry data plane with this listener and group, then the same repetitions. */
    private long[] repeatedWith(BpfDataPlane stale, DesiredState.Limits limits, Listener listener, TargetGroup group,
            byte[] syn) {
        new SnapshotApplier(stale.maps(), BpfNsPerPacket::host, limits).apply(NodeSnapshot.newBuilder()
                .setNode("bench").addListeners(listener).addTargetGroups(group).build());
        return repeated(stale.xdpProgram(), syn, stale, Abi.Stat.NEW_FLOW);
    }

    /** --calls calls of --repetitions repetitions, sorted; every repetition must count under reason (none: null). */
    private long[] repeated(BpfProgram program, byte[] packet, BpfDataPlane counted, Abi.Stat reason) {
        int repetitions = options.repetitions();
        long[] before = counted == null ? null : counted.packetStats();
        long[] means = new long[options.calls()];
        for (int i = 0; i < means.length; i++) {
            TestRunResult r = program.testRun(packet, repetitions);
            if (r.retval() != XDP_PASS) {
                throw new IllegalStateException(program.name() + " returned " + r.retval());
            }
            means[i] = r.durationNs();
        }
        if (counted != null) {
            long moved = counted.packetStats()[reason.value()] - before[reason.value()];
            if (moved != (long) repetitions * means.length) {
                throw new IllegalStateException(program.name() + ": " + moved + " repetitions counted as " + reason
                        + ", expected " + (long) repetitions * means.length);
            }
        }
        Arrays.sort(means);
        return means;
    }

    private static void row(StringBuilder out, String path, long[] sortedMeans, long[] floor) {
        int median = sortedMeans.length / 2;
        out.append(String.format(Locale.ROOT, "| %s | %d | %d | %s |%n", path, sortedMeans[median], sortedMeans[0],
                floor == null ? "-" : Long.toString(sortedMeans[median] - floor[median])));
    }

    private void putEntry(Abi.CtKey key, Abi.CtEntry entry) {
        BpfMap ct = dataPlane.map("nlb_conntrack");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = ct.allocateKey(arena);
            MemorySegment v = ct.allocateValue(arena);
            key.writeTo(k);
            entry.writeTo(v);
            ct.update(k, v, BpfMap.BPF_ANY);
        }
    }

    /**
     * Runs a pass, each call preceded by nothing but the copy of its frame; before it, the
     * XDP floor runs over the same frames (XDP passes only; the TC floor is its own pass).
     * Returns the outputs when asked to keep them.
     */
    private byte[][] measure(boolean record, Pass pass, boolean keepOutputs) {
        if (pass.hook().equals("xdp") && pass.reason() != null) {
            runPass(record, new Pass("XDP floor (xdp_pass)", "xdp", xdpFloor, pass.frames(), XDP_PASS, null,
                    null), false);
        }
        return runPass(record, pass, keepOutputs);
    }

    private byte[][] runPass(boolean record, Pass pass, boolean keepOutputs) {
        byte[][] frames = pass.frames();
        long[] durations = new long[frames.length];
        byte[][] outputs = keepOutputs ? new byte[frames.length][] : null;
        long[] before = dataPlane.packetStats();
        for (int i = 0; i < frames.length; i++) {
            TestRunResult r = pass.program().testRun(frames[i]);
            durations[i] = r.durationNs();
            if (r.retval() != pass.retval()) {
                throw new IllegalStateException(pass.series() + ": call " + i + " returned " + r.retval()
                        + ", expected " + pass.retval() + " for " + Packet.parse(frames[i]));
            }
            if (keepOutputs) {
                outputs[i] = r.output();
            }
            if (i % SAMPLE_EVERY == 0 || i == frames.length - 1) {
                check(pass, frames[i], r.output());
            }
            if (events != null && i % DRAIN_EVERY == DRAIN_EVERY - 1) {
                events.consume(); // untimed, between calls: the ring never fills
            }
        }
        if (events != null) {
            events.consume();
        }
        long[] after = dataPlane.packetStats();
        for (Abi.Stat s : Abi.Stat.values()) {
            long moved = after[s.value()] - before[s.value()];
            long expected = s == pass.reason() ? frames.length : 0;
            if (moved != expected) {
                throw new IllegalStateException(pass.series() + ": nlb_stats[" + s + "] moved by " + moved
                        + ", expected " + expected);
            }
        }
        if (record && !pass.series().isEmpty()) {
            series.computeIfAbsent(pass.series(), name -> new Series(name, pass.hook())).rounds.add(durations);
        }
        return outputs;
    }

    /** A sampled output: rewritten as the pass expects with valid checksums, or untouched. */
    private static void check(Pass pass, byte[] input, byte[] output) {
        if (pass.sample() == null) {
            if (!Arrays.equals(input, output)) {
                throw new IllegalStateException(pass.series() + ": a packet that is not ours was changed: "
                        + Packet.parse(output));
            }
            return;
        }
        Packet p = Packet.parse(output);
        if (!pass.sample().test(p)) {
            throw new IllegalStateException(pass.series() + ": unexpected output " + p + " for " + Packet.parse(input));
        }
        Checksums.Result sums = Checksums.verify(output);
        if (!sums.valid()) {
            throw new IllegalStateException(pass.series() + ": bad checksums in " + p + ": " + sums);
        }
    }

    // ---- maps -------------------------------------------------------------------------------

    private Set<InetAddress> backendAddresses(boolean ipv6) {
        Set<InetAddress> addresses = new java.util.HashSet<>();
        for (int i = 1; i <= BACKENDS_PER_FAMILY; i++) {
            addresses.add(ip(ipv6 ? "fd00:1::" + i : "10.0.1." + i));
        }
        return addresses;
    }

    /** Entries of both flow tables (nlb_ct_embryonic holds the flows their backend has not answered). */
    private long countConntrack() {
        long[] count = {0};
        dataPlane.conntrackTables().forEach(ct -> ct.forEachKey(k -> count[0]++));
        return count[0];
    }

    /** Deletes every entry of both flow tables, in batches: each round starts with no flows. */
    private void clearConntrack() {
        dataPlane.conntrackTables().forEach(BpfNsPerPacket::clear);
    }

    private static void clear(BpfMap ct) {
        int keySize = ct.keySize();
        int batch = 8192;
        List<byte[]> keys = new ArrayList<>();
        ct.forEachKey(k -> keys.add(k.toArray(ValueLayout.JAVA_BYTE)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment chunk = arena.allocate((long) keySize * batch, 8);
            for (int from = 0; from < keys.size(); from += batch) {
                int count = Math.min(batch, keys.size() - from);
                for (int i = 0; i < count; i++) {
                    MemorySegment.copy(keys.get(from + i), 0, chunk, ValueLayout.JAVA_BYTE, (long) i * keySize, keySize);
                }
                ct.deleteBatch(chunk, count);
            }
        }
    }

    // ---- the report -------------------------------------------------------------------------

    private String table() {
        Series xdpFloorSeries = series.get("XDP floor (xdp_pass)");
        Series tcFloorSeries = series.get("TC floor (tc_pass)");
        Stats xdpBase = Stats.of(xdpFloorSeries.all());
        Stats tcBase = Stats.of(tcFloorSeries.all());
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%n### BPF ns/packet, %s%n%n", Instant.now().toString().substring(0, 19)));
        out.append(String.format(Locale.ROOT, "Kernel %s, %s, %d CPU(s) available to the run, SRSO: %s.%n", read("/proc/sys/kernel/osrelease"),
                cpuModel(), Runtime.getRuntime().availableProcessors(),
                read("/sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow")));
        out.append(String.format(Locale.ROOT, "BPF_PROG_TEST_RUN with repeat = 1: one packet per call, %d flows per"
                + " family (%d FullNAT), %d measured rounds; ns per call as the kernel timed it.%n"
                + "Net = the statistic minus the same statistic of the floor of the same hook"
                + " (XDP: xdp_pass, TC: tc_pass), measured in the same rounds.%n%n",
                options.flows(), options.fullNatFlows(), options.rounds()));
        out.append("| path | hook | calls | median | p90 | mean | net median | net p90 | net mean |"
                + " round medians |\n");
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (Series s : series.values()) {
            Stats st = Stats.of(s.all());
            Stats base = s.hook.equals("tc") ? tcBase : xdpBase;
            boolean floor = s == xdpFloorSeries || s == tcFloorSeries;
            long[] roundMedians = s.rounds.stream().mapToLong(r -> Stats.of(r.clone()).median).sorted().toArray();
            out.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %d | %.1f | %s | %s | %s | %d-%d |%n",
                    s.name, s.hook, st.count, st.median, st.p90, st.mean,
                    floor ? "-" : net(st.median - base.median), floor ? "-" : net(st.p90 - base.p90),
                    floor ? "-" : String.format(Locale.ROOT, "%.1f", st.mean - base.mean),
                    roundMedians[0], roundMedians[roundMedians.length - 1]));
        }
        return out.toString();
    }

    private static String net(long value) {
        return Long.toString(value);
    }

    private record Stats(int count, long median, long p90, double mean) {
        static Stats of(long[] values) {
            Arrays.sort(values);
            double mean = Arrays.stream(values).average().orElse(Double.NaN);
            return new Stats(values.length, values[values.length / 2], values[(int) (values.length * 0.9)], mean);
        }
    }

    private static String read(String path) {
        try {
            return Files.readString(Path.of(path)).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
