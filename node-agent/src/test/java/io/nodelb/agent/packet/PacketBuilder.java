package io.nodelb.agent.packet;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * Builds Ethernet frames for BPF_PROG_TEST_RUN: IPv4 or IPv6, TCP, UDP, ICMP echo or raw
 * transport bytes, ARP, VLAN tags. By default every length and checksum is right; each
 * {@code override} method breaks one thing on purpose.
 *
 * <pre>{@code
 * byte[] syn = PacketBuilder.ipv4("198.51.100.7", "192.0.2.10")
 *         .tcp(40000, 80).flags(PacketBuilder.SYN).seq(1000)
 *         .build();
 * }</pre>
 *
 * Checksums are computed over the bytes actually written, whatever the (possibly overridden)
 * length fields claim; truncation ({@link #truncateTo}) happens last, after the checksums.
 * Defaults: source MAC 02:00:00:00:00:01 (the client), destination MAC 02:00:00:00:00:02 (the
 * node), TTL/hop limit 64, IPv4 identification 0 with DF set, TCP window 65535.
 */
public final class PacketBuilder {

    /** TCP flags, for {@link #flags}. */
    public static final int FIN = 0x01;
    public static final int SYN = 0x02;
    public static final int RST = 0x04;
    public static final int PSH = 0x08;
    public static final int ACK = 0x10;
    public static final int URG = 0x20;
    public static final int ECE = 0x40;
    public static final int CWR = 0x80;

    public static final int ETH_P_IP = 0x0800;
    public static final int ETH_P_ARP = 0x0806;
    public static final int ETH_P_IPV6 = 0x86dd;
    /** 802.1Q VLAN tag. */
    public static final int ETH_P_8021Q = 0x8100;
    /** 802.1ad service tag, the outer tag of QinQ. */
    public static final int ETH_P_8021AD = 0x88a8;

    public static final int IPPROTO_HOPOPTS = 0;
    public static final int IPPROTO_ICMP = 1;
    public static final int IPPROTO_TCP = 6;
    public static final int IPPROTO_UDP = 17;
    public static final int IPPROTO_ROUTING = 43;
    public static final int IPPROTO_FRAGMENT = 44;
    public static final int IPPROTO_ICMPV6 = 58;
    public static final int IPPROTO_NONE = 59;
    public static final int IPPROTO_DSTOPTS = 60;

    private enum Network { IPV4, IPV6, ARP, RAW }

    private enum Transport { NONE, TCP, UDP, ICMP_ECHO, RAW }

    private final Network network;

    // Ethernet
    private byte[] dstMac = mac("02:00:00:00:00:02");
    private byte[] srcMac = mac("02:00:00:00:00:01");
    private final List<int[]> vlanTags = new ArrayList<>(); // {tpid, tci}, outermost first
    private Integer etherType;

    // IP
    private final InetAddress src;
    private final InetAddress dst;
    private int ttl = 64;
    private int tos;
    private int flowLabel;
    private int ipId;
    private boolean dontFragment = true;
    private boolean moreFragments;
    private boolean reservedFlag;
    private int fragmentOffset;
    private byte[] ipOptions = new byte[0];
    private Integer ihl;
    private Integer ipLength; // IPv4 total length or IPv6 payload length
    private Integer ipVersion;
    private Integer ipChecksum;
    private Integer ipProtocol;
    private final List<byte[]> extensionHeaders = new ArrayList<>(); // byte 0 is patched with the next header
    private final List<Integer> extensionTypes = new ArrayList<>();

    // Transport
    private Transport transport = Transport.NONE;
    private int rawProtocol;
    private byte[] rawTransport = new byte[0];
    private int srcPort;
    private int dstPort;
    private long seq;
    private long ack;
    private int tcpFlags;
    private int window = 65535;
    private int urgentPointer;
    private byte[] tcpOptions = new byte[0];
    private Integer dataOffset;
    private Integer udpLength;
    private Integer l4Checksum;
    private int icmpId;
    private int icmpSeq;
    private byte[] payload = new byte[0];

    // ARP or raw network layer
    private byte[] networkBytes = new byte[0];

    // Frame
    private int padTo;
    private Integer truncateTo;

    private PacketBuilder(Network network, InetAddress src, InetAddress dst) {
        this.network = network;
        this.src = src;
        this.dst = dst;
    }

    /** An IPv4 packet; addresses are literals such as "192.0.2.1" (never resolved). */
    public static PacketBuilder ipv4(String src, String dst) {
        return ipv4(address(src), address(dst));
    }

    public static PacketBuilder ipv4(InetAddress src, InetAddress dst) {
        if (!(src instanceof Inet4Address) || !(dst instanceof Inet4Address)) {
            throw new IllegalArgumentException("ipv4 needs IPv4 addresses, got " + src + " and " + dst);
        }
        return new PacketBuilder(Network.IPV4, src, dst);
    }

    /** An IPv6 packet; addresses are literals such as "2001:db8::1" (never resolved). */
    public static PacketBuilder ipv6(String src, String dst) {
        return ipv6(address(src), address(dst));
    }

    public static PacketBuilder ipv6(InetAddress src, InetAddress dst) {
        if (!(src instanceof Inet6Address) || !(dst instanceof Inet6Address)) {
            throw new IllegalArgumentException("ipv6 needs IPv6 addresses, got " + src + " and " + dst);
        }
        return new PacketBuilder(Network.IPV6, src, dst);
    }

    /** An ARP request (Ethernet/IPv4, RFC 826) broadcast for {@code targetIp}. */
    public static PacketBuilder arpRequest(String senderMac, String senderIp, String targetIp) {
        InetAddress sender = address(senderIp);
        InetAddress target = address(targetIp);
        if (!(sender instanceof Inet4Address) || !(target instanceof Inet4Address)) {
            throw new IllegalArgumentException("ARP carries IPv4 addresses");
        }
        ByteArrayOutputStream arp = new ByteArrayOutputStream();
        put16(arp, 1); // hardware type Ethernet
        put16(arp, ETH_P_IP); // protocol type IPv4
        arp.write(6);
        arp.write(4);
        put16(arp, 1); // request
        arp.writeBytes(mac(senderMac));
        arp.writeBytes(sender.getAddress());
        arp.writeBytes(new byte[6]); // target hardware address: unknown
        arp.writeBytes(target.getAddress());
        PacketBuilder builder = new PacketBuilder(Network.ARP, null, null);
        builder.networkBytes = arp.toByteArray();
        builder.srcMac = mac(senderMac);
        builder.dstMac = mac("ff:ff:ff:ff:ff:ff");
        return builder;
    }

    /** Any other network layer: {@code bytes} follow the Ethernet header as they are. */
    public static PacketBuilder raw(int etherType, byte[] bytes) {
        PacketBuilder builder = new PacketBuilder(Network.RAW, null, null);
        builder.etherType = etherType;
        builder.networkBytes = bytes.clone();
        return builder;
    }

    // ---- Ethernet ----

    public PacketBuilder srcMac(String mac) {
        this.srcMac = mac(mac);
        return this;
    }

    public PacketBuilder dstMac(String mac) {
        this.dstMac = mac(mac);
        return this;
    }

    /** Adds an 802.1Q tag inside the tags added before. */
    public PacketBuilder vlan(int vid) {
        return vlanTag(ETH_P_8021Q, 0, vid);
    }

    /** Adds a QinQ pair: an 802.1ad service tag around an 802.1Q customer tag. */
    public PacketBuilder qinq(int serviceVid, int customerVid) {
        return vlanTag(ETH_P_8021AD, 0, serviceVid).vlanTag(ETH_P_8021Q, 0, customerVid);
    }

    /** Adds any tag: TPID, priority (PCP, 0..7) and VLAN id (0..4095). */
    public PacketBuilder vlanTag(int tpid, int pcp, int vid) {
        check(pcp, 0, 7, "PCP");
        check(vid, 0, 4095, "VLAN id");
        vlanTags.add(new int[] {tpid, (pcp << 13) | vid});
        return this;
    }

    /** Override: the (innermost) ethertype, e.g. IPv6 bytes behind 0x0800. */
    public PacketBuilder etherType(int etherType) {
        this.etherType = etherType;
        return this;
    }

    // ---- IPv4 and IPv6 ----

    /** IPv4 TTL or IPv6 hop limit. */
    public PacketBuilder ttl(int ttl) {
        this.ttl = check(ttl, 0, 255, "TTL");
        return this;
    }

    /** IPv4 type of service or IPv6 traffic class. */
    public PacketBuilder tos(int tos) {
        this.tos = check(tos, 0, 255, "TOS");
        return this;
    }

    public PacketBuilder flowLabel(int flowLabel) {
        this.flowLabel = check(flowLabel, 0, 0xfffff, "flow label");
        return this;
    }

    public PacketBuilder ipId(int id) {
        this.ipId = check(id, 0, 0xffff, "IPv4 identification");
        return this;
    }

    public PacketBuilder dontFragment(boolean df) {
        this.dontFragment = df;
        return this;
    }

    /** IPv4 fragment fields: offset in 8-byte units (0..8191) and the MF flag. */
    public PacketBuilder fragment(int offsetUnits, boolean more) {
        this.fragmentOffset = check(offsetUnits, 0, 8191, "fragment offset");
        this.moreFragments = more;
        this.dontFragment = false;
        return this;
    }

    /** Sets the reserved ("evil") bit of the IPv4 flags. */
    public PacketBuilder reservedFlag(boolean set) {
        this.reservedFlag = set;
        return this;
    }

    /** IPv4 options; padded with zeros (end of options) to a multiple of 4 bytes, at most 40. */
    public PacketBuilder ipOptions(byte[] options) {
        int padded = (options.length + 3) / 4 * 4;
        if (padded > 40) {
            throw new IllegalArgumentException("IPv4 options are at most 40 bytes, got " + options.length);
        }
        this.ipOptions = Arrays.copyOf(options, padded);
        return this;
    }

    /** Override: the IPv4 header length field in 32-bit words (0..15). */
    public PacketBuilder ihl(int words) {
        this.ihl = check(words, 0, 15, "IHL");
        return this;
    }

    /** Override: the IPv4 total length or the IPv6 payload length field. */
    public PacketBuilder ipLength(int length) {
        this.ipLength = check(length, 0, 0xffff, "IP length");
        return this;
    }

    /** Override: the version nibble. */
    public PacketBuilder ipVersion(int version) {
        this.ipVersion = check(version, 0, 15, "IP version");
        return this;
    }

    /** Override: the IPv4 header checksum field. */
    public PacketBuilder ipChecksum(int checksum) {
        this.ipChecksum = check(checksum, 0, 0xffff, "IPv4 checksum");
        return this;
    }

    /** Override: the protocol number in front of the transport header (IPv4 protocol, IPv6 last next header). */
    public PacketBuilder ipProtocol(int protocol) {
        this.ipProtocol = check(protocol, 0, 255, "protocol");
        return this;
    }

    /** IPv6: a hop-by-hop options header (one PadN option, 8 bytes). Headers chain in call order. */
    public PacketBuilder hopByHop() {
        return extensionHeader(IPPROTO_HOPOPTS, padNOptions());
    }

    /** IPv6: a destination options header (one PadN option, 8 bytes). */
    public PacketBuilder destinationOptions() {
        return extensionHeader(IPPROTO_DSTOPTS, padNOptions());
    }

    /**
     * IPv6: a segment routing header (RFC 8754, routing type 4) whose only segment is the
     * destination, with segments left = 0: the packet has arrived, so the destination field is
     * the final one and the checksum pseudo-header uses it. 24 bytes.
     */
    public PacketBuilder routing() {
        byte[] header = new byte[24];
        header[1] = 2; // (24 / 8) - 1
        header[2] = 4; // routing type: SRH
        header[3] = 0; // segments left
        header[4] = 0; // last entry
        System.arraycopy(requireIpv6("routing").dst.getAddress(), 0, header, 8, 16);
        return extensionHeader(IPPROTO_ROUTING, header);
    }

    /** IPv6: a fragment header; offset in 8-byte units, the M flag and the identification. */
    public PacketBuilder fragmentHeader(int offsetUnits, boolean more, int identification) {
        check(offsetUnits, 0, 8191, "fragment offset");
        byte[] header = new byte[8];
        int field = (offsetUnits << 3) | (more ? 1 : 0);
        header[2] = (byte) (field >>> 8);
        header[3] = (byte) field;
        header[4] = (byte) (identification >>> 24);
        header[5] = (byte) (identification >>> 16);
        header[6] = (byte) (identification >>> 8);
        header[7] = (byte) identification;
        return extensionHeader(IPPROTO_FRAGMENT, header);
    }

    /**
     * IPv6: any extension header, written as given except byte 0, which becomes the next header.
     * The length byte is the caller's: set it wrong to test parsers.
     */
    public PacketBuilder extensionHeader(int type, byte[] header) {
        requireIpv6("extension headers");
        if (header.length < 2) {
            throw new IllegalArgumentException("an extension header has at least 2 bytes");
        }
        extensionTypes.add(type);
        extensionHeaders.add(header.clone());
        return this;
    }

    // ---- Transport ----

    public PacketBuilder tcp(int srcPort, int dstPort) {
        this.transport = Transport.TCP;
        this.srcPort = check(srcPort, 0, 0xffff, "port");
        this.dstPort = check(dstPort, 0, 0xffff, "port");
        return this;
    }

    public PacketBuilder udp(int srcPort, int dstPort) {
        this.transport = Transport.UDP;
        this.srcPort = check(srcPort, 0, 0xffff, "port");
        this.dstPort = check(dstPort, 0, 0xffff, "port");
        return this;
    }

    /** An ICMP (IPv4) or ICMPv6 (IPv6) echo request, checksummed. */
    public PacketBuilder icmpEchoRequest(int id, int sequence) {
        this.transport = Transport.ICMP_ECHO;
        this.icmpId = check(id, 0, 0xffff, "ICMP id");
        this.icmpSeq = check(sequence, 0, 0xffff, "ICMP sequence");
        return this;
    }

    /** Raw transport bytes after the IP header(s), with this protocol number; no checksum is computed. */
    public PacketBuilder rawTransport(int protocol, byte[] bytes) {
        this.transport = Transport.RAW;
        this.rawProtocol = check(protocol, 0, 255, "protocol");
        this.rawTransport = bytes.clone();
        return this;
    }

    /** TCP flags: an OR of {@link #SYN}, {@link #ACK}, {@link #FIN}, {@link #RST}, {@link #PSH}... */
    public PacketBuilder flags(int flags) {
        this.tcpFlags = check(flags, 0, 0xff, "TCP flags");
        return this;
    }

    public PacketBuilder seq(long seq) {
        this.seq = seq & 0xffffffffL;
        return this;
    }

    public PacketBuilder ack(long ack) {
        this.ack = ack & 0xffffffffL;
        return this;
    }

    public PacketBuilder window(int window) {
        this.window = check(window, 0, 0xffff, "window");
        return this;
    }

    public PacketBuilder urgentPointer(int pointer) {
        this.urgentPointer = check(pointer, 0, 0xffff, "urgent pointer");
        return this;
    }

    /** TCP options as they go on the wire; padded with zeros (end of options) to 4 bytes, at most 40. */
    public PacketBuilder tcpOptions(byte[] options) {
        int padded = (options.length + 3) / 4 * 4;
        if (padded > 40) {
            throw new IllegalArgumentException("TCP options are at most 40 bytes, got " + options.length);
        }
        this.tcpOptions = Arrays.copyOf(options, padded);
        return this;
    }

    /** Override: the TCP data offset field in 32-bit words (0..15). */
    public PacketBuilder dataOffset(int words) {
        this.dataOffset = check(words, 0, 15, "data offset");
        return this;
    }

    /** Override: the UDP length field. */
    public PacketBuilder udpLength(int length) {
        this.udpLength = check(length, 0, 0xffff, "UDP length");
        return this;
    }

    /** Override: the TCP, UDP or ICMP checksum field. */
    public PacketBuilder l4Checksum(int checksum) {
        this.l4Checksum = check(checksum, 0, 0xffff, "checksum");
        return this;
    }

    /** UDP without a checksum (field 0): allowed over IPv4, forbidden over IPv6. */
    public PacketBuilder zeroUdpChecksum() {
        return l4Checksum(0);
    }

    public PacketBuilder payload(byte[] payload) {
        this.payload = payload.clone();
        return this;
    }

    public PacketBuilder payload(String text) {
        return payload(text.getBytes(StandardCharsets.UTF_8));
    }

    // ---- Frame ----

    /** Appends zero bytes (Ethernet padding, outside every IP length) up to this frame length. */
    public PacketBuilder padTo(int frameLength) {
        this.padTo = frameLength;
        return this;
    }

    /** Cuts the finished frame (checksums already computed) to its first {@code length} bytes. */
    public PacketBuilder truncateTo(int length) {
        this.truncateTo = check(length, 0, Integer.MAX_VALUE, "length");
        return this;
    }

    /** The frame. */
    public byte[] build() {
        ByteArrayOutputStream frame = new ByteArrayOutputStream();
        frame.writeBytes(dstMac);
        frame.writeBytes(srcMac);
        for (int[] tag : vlanTags) {
            put16(frame, tag[0]);
            put16(frame, tag[1]);
        }
        put16(frame, etherType != null ? etherType : defaultEtherType());
        frame.writeBytes(switch (network) {
            case IPV4 -> ipv4Packet();
            case IPV6 -> ipv6Packet();
            case ARP, RAW -> networkBytes;
        });
        while (frame.size() < padTo) {
            frame.write(0);
        }
        byte[] bytes = frame.toByteArray();
        if (truncateTo != null && truncateTo < bytes.length) {
            bytes = Arrays.copyOf(bytes, truncateTo);
        }
        return bytes;
    }

    private int defaultEtherType() {
        return switch (network) {
            case IPV4 -> ETH_P_IP;
            case IPV6 -> ETH_P_IPV6;
            case ARP -> ETH_P_ARP;
            case RAW -> throw new IllegalStateException("raw frames carry their own ethertype");
        };
    }

    private byte[] ipv4Packet() {
        byte[] segment = transportSegment(false);
        int headerLength = 20 + ipOptions.length;
        byte[] header = new byte[headerLength];
        header[0] = (byte) (((ipVersion != null ? ipVersion : 4) << 4) | (ihl != null ? ihl : headerLength / 4));
        header[1] = (byte) tos;
        set16(header, 2, ipLength != null ? ipLength : headerLength + segment.length);
        set16(header, 4, ipId);
        int flags = (reservedFlag ? 0x8000 : 0) | (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0);
        set16(header, 6, flags | fragmentOffset);
        header[8] = (byte) ttl;
        header[9] = (byte) protocolNumber();
        System.arraycopy(src.getAddress(), 0, header, 12, 4);
        System.arraycopy(dst.getAddress(), 0, header, 16, 4);
        System.arraycopy(ipOptions, 0, header, 20, ipOptions.length);
        set16(header, 10, ipChecksum != null ? ipChecksum : Checksums.internetChecksum(header));
        return concat(header, segment);
    }

    private byte[] ipv6Packet() {
        if (ipOptions.length > 0 || ihl != null || fragmentOffset != 0 || moreFragments) {
            throw new IllegalStateException("IPv4 options, IHL and fragment fields do not apply to IPv6;"
                    + " use extension headers");
        }
        byte[] segment = transportSegment(true);
        ByteArrayOutputStream extensions = new ByteArrayOutputStream();
        for (int i = 0; i < extensionHeaders.size(); i++) {
            byte[] header = extensionHeaders.get(i).clone();
            header[0] = (byte) (i + 1 < extensionTypes.size() ? extensionTypes.get(i + 1) : protocolNumber());
            extensions.writeBytes(header);
        }
        byte[] header = new byte[40];
        int version = ipVersion != null ? ipVersion : 6;
        set32(header, 0, (version << 28) | (tos << 20) | flowLabel);
        set16(header, 4, ipLength != null ? ipLength : extensions.size() + segment.length);
        header[6] = (byte) (extensionTypes.isEmpty() ? protocolNumber() : extensionTypes.get(0));
        header[7] = (byte) ttl;
        System.arraycopy(src.getAddress(), 0, header, 8, 16);
        System.arraycopy(dst.getAddress(), 0, header, 24, 16);
        return concat(header, extensions.toByteArray(), segment);
    }

    /** The protocol number written in front of the transport header. */
    private int protocolNumber() {
        if (ipProtocol != null) {
            return ipProtocol;
        }
        return switch (transport) {
            case TCP -> IPPROTO_TCP;
            case UDP -> IPPROTO_UDP;
            case ICMP_ECHO -> network == Network.IPV6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
            case RAW -> rawProtocol;
            case NONE -> IPPROTO_NONE;
        };
    }

    private byte[] transportSegment(boolean ipv6) {
        return switch (transport) {
            case NONE -> new byte[0];
            case RAW -> rawTransport.clone();
            case TCP -> tcpSegment(ipv6);
            case UDP -> udpDatagram(ipv6);
            case ICMP_ECHO -> icmpEcho(ipv6);
        };
    }

    private byte[] tcpSegment(boolean ipv6) {
        byte[] segment = new byte[20 + tcpOptions.length + payload.length];
        set16(segment, 0, srcPort);
        set16(segment, 2, dstPort);
        set32(segment, 4, (int) seq);
        set32(segment, 8, (int) ack);
        int offset = dataOffset != null ? dataOffset : (20 + tcpOptions.length) / 4;
        segment[12] = (byte) (offset << 4);
        segment[13] = (byte) tcpFlags;
        set16(segment, 14, window);
        set16(segment, 18, urgentPointer);
        System.arraycopy(tcpOptions, 0, segment, 20, tcpOptions.length);
        System.arraycopy(payload, 0, segment, 20 + tcpOptions.length, payload.length);
        set16(segment, 16, l4Checksum != null ? l4Checksum : transportChecksum(segment, IPPROTO_TCP, ipv6));
        return segment;
    }

    private byte[] udpDatagram(boolean ipv6) {
        byte[] datagram = new byte[8 + payload.length];
        set16(datagram, 0, srcPort);
        set16(datagram, 2, dstPort);
        set16(datagram, 4, udpLength != null ? udpLength : datagram.length);
        System.arraycopy(payload, 0, datagram, 8, payload.length);
        int checksum;
        if (l4Checksum != null) {
            checksum = l4Checksum;
        } else {
            checksum = transportChecksum(datagram, IPPROTO_UDP, ipv6);
            checksum = checksum == 0 ? 0xffff : checksum; // RFC 768: 0 means "no checksum"
        }
        set16(datagram, 6, checksum);
        return datagram;
    }

    private byte[] icmpEcho(boolean ipv6) {
        byte[] message = new byte[8 + payload.length];
        message[0] = (byte) (ipv6 ? 128 : 8); // echo request
        set16(message, 4, icmpId);
        set16(message, 6, icmpSeq);
        System.arraycopy(payload, 0, message, 8, payload.length);
        int checksum;
        if (l4Checksum != null) {
            checksum = l4Checksum;
        } else if (ipv6) {
            checksum = transportChecksum(message, IPPROTO_ICMPV6, true); // ICMPv6 covers a pseudo-header
        } else {
            checksum = Checksums.internetChecksum(message);
        }
        set16(message, 2, checksum);
        return message;
    }

    private int transportChecksum(byte[] segment, int protocol, boolean ipv6) {
        byte[] pseudo = Checksums.pseudoHeader(src.getAddress(), dst.getAddress(), protocol, segment.length, ipv6);
        return Checksums.internetChecksum(concat(pseudo, segment));
    }

    private PacketBuilder requireIpv6(String what) {
        if (network != Network.IPV6) {
            throw new IllegalStateException(what + " exist only in IPv6 packets");
        }
        return this;
    }

    private static byte[] padNOptions() {
        byte[] header = new byte[8];
        header[1] = 0; // (8 / 8) - 1
        header[2] = 1; // PadN
        header[3] = 4; // covering the 4 remaining bytes
        return header;
    }

    /** Parses "02:00:00:00:00:01" into 6 bytes. */
    public static byte[] mac(String text) {
        String[] parts = text.split(":");
        if (parts.length != 6) {
            throw new IllegalArgumentException("not a MAC address: " + text);
        }
        byte[] mac = new byte[6];
        for (int i = 0; i < 6; i++) {
            mac[i] = (byte) HexFormat.fromHexDigits(parts[i]);
        }
        return mac;
    }

    /** An address literal, never a name lookup. */
    public static InetAddress address(String literal) {
        return InetAddress.ofLiteral(Objects.requireNonNull(literal, "address"));
    }

    private static int check(int value, int min, int max, String what) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(what + " must be in [" + min + ", " + max + "], got " + value);
        }
        return value;
    }

    private static void put16(ByteArrayOutputStream out, int value) {
        out.write(value >>> 8);
        out.write(value);
    }

    private static void set16(byte[] data, int at, int value) {
        data[at] = (byte) (value >>> 8);
        data[at + 1] = (byte) value;
    }

    private static void set32(byte[] data, int at, int value) {
        data[at] = (byte) (value >>> 24);
        data[at + 1] = (byte) (value >>> 16);
        data[at + 2] = (byte) (value >>> 8);
        data[at + 3] = (byte) value;
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }
}
