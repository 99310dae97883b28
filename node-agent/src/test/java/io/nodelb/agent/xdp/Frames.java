package io.nodelb.agent.xdp;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.packet.Checksums;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.packet.PacketBuilder;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The frames of the tests and the rewrite oracle. Every frame of a flow carries the same
 * non-tuple fields (MACs, TOS, TTL, IPv4 id, flow label, TCP options, sequence numbers, an
 * odd-length payload), so the frame a correct rewrite produces is simply the same frame built
 * with the translated tuple.
 */
final class Frames {

    static final int FIN = PacketBuilder.FIN;
    static final int SYN = PacketBuilder.SYN;
    static final int RST = PacketBuilder.RST;
    static final int PSH = PacketBuilder.PSH;
    static final int ACK = PacketBuilder.ACK;

    /** Odd length on purpose: the last checksum word is half padding. */
    static final String PAYLOAD = "nodelb-payload!";

    private Frames() {}

    static byte[] frame(int proto, int tcpFlags, String src, int sport, String dst, int dport) {
        return builder(proto, tcpFlags, Snapshots.ip(src), sport, Snapshots.ip(dst), dport).build();
    }

    static byte[] frame(int proto, int tcpFlags, String src, int sport, String dst, int dport, byte[] payload) {
        return builder(proto, tcpFlags, Snapshots.ip(src), sport, Snapshots.ip(dst), dport).payload(payload).build();
    }

    /**
     * A UDP payload that makes the from-scratch checksum of src:sport -> dst:dport come out
     * as 0, which a sender must transmit as 0xffff (RFC 768): the last payload word is chosen
     * to complete the sum.
     */
    static byte[] zeroSumUdpPayload(String src, int sport, String dst, int dport) {
        byte[] payload = Arrays.copyOf("nodelb-zero-sum".getBytes(StandardCharsets.US_ASCII), 16);
        payload[14] = 0;
        payload[15] = 0;
        int rest = udpSumWithoutField(frame(Abi.IPPROTO_UDP, 0, src, sport, dst, dport, payload));
        payload[14] = (byte) (rest >>> 8);
        payload[15] = (byte) rest;
        if (udpSumWithoutField(frame(Abi.IPPROTO_UDP, 0, src, sport, dst, dport, payload)) != 0) {
            throw new AssertionError("could not make a zero-sum payload");
        }
        return payload;
    }

    /** The RFC 1071 checksum of a UDP datagram's pseudo-header and segment, its field taken as 0. */
    private static int udpSumWithoutField(byte[] frame) {
        Packet p = Packet.parse(frame);
        byte[] segment = Arrays.copyOfRange(frame, p.l4Offset(), p.l4Offset() + p.udpLength());
        segment[6] = 0;
        segment[7] = 0;
        byte[] pseudo = Checksums.pseudoHeader(p.src().getAddress(), p.dst().getAddress(), Abi.IPPROTO_UDP,
                segment.length, p.isIpv6());
        byte[] all = new byte[pseudo.length + segment.length];
        System.arraycopy(pseudo, 0, all, 0, pseudo.length);
        System.arraycopy(segment, 0, all, pseudo.length, segment.length);
        return Checksums.internetChecksum(all);
    }

    /** An IPv4 UDP datagram without checksum (field 0, RFC 768). */
    static byte[] udpWithoutChecksum(String src, int sport, String dst, int dport) {
        return builder(Abi.IPPROTO_UDP, 0, Snapshots.ip(src), sport, Snapshots.ip(dst), dport).zeroUdpChecksum()
                .build();
    }

    static PacketBuilder builder(int proto, int tcpFlags, InetAddress src, int sport, InetAddress dst, int dport) {
        PacketBuilder b = src instanceof Inet4Address
                ? PacketBuilder.ipv4(src, dst).ipId(0x4d2)
                : PacketBuilder.ipv6(src, dst).flowLabel(0x5a5a5);
        b.srcMac("02:00:00:00:00:0a").dstMac("02:00:00:00:00:0b").ttl(61).tos(0x28);
        if (proto == Abi.IPPROTO_TCP) {
            b.tcp(sport, dport).flags(tcpFlags).seq(0x01020304L).window(29200);
            if ((tcpFlags & ACK) != 0) {
                b.ack(0x0a0b0c0dL);
            }
            if ((tcpFlags & SYN) != 0) {
                b.tcpOptions(new byte[] {2, 4, 0x05, (byte) 0xb4}); // MSS 1460: data offset 6
            }
        } else {
            b.udp(sport, dport);
        }
        return b.payload(PAYLOAD);
    }

    /**
     * Asserts that {@code output} is {@code expected} byte for byte except the checksum fields,
     * and that its checksums verify by a full recomputation (an IPv4 UDP checksum of 0 must
     * stay 0 when the expected frame has 0).
     */
    static void assertRewritten(byte[] output, byte[] expected) {
        Packet out = Packet.parse(output);
        Packet want = Packet.parse(expected);
        assertThat(hex(withoutChecksums(output, out)))
                .as("rewrite of %s: got %s, expected %s", want, out, want)
                .isEqualTo(hex(withoutChecksums(expected, want)));
        Checksums.Result sums = Checksums.verify(output);
        assertThat(sums.valid()).as("checksums of %s: %s", out, sums).isTrue();
        if (out.isIpv4()) {
            assertThat(sums.ipv4Header()).as("IPv4 header checksum of %s", out).isEqualTo(Checksums.Status.CORRECT);
        }
        Checksums.Status transport = want.isUdp() && want.l4Checksum() == 0 && want.isIpv4()
                ? Checksums.Status.ZERO_ALLOWED
                : Checksums.Status.CORRECT;
        assertThat(sums.transport()).as("transport checksum of %s: %s", out, sums).isEqualTo(transport);
    }

    /** A copy of the frame with the IPv4 header and TCP/UDP checksum fields zeroed. */
    private static byte[] withoutChecksums(byte[] frame, Packet p) {
        byte[] copy = frame.clone();
        if (p.isIpv4()) {
            copy[p.l3Offset() + 10] = 0;
            copy[p.l3Offset() + 11] = 0;
        }
        int at = p.l4Offset() + (p.isTcp() ? 16 : 6);
        copy[at] = 0;
        copy[at + 1] = 0;
        return copy;
    }

    /** The bytes the data plane counts for a frame: the IPv4 total length, or 40 + the IPv6 payload length. */
    static long ipLength(byte[] frame) {
        Packet p = Packet.parse(frame);
        return p.isIpv4() ? p.ipLength() : 40 + p.ipLength();
    }

    static String hex(byte[] frame) {
        return HexFormat.of().formatHex(frame);
    }
}
