package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.bpf.LibBpf;
import io.nodelb.agent.bpf.XdpFeatures;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.NetnsThread;
import io.nodelb.agent.testing.Privileged;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The XDP fast path (bpf/lib/fastpath.h) through BPF_PROG_TEST_RUN, in a namespace of its own: its
 * FIB and neighbours are what bpf_fib_lookup consults (test-run runs in the caller's namespace,
 * packets "arrive" on its loopback). The web backends are routed out of veth fpa through a gateway
 * with a permanent neighbour entry; the dns backends through a gateway with no neighbour.
 *
 * <p>A translated packet routed out of an interface the agent marked safe comes out with the
 * gateway's and fpa's MAC addresses, its TTL or hop limit one less and (IPv4) a header checksum that
 * verifies by full recomputation, with XDP_REDIRECT (XDP_TX when it arrived on fpa itself); everything
 * else falls back to XDP_PASS with the
 * frame exactly as the stack path rewrites it.
 */
@Privileged
class FastPathIT extends DataPlaneFixture {

    private static final String NS = "nlbfp-" + ProcessHandle.current().pid();
    private static final String GATEWAY_MAC = "02:00:5e:00:fa:01";
    private static final int XDP_TX = 3;
    private static final int XDP_REDIRECT = 4;

    private NetnsThread netns;
    private byte[] fpaMac;
    private int fpaIndex;

    @Override
    LoadedDataPlane load() {
        return LoadedDataPlane.load(LoadedDataPlane.LIMITS, Map.of("cfg_xdp_forward", 1L));
    }

