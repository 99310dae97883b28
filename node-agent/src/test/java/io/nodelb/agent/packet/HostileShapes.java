package io.nodelb.agent.packet;

import static io.nodelb.agent.packet.HostileShapes.PassReason.FRAGMENT;
import static io.nodelb.agent.packet.HostileShapes.PassReason.IP_OPTIONS;
import static io.nodelb.agent.packet.HostileShapes.PassReason.MALFORMED;
import static io.nodelb.agent.packet.HostileShapes.PassReason.NOT_IP;
import static io.nodelb.agent.packet.HostileShapes.PassReason.NOT_L4;
import static io.nodelb.agent.packet.PacketBuilder.IPPROTO_TCP;
import static io.nodelb.agent.packet.PacketBuilder.IPPROTO_UDP;
import static io.nodelb.agent.packet.PacketBuilder.SYN;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A catalogue of malformed and hostile frames aimed at a TCP and a UDP listener: each one is
 * addressed to the listener's VIP and port, so a parser that skips a check would take it for
 * its own.
 *
 * <p><b>Expectation for every shape:</b> the data plane passes it untouched (XDP_PASS, TC_ACT_OK),
 * the frame comes out byte-identical, no conntrack entry is created and no backend counter
 * moves. {@link Shape#reasons()} names the {@code nlb_stat} counter(s) that the comments of
 * {@code enum nlb_stat} in nodelb_abi.h point to; where two readings are fair (an IPv6 fragment
 * header is also an extension header) both are listed and either is right.
 *
 * <p>{@link Shape#wellFormedTwin()} is the valid frame the shape was derived from or imitates:
 * same addresses, ports and listener. A correct data plane translates the twin, which makes
 * each case a controlled experiment.
 *
 * <p>Frames shorter than an Ethernet header ({@link Shape#fitsTestRun()} false) are refused by
 * BPF_PROG_TEST_RUN with EINVAL (checked on Linux 6.18 for XDP and TC): the kernel never hands
 * such a frame to a program. They are here for user-space parsers.
 */
public final class HostileShapes {

    /** The client the shapes come from: addresses from the documentation ranges. */
    public static final String CLIENT_IPV4 = "198.51.100.7";
    public static final String CLIENT_IPV6 = "2001:db8:100::7";
    public static final String CLIENT_MAC = "02:00:00:00:00:01";
    public static final int CLIENT_PORT = 40000;

    /** The pass reasons of {@code enum nlb_stat} (NLB_STAT_PASS_*). */
    public enum PassReason {
        /** Not IPv4/IPv6, or a VLAN tag. */
        NOT_IP,
        /** Could not be parsed safely. */
        MALFORMED,
        FRAGMENT,
        /** IPv4 options or IPv6 extension headers. */
        IP_OPTIONS,
        /** Neither TCP nor UDP. */
        NOT_L4;

        /** The C enumerator, e.g. NLB_STAT_PASS_MALFORMED. */
        public String statName() {
            return "NLB_STAT_PASS_" + name();
        }
    }

    /**
     * One case.
     *
     * @param family 4 or 6: the IP version the shape imitates (the twin's)
     * @param protocol IPPROTO_TCP or IPPROTO_UDP: the listener it is aimed at
     */
    public record Shape(String name, String description, int family, int protocol, Set<PassReason> reasons,
            byte[] frame, byte[] wellFormedTwin) {

        public Shape {
            reasons = Set.copyOf(reasons);
            frame = frame.clone();
            wellFormedTwin = wellFormedTwin.clone();
        }

        @Override
        public byte[] frame() {
            return frame.clone();
        }

        @Override
        public byte[] wellFormedTwin() {
            return wellFormedTwin.clone();
        }

        /** Whether BPF_PROG_TEST_RUN accepts the frame: at least an Ethernet header. */
        public boolean fitsTestRun() {
            return frame.length >= 14;
        }

        @Override
        public String toString() {
            return name + " (" + frame.length + " bytes): " + description;
        }
    }

    private final String vip4;
    private final String vip6;
    private final int tcpPort;
    private final int udpPort;
    private final List<Shape> shapes = new ArrayList<>();

    private HostileShapes(Inet4Address vip4, Inet6Address vip6, int tcpPort, int udpPort) {
        this.vip4 = vip4.getHostAddress();
        this.vip6 = vip6.getHostAddress();
        this.tcpPort = tcpPort;
        this.udpPort = udpPort;
    }

    /**
     * The catalogue (63 shapes) against a TCP listener on {@code vip4/vip6 : tcpPort} and a UDP
     * listener on {@code vip4/vip6 : udpPort}. Names are unique.
     */
    public static List<Shape> catalogue(Inet4Address vip4, Inet6Address vip6, int tcpPort, int udpPort) {
        HostileShapes catalogue = new HostileShapes(vip4, vip6, tcpPort, udpPort);
        catalogue.runts();
        catalogue.ipv4Tcp();
        catalogue.ipv4Udp();
        catalogue.ipv6Tcp();
        catalogue.ipv6Udp();
        catalogue.notIp();
        return List.copyOf(catalogue.shapes);
    }

    /**
     * Every proper prefix of {@code frame} (lengths 0 to length - 1), named
     * {@code <prefix>-truncated-at-<n>}. For a frame without Ethernet padding each one is
     * malformed.
     */
    public static List<Shape> everyTruncation(String prefix, byte[] frame, int family, int protocol) {
        List<Shape> truncations = new ArrayList<>();
        for (int length = 0; length < frame.length; length++) {
            truncations.add(new Shape(prefix + "-truncated-at-" + length,
                    "the first " + length + " of " + frame.length + " bytes", family, protocol,
                    EnumSet.of(MALFORMED), Arrays.copyOf(frame, length), frame));
        }
        return truncations;
    }

    // ---- the valid frames every shape starts from ----

    private PacketBuilder tcp4() {
        return PacketBuilder.ipv4(CLIENT_IPV4, vip4).ipId(0x1234).tcp(CLIENT_PORT, tcpPort).flags(SYN).seq(1000);
    }

    private PacketBuilder udp4() {
        return PacketBuilder.ipv4(CLIENT_IPV4, vip4).ipId(0x1234).udp(CLIENT_PORT, udpPort).payload("nodelb");
    }

    private PacketBuilder tcp6() {
        return PacketBuilder.ipv6(CLIENT_IPV6, vip6).flowLabel(0x12345).tcp(CLIENT_PORT, tcpPort).flags(SYN).seq(1000);
    }

    private PacketBuilder udp6() {
        return PacketBuilder.ipv6(CLIENT_IPV6, vip6).flowLabel(0x12345).udp(CLIENT_PORT, udpPort).payload("nodelb");
    }

    /** A TCP header to the listener, to hide in places where no TCP header is (later fragments...). */
    private byte[] tcpHeaderLookalike() {
        byte[] frame = tcp4().build();
        return Arrays.copyOfRange(frame, 14 + 20, 14 + 20 + 20);
    }

    private void runts() {
        byte[] syn = tcp4().build();
        for (int length : new int[] {0, 1, 6, 12, 13}) {
            add("runt-" + length, "a frame of " + length + " bytes: not even an Ethernet header", 4, IPPROTO_TCP,
                    EnumSet.of(MALFORMED), Arrays.copyOf(syn, length), syn);
        }
    }

    private void ipv4Tcp() {
        Supplier<PacketBuilder> syn = this::tcp4;
        int ip = 14;
        int tcp = ip + 20;
        truncated("ipv4-ethernet-header-only", "ethertype IPv4, then nothing", syn, ip);
        truncated("ipv4-partial-header", "10 of the 20 bytes of the IPv4 header", syn, ip + 10);
        truncated("ipv4-truncated-after-ip-header", "the IPv4 header, then the frame ends (total length says 40)",
                syn, tcp);
        truncated("ipv4-tcp-partial-header", "10 of the 20 bytes of the TCP header (total length says 40)",
                syn, tcp + 10);
        shape("ipv4-tcp-missing", "total length 20: protocol TCP but no TCP header at all", syn,
                b -> b.rawTransport(IPPROTO_TCP, new byte[0]), MALFORMED);
        shape("ipv4-tcp-header-short", "total length 30, consistent: a TCP header of only 10 bytes", syn,
                b -> b.rawTransport(IPPROTO_TCP, Arrays.copyOf(tcpHeaderLookalike(), 10)), MALFORMED);
        shape("ipv4-ihl-0", "IHL 0", syn, b -> b.ihl(0), MALFORMED);
        shape("ipv4-ihl-4", "IHL 4 (16 bytes), below the minimum of 5", syn, b -> b.ihl(4), MALFORMED);
        shape("ipv4-options-nop", "IHL 6: four bytes of options (NOP, NOP, NOP, end)", syn,
                b -> b.ipOptions(new byte[] {1, 1, 1, 0}), IP_OPTIONS);
        byte[] recordRoute = new byte[39];
        recordRoute[0] = 7; // record route
        recordRoute[1] = 39;
        recordRoute[2] = 4;
        shape("ipv4-options-max", "IHL 15: 40 bytes of options (record route)", syn,
                b -> b.ipOptions(recordRoute), IP_OPTIONS);
        shape("ipv4-ihl-beyond-total-length",
                "IHL 15 (60 bytes) but total length 40: the 'options' are the TCP header, Ethernet padding"
                        + " makes the 60 bytes exist",
                syn, b -> b.ihl(15).padTo(ip + 60), MALFORMED, IP_OPTIONS);
        shape("ipv4-total-length-beyond-frame", "total length 140, the frame holds 40 bytes of IP", syn,
                b -> b.ipLength(140), MALFORMED);
        shape("ipv4-total-length-below-header", "total length 19, below the 20-byte header", syn,
                b -> b.ipLength(19), MALFORMED);
        shape("ipv4-total-length-zero", "total length 0", syn, b -> b.ipLength(0), MALFORMED);
        shape("ipv4-tcp-first-fragment", "MF set, offset 0: a complete TCP header, the rest follows", syn,
                b -> b.fragment(0, true), FRAGMENT);
        shape("ipv4-middle-fragment", "MF set, offset 1480, its data looks like a TCP header to the listener", syn,
                b -> b.fragment(185, true).rawTransport(IPPROTO_TCP, tcpHeaderLookalike()), FRAGMENT);
        shape("ipv4-last-fragment", "MF clear, offset 1480, data like a TCP header to the listener", syn,
                b -> b.fragment(185, false).rawTransport(IPPROTO_TCP, tcpHeaderLookalike()), FRAGMENT);
        shape("ipv4-version-5", "version field 5 behind the IPv4 ethertype", syn, b -> b.ipVersion(5),
                MALFORMED, NOT_IP);
        shape("ipv4-icmp-echo", "an ICMP echo request to the VIP", syn, b -> b.icmpEchoRequest(7, 1), NOT_L4);
        byte[] sctp = new byte[12];
        System.arraycopy(tcpHeaderLookalike(), 0, sctp, 0, 4); // same ports
        shape("ipv4-sctp-to-listener-port", "protocol 132 (SCTP) with the listener's port", syn,
                b -> b.rawTransport(132, sctp), NOT_L4);
        shape("ipv4-tcp-data-offset-0", "TCP data offset 0", syn, b -> b.dataOffset(0), MALFORMED);
        shape("ipv4-tcp-data-offset-4", "TCP data offset 4 (16 bytes), below the minimum of 5", syn,
                b -> b.dataOffset(4), MALFORMED);
        shape("ipv4-tcp-data-offset-beyond-packet", "TCP data offset 15 (60 bytes) in a 20-byte segment", syn,
                b -> b.dataOffset(15), MALFORMED);
        shape("ipv4-tcp-data-offset-into-padding",
                "TCP data offset 8 (32 bytes) in a 20-byte segment; Ethernet padding makes the bytes exist,"
                        + " but past the IP total length",
                syn, b -> b.dataOffset(8).padTo(66), MALFORMED);
    }

    private void ipv4Udp() {
        Supplier<PacketBuilder> datagram = this::udp4;
        truncated("ipv4-udp-partial-header", "4 of the 8 bytes of the UDP header", datagram, 14 + 20 + 4);
        shape("ipv4-udp-length-0", "UDP length 0", datagram, b -> b.udpLength(0), MALFORMED);
        shape("ipv4-udp-length-7", "UDP length 7, below the 8-byte header", datagram, b -> b.udpLength(7), MALFORMED);
        shape("ipv4-udp-length-beyond-ip-payload", "UDP length 64, the IP payload has 14 bytes", datagram,
                b -> b.udpLength(64), MALFORMED);
        shape("ipv4-udp-first-fragment", "MF set, offset 0: the UDP header is here, the datagram's rest is not",
                datagram, b -> b.fragment(0, true).udpLength(1400), FRAGMENT);
    }

    private void ipv6Tcp() {
        Supplier<PacketBuilder> syn = this::tcp6;
        int ip = 14;
        int tcp = ip + 40;
        truncated("ipv6-ethernet-header-only", "ethertype IPv6, then nothing", syn, ip);
        truncated("ipv6-partial-header", "20 of the 40 bytes of the IPv6 header", syn, ip + 20);
        truncated("ipv6-truncated-after-ip-header", "the IPv6 header, then the frame ends (payload length 20)",
                syn, tcp);
        truncated("ipv6-tcp-partial-header", "10 of the 20 bytes of the TCP header", syn, tcp + 10);
        shape("ipv6-tcp-missing", "payload length 0: next header TCP but no TCP header", syn,
                b -> b.rawTransport(IPPROTO_TCP, new byte[0]), MALFORMED);
        shape("ipv6-payload-length-beyond-frame", "payload length 120, the frame holds 20 bytes of payload", syn,
                b -> b.ipLength(120), MALFORMED);
        shape("ipv6-payload-length-below-tcp-header", "payload length 8 cuts the TCP header", syn,
                b -> b.ipLength(8), MALFORMED);
        shape("ipv6-hop-by-hop-before-tcp", "a hop-by-hop options header, then TCP", syn,
                PacketBuilder::hopByHop, IP_OPTIONS);
        shape("ipv6-routing-before-tcp", "a segment routing header (segments left 0), then TCP", syn,
                PacketBuilder::routing, IP_OPTIONS);
        shape("ipv6-destination-options-before-tcp", "a destination options header, then TCP", syn,
                PacketBuilder::destinationOptions, IP_OPTIONS);
        shape("ipv6-tcp-first-fragment", "a fragment header (offset 0, M set), then a TCP header", syn,
                b -> b.fragmentHeader(0, true, 0x0bad), FRAGMENT, IP_OPTIONS);
        shape("ipv6-atomic-fragment", "a fragment header with offset 0 and M clear (RFC 6946), then TCP", syn,
                b -> b.fragmentHeader(0, false, 0x0bad), FRAGMENT, IP_OPTIONS);
        shape("ipv6-later-fragment", "a fragment header (offset 1448), data like a TCP header to the listener", syn,
                b -> b.fragmentHeader(181, false, 0x0bad).rawTransport(IPPROTO_TCP, tcpHeaderLookalike()),
                FRAGMENT, IP_OPTIONS);
        shape("ipv6-extension-header-beyond-frame", "hop-by-hop header claiming 2048 bytes", syn,
                b -> b.extensionHeader(0, new byte[] {0, (byte) 255, 1, 4, 0, 0, 0, 0}), MALFORMED, IP_OPTIONS);
        shape("ipv6-no-next-header", "next header 59 (none), followed by bytes like a TCP header", syn,
                b -> b.rawTransport(PacketBuilder.IPPROTO_NONE, tcpHeaderLookalike()), NOT_L4);
        shape("ipv6-version-4", "version field 4 behind the IPv6 ethertype", syn, b -> b.ipVersion(4),
                MALFORMED, NOT_IP);
        shape("ipv6-tcp-data-offset-3", "TCP data offset 3", syn, b -> b.dataOffset(3), MALFORMED);
        shape("ipv6-icmpv6-echo", "an ICMPv6 echo request to the VIP", syn, b -> b.icmpEchoRequest(7, 1), NOT_L4);
    }

    private void ipv6Udp() {
        Supplier<PacketBuilder> datagram = this::udp6;
        shape("ipv6-udp-zero-checksum", "UDP checksum 0, which RFC 8200 forbids over IPv6", datagram,
                PacketBuilder::zeroUdpChecksum, MALFORMED);
        shape("ipv6-udp-length-0", "UDP length 0 without a jumbo payload option", datagram,
                b -> b.udpLength(0), MALFORMED);
        shape("ipv6-udp-length-beyond-payload", "UDP length 64, the payload has 14 bytes", datagram,
                b -> b.udpLength(64), MALFORMED);
        shape("ipv6-extension-header-chain-before-udp",
                "hop-by-hop, destination options, routing, atomic fragment, destination options, then UDP", datagram,
                b -> b.hopByHop().destinationOptions().routing().fragmentHeader(0, false, 7).destinationOptions(),
                IP_OPTIONS, FRAGMENT);
    }

    private void notIp() {
        shape("vlan-8021q-ipv4-tcp", "a valid SYN to the listener inside an 802.1Q tag (VLAN 100)", this::tcp4,
                b -> b.vlan(100), NOT_IP);
        shape("vlan-qinq-ipv4-tcp", "a valid SYN inside QinQ: 802.1ad VLAN 200, then 802.1Q VLAN 100", this::tcp4,
                b -> b.qinq(200, 100), NOT_IP);
        shape("vlan-8021q-ipv6-udp", "a valid IPv6 UDP datagram inside an 802.1Q tag", this::udp6,
                b -> b.vlan(100), NOT_IP);
        shape("ipv6-packet-behind-ipv4-ethertype", "a valid IPv6 SYN labelled 0x0800", this::tcp6,
                b -> b.etherType(PacketBuilder.ETH_P_IP), MALFORMED, NOT_IP);
        shape("ipv4-packet-behind-ipv6-ethertype", "a valid IPv4 SYN labelled 0x86dd", this::tcp4,
                b -> b.etherType(PacketBuilder.ETH_P_IPV6), MALFORMED, NOT_IP);
        shape("ieee8023-length-field", "an 802.3 length (40) where the ethertype goes, then a valid IPv4 SYN",
                this::tcp4, b -> b.etherType(40), NOT_IP);
        add("arp-request-for-vip", "an ARP request asking who has the VIP", 4, IPPROTO_TCP, EnumSet.of(NOT_IP),
                PacketBuilder.arpRequest(CLIENT_MAC, CLIENT_IPV4, vip4).build(), tcp4().build());
    }

    // ---- helpers ----

    /** A shape made by changing the valid frame of {@code base}. */
    private void shape(String name, String description, Supplier<PacketBuilder> base,
            java.util.function.UnaryOperator<PacketBuilder> change, PassReason... reasons) {
        PacketBuilder twin = base.get();
        byte[] twinFrame = twin.build();
        Packet valid = Packet.parse(twinFrame);
        add(name, description, valid.ipVersion(), valid.protocol(), EnumSet.copyOf(Arrays.asList(reasons)),
                change.apply(base.get()).build(), twinFrame);
    }

    /** A shape made by cutting the valid frame of {@code base} to {@code length} bytes. */
    private void truncated(String name, String description, Supplier<PacketBuilder> base, int length) {
        shape(name, description, base, b -> b.truncateTo(length), MALFORMED);
    }

    private void add(String name, String description, int family, int protocol, Set<PassReason> reasons,
            byte[] frame, byte[] twin) {
        shapes.add(new Shape(name, description, family, protocol, reasons, frame, twin));
    }
}
