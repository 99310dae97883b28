package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.PortFilter;
import io.nodelb.agent.packet.PacketBuilder;
import io.nodelb.agent.testing.Privileged;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Traffic that is not a listener's goes through both programs byte for byte, is counted under
 * the reason the README gives (XDP only: TC counts what it translates) and leaves no
 * conntrack entry behind.
 */
@Privileged
class NotOursIT extends DataPlaneFixture {

    private static final int TCP = Abi.IPPROTO_TCP;
    private static final int UDP = Abi.IPPROTO_UDP;
    private static final String C4 = Snapshots.CLIENT4;
    private static final String C6 = Snapshots.CLIENT6;
    private static final String V4 = Snapshots.VIP4;
    private static final String V6 = Snapshots.VIP6;

    static Stream<Arguments> foreignTraffic() throws UnknownHostException {
        InetAddress mappedVip = Inet6Address.getByAddress(null,
                new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, (byte) 203, 0, 113, 10}, (NetworkInterface) null);
        return Stream.of(
                foreign("IPv4 TCP to the VIP on a port without listener", TCP, C4, 40000, V4, 81,
                        Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv6 TCP to the VIP on a port without listener", TCP, C6, 40000, V6, 22,
                        Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv4 UDP to the TCP listener's port", UDP, C4, 40000, V4, Snapshots.HTTP,
                        Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv6 TCP to the UDP listener's port", TCP, C6, 40000, V6, Snapshots.DNS,
                        Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv4 TCP to a listener port on the node's own address", TCP, C4, 40000, Snapshots.NODE4,
                        Snapshots.HTTP, Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv6 UDP to a listener port on the node's own address", UDP, C6, 40000, Snapshots.NODE6,
                        Snapshots.DNS, Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv4 TCP to a listener port on another address", TCP, C4, 40000, "203.0.113.99",
                        Snapshots.HTTP, Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv6 TCP to the FullNAT listener's port on another address", TCP, C6, 40000,
                        "2001:db8:f::11", Snapshots.HTTP_FULLNAT, Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv4 TCP from the listener port to a client port of the VIP", TCP, C4, Snapshots.HTTP, V4,
                        40000, Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv4 DNAT-reply-looking TCP with no flow", TCP, "10.0.1.1", Snapshots.WEB_PORT, C4, 40000,
                        Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv6 DNAT-reply-looking UDP with no flow", UDP, "fd00:2::1", Snapshots.DNS_PORT, C6, 40000,
                        Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv4 FullNAT-reply-looking TCP to a SNAT port with no flow", TCP, "10.0.1.1",
                        Snapshots.WEB_PORT, Snapshots.SNAT4, 61500, Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv6 FullNAT-reply-looking UDP to a SNAT port with no flow", UDP, "fd00:2::1",
                        Snapshots.DNS_PORT, Snapshots.SNAT6, 61999, Abi.Stat.PASS_NO_LISTENER),
                foreign("IPv4 TCP to the VIP's address and port inside IPv6 (v4-mapped)",
                        PacketBuilder.ipv6(Snapshots.ip(C6), mappedVip).tcp(40000, Snapshots.HTTP).flags(SYN).build(),
                        Abi.Stat.PASS_NO_LISTENER),
                foreign("ICMP echo to the VIP", PacketBuilder.ipv4(C4, V4).icmpEchoRequest(7, 1).build(),
                        Abi.Stat.PASS_NOT_L4),
                foreign("ICMPv6 echo to the VIP", PacketBuilder.ipv6(C6, V6).icmpEchoRequest(7, 1).build(),
                        Abi.Stat.PASS_NOT_L4),
                foreign("ARP request for the VIP", PacketBuilder.arpRequest("02:00:00:00:00:0a", C4, V4).build(),
                        Abi.Stat.PASS_NOT_IP));
    }

    private static Arguments foreign(String name, int proto, String src, int sport, String dst, int dport,
            Abi.Stat reason) {
        return foreign(name, Frames.frame(proto, SYN, src, sport, dst, dport), reason);
    }

    private static Arguments foreign(String name, byte[] frame, Abi.Stat reason) {
        return Arguments.of(name, frame, reason);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("foreignTraffic")
    void passesUntouchedAndLeavesNoState(String name, byte[] frame, Abi.Stat reason) {
        long[] before = dataPlane.stats();

        TestRunResult xdp = dataPlane.xdp(frame);

        assertThat(xdp.retval()).isEqualTo(XDP_PASS);
        assertThat(Frames.hex(xdp.output())).isEqualTo(Frames.hex(frame));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(reason, 1L));

        before = dataPlane.stats();
        TestRunResult tc = dataPlane.tc(frame);

        assertThat(tc.retval()).isEqualTo(TC_ACT_OK);
        assertThat(Frames.hex(tc.output())).isEqualTo(Frames.hex(frame));
        assertThat(dataPlane.statsSince(before)).isEmpty();
        assertThat(dataPlane.conntrack()).isEmpty();
    }

    /** The bit the agent sets for an address is the one the program tests: cleared, the VIP's own packets pass. */
    @Test
    void theAddressFilterIsWhatLetsAVipsPacketsIn() {
        int bit = PortFilter.addressBit(Snapshots.ip(V4));
        int word = Abi.PORT_WORDS + (bit >>> 6);
        BpfMap dports = dataPlane.map("nlb_dports");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
            key.set(ValueLayout.JAVA_INT, 0, word);
            assertThat(dports.lookup(key, value)).isTrue();
            long bits = value.get(ValueLayout.JAVA_LONG, 0);
            assertThat(bits & (1L << (bit & 63))).as("the VIP's bit").isNotZero();
            byte[] syn = Frames.frame(TCP, SYN, C4, 40040, V4, Snapshots.HTTP);
            value.set(ValueLayout.JAVA_LONG, 0, bits & ~(1L << (bit & 63)));
            dports.update(key, value, BpfMap.BPF_ANY);
            long[] before = dataPlane.stats();

            TestRunResult closed = dataPlane.xdp(syn);

            assertThat(Frames.hex(closed.output())).isEqualTo(Frames.hex(syn));
            assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.PASS_NO_LISTENER, 1L));
            assertThat(dataPlane.conntrack()).isEmpty();
            value.set(ValueLayout.JAVA_LONG, 0, bits);
            dports.update(key, value, BpfMap.BPF_ANY);
            before = dataPlane.stats();

            dataPlane.xdp(syn);

            assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        }
    }

    /** An address whose bit a VIP shares gets past the filter, and no further: the listener check stops it. */
    @Test
    void anAddressThatSharesAVipsBitIsStillNotOurs() throws UnknownHostException {
        int vipBit = PortFilter.addressBit(Snapshots.ip(V4));
        InetAddress twin = null;
        for (int i = 1; twin == null; i++) {
            InetAddress candidate = InetAddress.getByAddress(new byte[] {(byte) 198, 51, (byte) (i >>> 8), (byte) i});
            if (PortFilter.addressBit(candidate) == vipBit) {
                twin = candidate;
            }
        }
        byte[] syn = Frames.frame(TCP, SYN, C4, 40050, twin.getHostAddress(), Snapshots.HTTP);
        long[] before = dataPlane.stats();

        TestRunResult xdp = dataPlane.xdp(syn);

        assertThat(xdp.retval()).isEqualTo(XDP_PASS);
        assertThat(Frames.hex(xdp.output())).isEqualTo(Frames.hex(syn));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.PASS_NO_LISTENER, 1L));
        assertThat(dataPlane.conntrack()).isEmpty();
    }

    @Test
    void aDnatReplyThatReachesXdpIsLeftToTheEgressProgram() {
        // A client port inside the FullNAT range gets the reply past the port filter to the conntrack lookup.
        Flow flow = Flow.tcp(C4, 61500, V4, Snapshots.HTTP);
        dataPlane.xdp(flow.first());
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        byte[] reply = Frames.frame(TCP, SYN | ACK, forward.natDestination().getHostAddress(),
                forward.natDestinationPort(), C4, 61500);
        Map<Abi.CtKey, Abi.CtEntry> flows = dataPlane.conntrack();
        long[] before = dataPlane.stats();

        TestRunResult xdp = dataPlane.xdp(reply);

        assertThat(xdp.retval()).isEqualTo(XDP_PASS);
        assertThat(Frames.hex(xdp.output())).isEqualTo(Frames.hex(reply));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.PASS_NO_LISTENER, 1L));
        assertThat(dataPlane.conntrack()).as("the reply entry is not touched").isEqualTo(flows);
    }

    @Test
    void aSpoofedReplyToAFullNatPortInUseIsNotTranslated() {
        Flow flow = Flow.tcp(C4, 40010, V4, Snapshots.HTTP_FULLNAT);
        dataPlane.xdp(flow.first());
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        // From the backend's port but another address, to the SNAT address and the flow's port.
        byte[] spoofed = Frames.frame(TCP, SYN | ACK, "10.0.1.99", forward.natDestinationPort(),
                forward.natSource().getHostAddress(), forward.natSourcePort());
        Map<Abi.CtKey, Abi.CtEntry> flows = dataPlane.conntrack();
        long[] before = dataPlane.stats();

        TestRunResult xdp = dataPlane.xdp(spoofed);

        assertThat(xdp.retval()).isEqualTo(XDP_PASS);
        assertThat(Frames.hex(xdp.output())).isEqualTo(Frames.hex(spoofed));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.PASS_NO_LISTENER, 1L));
        assertThat(dataPlane.conntrack()).isEqualTo(flows);
    }
    @Test
    void aFlowWhoseListenerIsRemovedIsNoLongerForwarded() {
        Flow flow = Flow.tcp(C4, 40020, V4, Snapshots.HTTP);
        dataPlane.xdp(flow.first());
        // VIP6 keeps a listener on port 80: the port filter lets the packet through to the listener check.
        dataPlane.apply(Snapshots.snapshot(Snapshots.standardListeners().stream()
                .filter(l -> !l.getName().endsWith("/http4")).toList(), List.of(Snapshots.web(3), Snapshots.dns(3))));
        Map<Abi.CtKey, Abi.CtEntry> flows = dataPlane.conntrack();
        assertThat(flows).as("the flow's entries are still there").containsKey(flow.forwardKey());
        byte[] next = flow.forward(ACK);
        long[] before = dataPlane.stats();

        TestRunResult xdp = dataPlane.xdp(next);

        assertThat(xdp.retval()).isEqualTo(XDP_PASS);
        assertThat(Frames.hex(xdp.output())).isEqualTo(Frames.hex(next));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.PASS_NO_LISTENER, 1L));
        assertThat(dataPlane.conntrack()).isEqualTo(flows);
    }

    @Test
    void aFullNatReplyIsLookedUpOnlyOnTheNatPorts() {
        Flow flow = Flow.tcp(C4, 40030, V4, Snapshots.HTTP_FULLNAT);
        dataPlane.xdp(flow.first());
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        Abi.CtKey replyKey = new Abi.CtKey(forward.natDestination(), forward.natDestinationPort(),
                forward.natSource(), forward.natSourcePort(), TCP);
        Abi.CtEntry reply = dataPlane.entry(replyKey);
        // The same reply entry under port 80 of the SNAT address: a listener port (past the port
        // filter), but neither a listener of that address nor a NAT port.
        Abi.CtKey outsideRange = new Abi.CtKey(forward.natDestination(), forward.natDestinationPort(),
                forward.natSource(), Snapshots.HTTP, TCP);
        dataPlane.putEntry(outsideRange, reply);
        byte[] inRange = Frames.frame(TCP, SYN | ACK, forward.natDestination().getHostAddress(),
                forward.natDestinationPort(), forward.natSource().getHostAddress(), forward.natSourcePort());
        byte[] outside = Frames.frame(TCP, SYN | ACK, forward.natDestination().getHostAddress(),
                forward.natDestinationPort(), forward.natSource().getHostAddress(), Snapshots.HTTP);
        long[] before = dataPlane.stats();

        assertThat(dataPlane.xdp(inRange).output()).as("the reply at its NAT port is translated")
                .isNotEqualTo(inRange);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.CT_REPLY, 1L));
        Map<Abi.CtKey, Abi.CtEntry> flows = dataPlane.conntrack();
        before = dataPlane.stats();
        TestRunResult xdp = dataPlane.xdp(outside);

        assertThat(xdp.retval()).isEqualTo(XDP_PASS);
        assertThat(Frames.hex(xdp.output())).isEqualTo(Frames.hex(outside));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.PASS_NO_LISTENER, 1L));
        assertThat(dataPlane.conntrack()).isEqualTo(flows);
    }

    @Test
    void repliesToAnOldSnatAddressAreStillTranslatedWhileItsFlowsLive() {
        Flow flow = Flow.tcp(C4, 40040, V4, Snapshots.HTTP_FULLNAT);
        dataPlane.xdp(flow.first());
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        assertThat(forward.natSource()).isEqualTo(Snapshots.ip(Snapshots.SNAT4));
        byte[] reply = Frames.frame(TCP, SYN | ACK, forward.natDestination().getHostAddress(),
                forward.natDestinationPort(), Snapshots.SNAT4, forward.natSourcePort());
        // The FullNAT listeners move to another SNAT address; the flow keeps the one it has.
        dataPlane.apply(Snapshots.snapshot(Snapshots.standardListeners().stream()
                .map(l -> l.getSnatAddress().isEmpty() || l.getAddress().size() != 4 ? l
                        : l.toBuilder().setSnatAddress(Snapshots.bytes("10.0.0.2")).build())
                .toList(), List.of(Snapshots.web(3), Snapshots.dns(3))));
        long[] before = dataPlane.stats();

        TestRunResult xdp = dataPlane.xdp(reply);

        assertThat(Frames.hex(xdp.output())).as("translated back to the client").isNotEqualTo(Frames.hex(reply));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.CT_REPLY, 1L));
        Flow other = Flow.tcp(C4, 40041, V4, Snapshots.HTTP_FULLNAT);
        dataPlane.xdp(other.first());
        assertThat(dataPlane.entry(other.forwardKey()).natSource()).as("a new flow takes the new address")
                .isEqualTo(Snapshots.ip("10.0.0.2"));
    }
}
