package io.nodelb.agent.packet;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * A parsed view of an Ethernet frame: VLAN tags, IPv4 or IPv6 (with extension headers), TCP or
 * UDP, ARP. {@link #parse} is strict: anything a careful receiver would drop (truncated headers,
 * impossible lengths, a wrong version) is an {@link IllegalArgumentException} saying what is
 * wrong. Fragments parse; their transport header is read only from the first fragment.
 *
 * <p>Fields that do not apply are -1 (numbers), null (addresses) or empty. Offsets are from the
 * start of the frame, so tests can compare byte ranges of what went in and what came out.
 */
public final class Packet {

    /** One VLAN tag: TPID (0x8100 or 0x88a8), priority and VLAN id. */
    public record VlanTag(int tpid, int pcp, int vid) {}

    /** One IPv6 extension header: its type (next-header value), where it starts and its length. */
    public record ExtensionHeader(int type, int offset, int length) {}

    private final byte[] frame;
    private String dstMac;
    private String srcMac;
    private final List<VlanTag> vlanTags = new ArrayList<>();
    private int etherType;
    private int l3Offset;

    private int ipVersion = -1;
    private InetAddress src;
    private InetAddress dst;
    private int ttl = -1;
    private int tos = -1;
    private int flowLabel = -1;
    private int ipHeaderLength = -1;
    private int ipLength = -1; // IPv4 total length, IPv6 payload length
    private int ipId = -1;
    private boolean dontFragment;
    private boolean moreFragments;
    private int fragmentOffset = -1; // bytes
    private boolean fragment;
    private byte[] ipOptions = new byte[0];
    private int ipChecksum = -1;
    private final List<ExtensionHeader> extensionHeaders = new ArrayList<>();
    private int protocol = -1;
    private int l4Offset = -1;
    private int l4Length = -1;

    private int srcPort = -1;
    private int dstPort = -1;
    private long seq = -1;
    private long ack = -1;
    private int tcpFlags = -1;
    private int dataOffset = -1;
    private int window = -1;
    private int urgentPointer = -1;
    private byte[] tcpOptions = new byte[0];
    private int udpLength = -1;
    private int l4Checksum = -1;
    private int payloadOffset = -1;
    private byte[] payload = new byte[0];

    private int arpOperation = -1;
    private InetAddress arpSenderIp;
    private InetAddress arpTargetIp;

    private Packet(byte[] frame) {
        this.frame = frame;
    }

    /** Parses a frame; throws {@link IllegalArgumentException} naming the first thing that is wrong. */
    public static Packet parse(byte[] frame) {
        Packet packet = new Packet(frame.clone());
        packet.parseEthernet();
        return packet;
    }

    private void parseEthernet() {
        need(0, 14, "Ethernet header");
        dstMac = macText(0);
        srcMac = macText(6);
        int at = 12;
        int type = u16(at);
        at += 2;
        while (type == PacketBuilder.ETH_P_8021Q || type == PacketBuilder.ETH_P_8021AD) {
            need(at, 4, "VLAN tag");
            int tci = u16(at);
            vlanTags.add(new VlanTag(type, tci >>> 13, tci & 0x0fff));
            type = u16(at + 2);
            at += 4;
        }
        etherType = type;
        l3Offset = at;
        switch (type) {
            case PacketBuilder.ETH_P_IP -> parseIpv4(at);
            case PacketBuilder.ETH_P_IPV6 -> parseIpv6(at);
            case PacketBuilder.ETH_P_ARP -> parseArp(at);
            default -> setPayload(at, frame.length);
        }
    }