    @BeforeAll
    void namespace() throws Exception {
        Command.run("ip", "netns", "add", NS);
        try {
            for (String[] c : new String[][] {
                    {"ip", "link", "set", "lo", "up"},
                    {"sysctl", "-qw", "net.ipv4.ip_forward=1"},
                    {"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
                    {"sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"},
                    {"ip", "link", "add", "fpa", "type", "veth", "peer", "name", "fpb"},
                    {"ip", "link", "set", "fpa", "up"},
                    {"ip", "link", "set", "fpb", "up"},
                    {"ip", "addr", "add", "10.99.0.1/24", "dev", "fpa"},
                    {"ip", "-6", "addr", "add", "fd00:99::1/64", "dev", "fpa", "nodad"},
                    {"ip", "route", "add", "10.0.1.0/24", "via", "10.99.0.2"},
                    {"ip", "-6", "route", "add", "fd00:1::/64", "via", "fd00:99::2"},
                    {"ip", "neigh", "add", "10.99.0.2", "lladdr", GATEWAY_MAC, "dev", "fpa", "nud", "permanent"},
                    {"ip", "-6", "neigh", "add", "fd00:99::2", "lladdr", GATEWAY_MAC, "dev", "fpa", "nud", "permanent"},
                    // dns: a gateway nobody has resolved
                    {"ip", "route", "add", "10.0.2.0/24", "via", "10.99.0.3"},
                    {"ip", "-6", "route", "add", "fd00:2::/64", "via", "fd00:99::3"}}) {
                Command.run(Stream.concat(Stream.of("ip", "netns", "exec", NS), Stream.of(c)).toArray(String[]::new));
            }
            netns = NetnsThread.enter(NS);
            fpaIndex = netns.call(() -> LibBpf.ifindex("fpa"));
            fpaMac = HexFormat.ofDelimiter(":").parseHex(mac());
            allowFpa(true);
        } catch (Exception | Error e) {
            removeNamespace();
            throw e;
        }
    }

    /** fpa's MAC as its own namespace shows it. */
    private static String mac() throws Exception {
        return Command.run("ip", "netns", "exec", NS, "cat", "/sys/class/net/fpa/address").strip();
    }

    /** Turns GRO of fpa's peer on or off (what lets a veth take redirected frames) and lets the agent's rule decide. */
    private void allowFpa(boolean peerGro) throws Exception {
        Command.run("ip", "netns", "exec", NS, "ethtool", "-K", "fpb", "gro", peerGro ? "on" : "off");
        netns.call(() -> {
            dataPlane.dataPlane().forward().sync(Set.of("fpa"));
            return null;
        });
    }

    @AfterAll
    void removeNamespace() throws Exception {
        if (netns != null) {
            netns.close();
        }
        Command.result("ip", "netns", "del", NS);
    }

    static Stream<StandardListener> web() {
        return StandardListener.tcp();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("web")
    void aTranslatedPacketLeavesFromXdpWithTheRoutesMacsAndOneHopLess(StandardListener c) throws Exception {
        Flow flow = c.flow(41001);
        long[] before = outcomes();

        TestRunResult result = netns.call(() -> dataPlane.xdp(flow.first()));

        assertThat(result.retval()).isEqualTo(XDP_REDIRECT);
        assertThat(since(before)).containsExactlyEntriesOf(Map.of(Abi.Forward.REDIRECT, 1L));
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        byte[] expected = Frames.frame(flow.proto(), SYN, forward.natSource().getHostAddress(),
                forward.natSourcePort(), forward.natDestination().getHostAddress(), forward.natDestinationPort());
        Packet p = Packet.parse(expected);
        System.arraycopy(HexFormat.ofDelimiter(":").parseHex(GATEWAY_MAC), 0, expected, 0, 6);
        System.arraycopy(fpaMac, 0, expected, 6, 6);
        int hops = p.l3Offset() + (c.ipv6() ? 7 : 8);
        expected[hops] = (byte) ((expected[hops] & 0xff) - 1);
        Frames.assertRewritten(result.output(), expected);
        assertThat(result.output()[hops] & 0xff).isEqualTo((flow.first()[hops] & 0xff) - 1);
    }

    @Test
    void aPacketRoutedBackOutOfTheInterfaceItCameInOnLeavesWithXdpTx() throws Exception {
        Flow flow = StandardListener.tcp().findFirst().orElseThrow().flow(41005);
        long[] before = outcomes();

        TestRunResult result = netns.call(() -> dataPlane.dataPlane().xdpProgram().testRunXdp(flow.first(), fpaIndex));

        assertThat(result.retval()).isEqualTo(XDP_TX);
        assertThat(since(before)).containsExactlyEntriesOf(Map.of(Abi.Forward.TX, 1L));
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        byte[] expected = Frames.frame(flow.proto(), SYN, forward.natSource().getHostAddress(),
                forward.natSourcePort(), forward.natDestination().getHostAddress(), forward.natDestinationPort());
        Packet p = Packet.parse(expected);
        System.arraycopy(HexFormat.ofDelimiter(":").parseHex(GATEWAY_MAC), 0, expected, 0, 6);
        System.arraycopy(fpaMac, 0, expected, 6, 6);
        expected[p.l3Offset() + 8] = (byte) ((expected[p.l3Offset() + 8] & 0xff) - 1);
        Frames.assertRewritten(result.output(), expected);
    }

    /** Not every driver can send a frame of several buffers from XDP: the stack sends it. */
    @Test
    void aFrameOfSeveralBuffersGoesUpTheStackTranslated() throws Exception {
        Flow flow = StandardListener.tcp().findFirst().orElseThrow().flow(41006);
        netns.call(() -> dataPlane.xdp(flow.first()));
        byte[] payload = new byte[NatRewriteIT.JUMBO_PAYLOAD];
        long[] before = outcomes();

        TestRunResult result = netns.call(() -> dataPlane.xdp(Frames.frame(flow.proto(), ACK, flow.client(),
                flow.clientPort(), flow.vip(), flow.vipPort(), payload)));

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        assertThat(since(before)).containsExactlyEntriesOf(Map.of(Abi.Forward.PASS_FRAGS, 1L));
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        Frames.assertRewritten(result.output(), Frames.frame(flow.proto(), ACK, forward.natSource().getHostAddress(),
                forward.natSourcePort(), forward.natDestination().getHostAddress(), forward.natDestinationPort(),
                payload));
    }

    @Test
    void withoutANeighbourThePacketGoesUpTheStackAsBefore() throws Exception {
        StandardListener dns = new StandardListener(false, Abi.IPPROTO_UDP, io.nodelb.dataplane.v1alpha1.NatMode.DNAT);
        Flow flow = dns.flow(41002);
        long[] before = outcomes();

        TestRunResult result = netns.call(() -> dataPlane.xdp(flow.first()));

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        assertThat(since(before)).containsExactlyEntriesOf(Map.of(Abi.Forward.PASS_NO_NEIGH, 1L));
        assertStackRewrite(flow, result);
    }

    @Test
    void aPacketWhoseTtlWouldExpireGoesUpTheStackForItsIcmpError() throws Exception {
        Flow flow = StandardListener.tcp().findFirst().orElseThrow().flow(41003);
        byte[] frame = flow.first();
        Packet p = Packet.parse(frame);
        frame[p.l3Offset() + 8] = 1;
        frame[p.l3Offset() + 10] = 0;
        frame[p.l3Offset() + 11] = 0;
        int sum = io.nodelb.agent.packet.Checksums.internetChecksum(frame, p.l3Offset(), 20);
        frame[p.l3Offset() + 10] = (byte) (sum >> 8);
        frame[p.l3Offset() + 11] = (byte) sum;
        long[] before = outcomes();

        TestRunResult result = netns.call(() -> dataPlane.xdp(frame));

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        assertThat(since(before)).containsExactlyEntriesOf(Map.of(Abi.Forward.PASS_TTL, 1L));
        assertThat(result.output()[p.l3Offset() + 8]).isEqualTo((byte) 1);
    }

    @Test
    void aVethWhosePeerCannotTakeRedirectsIsNotUsed() throws Exception {
        try {
            allowFpa(false);
            assertThat(netns.call(() -> XdpFeatures.canReceiveRedirects(fpaIndex))).isFalse();
            assertThat(dataPlane.dataPlane().forward().safeInterfaces()).containsEntry("fpa", false);
            Flow flow = StandardListener.tcp().findFirst().orElseThrow().flow(41004);
            long[] before = outcomes();

            TestRunResult result = netns.call(() -> dataPlane.xdp(flow.first()));

            assertThat(result.retval()).isEqualTo(XDP_PASS);
            assertThat(since(before)).containsExactlyEntriesOf(Map.of(Abi.Forward.PASS_NOT_SAFE, 1L));
            assertStackRewrite(flow, result);
        } finally {
            allowFpa(true);
        }
        assertThat(netns.call(() -> XdpFeatures.canReceiveRedirects(fpaIndex))).isTrue();
        assertThat(dataPlane.dataPlane().forward().safeInterfaces()).containsEntry("fpa", true);
    }

    /** The frame as the stack path leaves it: translated, MACs and TTL untouched. */
    private void assertStackRewrite(Flow flow, TestRunResult result) {
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        Frames.assertRewritten(result.output(), Frames.frame(flow.proto(), SYN, forward.natSource().getHostAddress(),
                forward.natSourcePort(), forward.natDestination().getHostAddress(), forward.natDestinationPort()));
    }

    private long[] outcomes() {
        return dataPlane.dataPlane().forward().outcomes();
    }

    private Map<Abi.Forward, Long> since(long[] before) {
        long[] now = outcomes();
        Map<Abi.Forward, Long> out = new java.util.EnumMap<>(Abi.Forward.class);
        for (Abi.Forward f : Abi.Forward.values()) {
            if (now[f.value()] != before[f.value()]) {
                out.put(f, now[f.value()] - before[f.value()]);
            }
        }
        return out;
    }
}