    private void parseIpv4(int at) {
        need(at, 20, "IPv4 header");
        ipVersion = (frame[at] & 0xff) >>> 4;
        if (ipVersion != 4) {
            throw malformed("IPv4 ethertype but IP version " + ipVersion);
        }
        ipHeaderLength = (frame[at] & 0x0f) * 4;
        if (ipHeaderLength < 20) {
            throw malformed("IPv4 header length " + ipHeaderLength + " is below 20");
        }
        need(at, ipHeaderLength, "IPv4 header with options");
        tos = frame[at + 1] & 0xff;
        ipLength = u16(at + 2);
        if (ipLength < ipHeaderLength) {
            throw malformed("IPv4 total length " + ipLength + " is below the header length " + ipHeaderLength);
        }
        need(at, ipLength, "IPv4 datagram (total length " + ipLength + ")");
        ipId = u16(at + 4);
        int flags = u16(at + 6);
        dontFragment = (flags & 0x4000) != 0;
        moreFragments = (flags & 0x2000) != 0;
        fragmentOffset = (flags & 0x1fff) * 8;
        fragment = moreFragments || fragmentOffset != 0;
        ttl = frame[at + 8] & 0xff;
        protocol = frame[at + 9] & 0xff;
        ipChecksum = u16(at + 10);
        src = address(at + 12, 4);
        dst = address(at + 16, 4);
        ipOptions = Arrays.copyOfRange(frame, at + 20, at + ipHeaderLength);
        parseTransport(at + ipHeaderLength, at + ipLength);
    }

    private void parseIpv6(int at) {
        need(at, 40, "IPv6 header");
        int first = u32(at);
        ipVersion = first >>> 28;
        if (ipVersion != 6) {
            throw malformed("IPv6 ethertype but IP version " + ipVersion);
        }
        tos = (first >>> 20) & 0xff;
        flowLabel = first & 0xfffff;
        ipHeaderLength = 40;
        ipLength = u16(at + 4);
        int end = at + 40 + ipLength;
        need(at, 40 + ipLength, "IPv6 packet (payload length " + ipLength + ")");
        int next = frame[at + 6] & 0xff;
        ttl = frame[at + 7] & 0xff;
        src = address(at + 8, 16);
        dst = address(at + 24, 16);
        int cursor = at + 40;
        while (next == PacketBuilder.IPPROTO_HOPOPTS || next == PacketBuilder.IPPROTO_ROUTING
                || next == PacketBuilder.IPPROTO_FRAGMENT || next == PacketBuilder.IPPROTO_DSTOPTS) {
            if (cursor + 8 > end) {
                throw malformed("IPv6 extension header " + next + " does not fit the payload");
            }
            int length = next == PacketBuilder.IPPROTO_FRAGMENT ? 8 : ((frame[cursor + 1] & 0xff) + 1) * 8;
            if (cursor + length > end) {
                throw malformed("IPv6 extension header " + next + " of " + length + " bytes runs past the payload");
            }
            extensionHeaders.add(new ExtensionHeader(next, cursor, length));
            if (next == PacketBuilder.IPPROTO_FRAGMENT) {
                int field = u16(cursor + 2);
                fragmentOffset = (field >>> 3) * 8;
                moreFragments = (field & 1) != 0;
                ipId = u32(cursor + 4);
                fragment = moreFragments || fragmentOffset != 0;
            }
            next = frame[cursor] & 0xff;
            cursor += length;
        }
        protocol = next;
        parseTransport(cursor, end);
    }

    /** The transport layer in {@code [at, end)}; only the first fragment carries its header. */
    private void parseTransport(int at, int end) {
        l4Offset = at;
        l4Length = end - at;
        if (fragmentOffset > 0) {
            setPayload(at, end);
            return;
        }
        switch (protocol) {
            case PacketBuilder.IPPROTO_TCP -> {
                if (l4Length < 20) {
                    throw malformed("TCP header needs 20 bytes, the IP payload has " + l4Length);
                }
                srcPort = u16(at);
                dstPort = u16(at + 2);
                seq = u32(at + 4) & 0xffffffffL;
                ack = u32(at + 8) & 0xffffffffL;
                dataOffset = (frame[at + 12] & 0xff) >>> 4;
                tcpFlags = frame[at + 13] & 0xff;
                window = u16(at + 14);
                l4Checksum = u16(at + 16);
                urgentPointer = u16(at + 18);
                if (dataOffset < 5) {
                    throw malformed("TCP data offset " + dataOffset + " is below 5");
                }
                if (dataOffset * 4 > l4Length) {
                    throw malformed("TCP data offset " + dataOffset + " (" + dataOffset * 4
                            + " bytes) runs past the " + l4Length + " bytes of IP payload");
                }
                tcpOptions = Arrays.copyOfRange(frame, at + 20, at + dataOffset * 4);
                setPayload(at + dataOffset * 4, end);
            }
            case PacketBuilder.IPPROTO_UDP -> {
                if (l4Length < 8) {
                    throw malformed("UDP header needs 8 bytes, the IP payload has " + l4Length);
                }
                srcPort = u16(at);
                dstPort = u16(at + 2);
                udpLength = u16(at + 4);
                l4Checksum = u16(at + 6);
                if (udpLength < 8) {
                    throw malformed("UDP length " + udpLength + " is below 8");
                }
                if (fragment) {
                    setPayload(at + 8, end); // the datagram continues in later fragments
                } else if (udpLength > l4Length) {
                    throw malformed("UDP length " + udpLength + " exceeds the " + l4Length + " bytes of IP payload");
                } else {
                    setPayload(at + 8, at + udpLength);
                }
            }
            default -> setPayload(at, end);
        }
    }

    private void parseArp(int at) {
        need(at, 28, "ARP (Ethernet/IPv4) message");
        if (u16(at) != 1 || u16(at + 2) != PacketBuilder.ETH_P_IP || frame[at + 4] != 6 || frame[at + 5] != 4) {
            throw malformed("ARP is not Ethernet/IPv4");
        }
        arpOperation = u16(at + 6);
        arpSenderIp = address(at + 14, 4);
        arpTargetIp = address(at + 24, 4);
        setPayload(at + 28, frame.length);
    }

    private void setPayload(int from, int to) {
        payloadOffset = from;
        payload = Arrays.copyOfRange(frame, from, to);
    }

    // ---- accessors ----

    /** A copy of the whole frame. */
    public byte[] frame() {
        return frame.clone();
    }

    public String dstMac() {
        return dstMac;
    }

    public String srcMac() {
        return srcMac;
    }

    /** VLAN tags, outermost first. */
    public List<VlanTag> vlanTags() {
        return List.copyOf(vlanTags);
    }

    /** The ethertype after any VLAN tags. */
    public int etherType() {
        return etherType;
    }

    public int l3Offset() {
        return l3Offset;
    }

    /** 4, 6, or -1 when not IP. */
    public int ipVersion() {
        return ipVersion;
    }

    public boolean isIpv4() {
        return ipVersion == 4;
    }

    public boolean isIpv6() {
        return ipVersion == 6;
    }

    public InetAddress src() {
        return src;
    }

    public InetAddress dst() {
        return dst;
    }

    /** IPv4 TTL or IPv6 hop limit. */
    public int ttl() {
        return ttl;
    }

    /** IPv4 type of service or IPv6 traffic class. */
    public int tos() {
        return tos;
    }

    public int flowLabel() {
        return flowLabel;
    }

    /** IPv4 header length in bytes (with options), 40 for IPv6. */
    public int ipHeaderLength() {
        return ipHeaderLength;
    }

    /** IPv4 total length or IPv6 payload length, as in the header. */
    public int ipLength() {
        return ipLength;
    }

    /** IPv4 identification, or the IPv6 fragment header's identification. */
    public int ipId() {
        return ipId;
    }

    public boolean dontFragment() {
        return dontFragment;
    }

    public boolean moreFragments() {
        return moreFragments;
    }

    /** Fragment offset in bytes (IPv4 or IPv6 fragment header), -1 when there is none. */
    public int fragmentOffset() {
        return fragmentOffset;
    }

    /** True for any fragment of a larger datagram (MF set or offset above 0). */
    public boolean isFragment() {
        return fragment;
    }

    public byte[] ipOptions() {
        return ipOptions.clone();
    }

    public int ipChecksum() {
        return ipChecksum;
    }

    public List<ExtensionHeader> extensionHeaders() {
        return List.copyOf(extensionHeaders);
    }

    /** The upper-layer protocol: IPv4 protocol or the last IPv6 next header. */
    public int protocol() {
        return protocol;
    }

    public boolean isTcp() {
        return protocol == PacketBuilder.IPPROTO_TCP;
    }

    public boolean isUdp() {
        return protocol == PacketBuilder.IPPROTO_UDP;
    }

    public int l4Offset() {
        return l4Offset;
    }

    /** Bytes of transport layer according to the IP lengths. */
    public int l4Length() {
        return l4Length;
    }

    public int srcPort() {
        return srcPort;
    }

    public int dstPort() {
        return dstPort;
    }

    public long seq() {
        return seq;
    }

    public long ack() {
        return ack;
    }

    public int tcpFlags() {
        return tcpFlags;
    }

    /** Whether every flag in {@code flags} (e.g. {@link PacketBuilder#SYN}) is set. */
    public boolean hasFlags(int flags) {
        return tcpFlags >= 0 && (tcpFlags & flags) == flags;
    }

    public int dataOffset() {
        return dataOffset;
    }

    public int window() {
        return window;
    }

    public int urgentPointer() {
        return urgentPointer;
    }

    public byte[] tcpOptions() {
        return tcpOptions.clone();
    }

    public int udpLength() {
        return udpLength;
    }

    /** The TCP or UDP checksum field. */
    public int l4Checksum() {
        return l4Checksum;
    }

    public int payloadOffset() {
        return payloadOffset;
    }

    /** Transport payload; for other protocols, non-first fragments and non-IP, the bytes after the last header. */
    public byte[] payload() {
        return payload.clone();
    }

    /** Bytes after the IP datagram (Ethernet padding); 0 when not IP. */
    public int trailerLength() {
        return ipVersion == 4 ? frame.length - l3Offset - ipLength
                : ipVersion == 6 ? frame.length - l3Offset - 40 - ipLength : 0;
    }

    public int arpOperation() {
        return arpOperation;
    }

    public InetAddress arpSenderIp() {
        return arpSenderIp;
    }

    public InetAddress arpTargetIp() {
        return arpTargetIp;
    }

    @Override
    public String toString() {
        StringBuilder text = new StringBuilder();
        for (VlanTag tag : vlanTags) {
            text.append("vlan ").append(tag.vid()).append(' ');
        }
        if (ipVersion < 0) {
            return text.append(arpOperation >= 0 ? "ARP op " + arpOperation + " " + arpSenderIp.getHostAddress()
                    + " -> " + arpTargetIp.getHostAddress() : "ethertype 0x" + Integer.toHexString(etherType))
                    .toString();
        }
        text.append("IPv").append(ipVersion).append(' ');
        text.append(isTcp() ? "TCP" : isUdp() ? "UDP" : "protocol " + protocol).append(' ');
        text.append(src.getHostAddress()).append(srcPort >= 0 ? ":" + srcPort : "").append(" -> ");
        text.append(dst.getHostAddress()).append(dstPort >= 0 ? ":" + dstPort : "");
        if (tcpFlags >= 0) {
            text.append(" [").append(flagsText(tcpFlags)).append(']');
        }
        if (fragment) {
            text.append(" fragment@").append(fragmentOffset).append(moreFragments ? "+" : "");
        }
        return text.append(" ttl ").append(ttl).append(" payload ").append(payload.length).toString();
    }

    static String flagsText(int flags) {
        String[] names = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
        List<String> set = new ArrayList<>();
        for (int bit = 0; bit < names.length; bit++) {
            if ((flags & (1 << bit)) != 0) {
                set.add(names[bit]);
            }
        }
        return String.join(",", set);
    }

    private void need(int at, int length, String what) {
        if (at + length > frame.length) {
            throw malformed(what + " needs " + length + " bytes at offset " + at + ", the frame has "
                    + frame.length);
        }
    }

    private IllegalArgumentException malformed(String why) {
        return new IllegalArgumentException("malformed frame: " + why);
    }

    private int u16(int at) {
        return ((frame[at] & 0xff) << 8) | (frame[at + 1] & 0xff);
    }

    private int u32(int at) {
        return (u16(at) << 16) | u16(at + 2);
    }

    private InetAddress address(int at, int length) {
        try {
            return InetAddress.getByAddress(Arrays.copyOfRange(frame, at, at + length));
        } catch (UnknownHostException e) {
            throw new AssertionError("a 4 or 16 byte address is always valid", e);
        }
    }

    private String macText(int at) {
        HexFormat hex = HexFormat.ofDelimiter(":");
        return hex.formatHex(frame, at, at + 6);
    }
}
