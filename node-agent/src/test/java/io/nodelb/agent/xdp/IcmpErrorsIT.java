package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.packet.Checksums;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ICMP and ICMPv6 errors through the NAT (bpf/README.md, "ICMP errors"), byte for byte: an error
 * quoting a packet the balancer translated comes out quoting the packet its receiver knows,
 * addressed to it, with every checksum verified independently (outer IPv4 header, ICMP or ICMPv6
 * with its pseudo-header, quoted IPv4 header, quoted TCP/UDP when the quote holds the segment).
 * Errors that are not a flow's, malformed ones and echo requests pass unchanged; no error
 * creates or refreshes conntrack state.
 */
@io.nodelb.agent.testing.Privileged
class IcmpErrorsIT extends DataPlaneFixture {

    /** A router on either side: the errors it sends keep its address as their source. */
    static final String ROUTER4 = "192.0.2.254";
    static final String ROUTER6 = "2001:db8::fe";

    /** How much of the offending packet an error quotes. */
    enum Quote {
        /** RFC 792's minimum: the IP header and 8 bytes (the ports; TCP's checksum is not in it). */
        MINIMAL,
        /** The whole packet, as Linux quotes what fits (the L4 checksum is in it). */
        WHOLE
    }

    static Stream<Arguments> cases() {
        return StandardListener.all().flatMap(c -> Stream.of(Quote.values()).map(q -> Arguments.of(c, q)));
    }

    static Stream<StandardListener> tcp() {
        return StandardListener.tcp();
    }

    /**
     * An error about a packet sent to the backend (the backend's port is closed, say, or its path
     * needs fragmentation): it goes to the client, quoting the client's own packet to the VIP.
     * DNAT: it is routed toward the client and translated by the TC program; FullNAT: it comes
     * back to the SNAT address and is translated by XDP.
     */
    @ParameterizedTest(name = "{0}, {1} quote")
    @MethodSource("cases")
    void anErrorAboutAPacketToTheBackendReachesTheClient(StandardListener c, Quote q) {
        Flow flow = c.flow(41001);
        byte[] sent = flow.first();
        byte[] toBackend = dataPlane.xdp(sent).output();
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        String backend = forward.natDestination().getHostAddress();
        String source = forward.natSource().getHostAddress();
        List<Abi.CtKey> conntrack = List.copyOf(dataPlane.conntrack().keySet());

        byte[] error = unreachable(c.ipv6(), backend, source, quote(toBackend, q));
        byte[] expected = unreachable(c.ipv6(), flow.vip(), flow.client(), quote(sent, q));
        long[] before = dataPlane.stats();

        TestRunResult translated = c.isFullNat() ? dataPlane.xdp(error) : dataPlane.tc(error);
        TestRunResult other = c.isFullNat() ? dataPlane.tc(error) : dataPlane.xdp(error);

        assertThat(translated.retval()).isEqualTo(c.isFullNat() ? XDP_PASS : TC_ACT_OK);
        assertTranslated(translated.output(), expected, q);
        assertThat(other.output()).as("the other program leaves it alone").isEqualTo(error);
        assertThat(dataPlane.statsSince(before)).as("stats").containsExactlyInAnyOrderEntriesOf(c.isFullNat()
                ? java.util.Map.of(Abi.Stat.ICMP_TO_CLIENT, 1L)
                : java.util.Map.of(Abi.Stat.ICMP_TO_CLIENT, 1L, Abi.Stat.PASS_NOT_L4, 1L));
        assertThat(dataPlane.conntrack().keySet()).as("no state from an error").containsExactlyInAnyOrderElementsOf(conntrack);
    }

    /**
     * An error from a router on the client's side about a reply (fragmentation needed / packet too
     * big for the VIP's reply): it comes to the VIP and goes to the backend, quoting the reply as
     * the backend sent it (to the client in DNAT, to the SNAT address in FullNAT).
     */
    @ParameterizedTest(name = "{0}, {1} quote")
    @MethodSource("cases")
    void anErrorAboutAReplyReachesTheBackend(StandardListener c, Quote q) {
        Flow flow = c.flow(41002);
        dataPlane.xdp(flow.first());
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        String backend = forward.natDestination().getHostAddress();
        String source = forward.natSource().getHostAddress();
        byte[] replySent = Frames.frame(flow.proto(), SYN | ACK, backend, forward.natDestinationPort(), source,
                forward.natSourcePort());
        byte[] replySeen = Frames.frame(flow.proto(), SYN | ACK, flow.vip(), flow.vipPort(), flow.client(),
                flow.clientPort());
        String router = c.ipv6() ? ROUTER6 : ROUTER4;
        List<Abi.CtKey> conntrack = List.copyOf(dataPlane.conntrack().keySet());

        byte[] error = tooBig(c.ipv6(), router, flow.vip(), quote(replySeen, q));
        byte[] expected = tooBig(c.ipv6(), router, backend, quote(replySent, q));
        long[] before = dataPlane.stats();

        TestRunResult translated = dataPlane.xdp(error);

        assertThat(translated.retval()).isEqualTo(XDP_PASS);
        assertTranslated(translated.output(), expected, q);
        assertThat(dataPlane.tc(error).output()).as("TC leaves it alone").isEqualTo(error);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.ICMP_TO_BACKEND, 1L));
        assertThat(dataPlane.conntrack().keySet()).containsExactlyInAnyOrderElementsOf(conntrack);
    }

    /** The client itself sends the error (its port is gone): from the client in DNAT, from the SNAT address in FullNAT. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tcp")
    void anErrorTheClientSendsComesFromWhereTheBackendSentTheReply(StandardListener c) {
        Flow flow = c.flow(41003);
        dataPlane.xdp(flow.first());
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        String backend = forward.natDestination().getHostAddress();
        String source = forward.natSource().getHostAddress();
        byte[] replySent = Frames.frame(flow.proto(), ACK, backend, forward.natDestinationPort(), source,
                forward.natSourcePort());
        byte[] replySeen = Frames.frame(flow.proto(), ACK, flow.vip(), flow.vipPort(), flow.client(),
                flow.clientPort());

        TestRunResult translated = dataPlane.xdp(unreachable(c.ipv6(), flow.client(), flow.vip(),
                quote(replySeen, Quote.WHOLE)));

        assertTranslated(translated.output(), unreachable(c.ipv6(), source, backend, quote(replySent, Quote.WHOLE)),
                Quote.WHOLE);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcp")
    void errorsThatAreNotAFlowsPassUnchanged(StandardListener c) {
        Flow flow = c.flow(41004);
        byte[] toBackend = dataPlane.xdp(flow.first()).output();
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        String backend = forward.natDestination().getHostAddress();
        String source = forward.natSource().getHostAddress();
        String router = c.ipv6() ? ROUTER6 : ROUTER4;
        byte[] replySeen = Frames.frame(flow.proto(), ACK, flow.vip(), flow.vipPort(), flow.client(),
                flow.clientPort());
        byte[] unknownReply = Frames.frame(flow.proto(), ACK, flow.vip(), flow.vipPort(), flow.client(),
                flow.clientPort() + 1);
        byte[] notTranslated = Frames.frame(flow.proto(), ACK, c.ipv6() ? Snapshots.NODE6 : Snapshots.NODE4, 22,
                flow.client(), flow.clientPort());
        byte[] truncated = Arrays.copyOf(quote(replySeen, Quote.MINIMAL), (c.ipv6() ? 40 : 20) + 7);
        byte[] withoutL4 = Arrays.copyOf(quote(replySeen, Quote.MINIMAL), c.ipv6() ? 40 : 20);
        List<byte[]> frames = List.of(
                tooBig(c.ipv6(), router, flow.vip(), quote(unknownReply, Quote.WHOLE)),
                tooBig(c.ipv6(), router, c.ipv6() ? Snapshots.NODE6 : Snapshots.NODE4, quote(notTranslated, Quote.WHOLE)),
                tooBig(c.ipv6(), router, flow.vip(), truncated),
                tooBig(c.ipv6(), router, flow.vip(), withoutL4),
                // addressed to another party than the quoted packet's source
                tooBig(c.ipv6(), router, c.ipv6() ? Snapshots.NODE6 : Snapshots.NODE4, quote(replySeen, Quote.WHOLE)),
                // an echo request to the VIP: the node's stack answers it
                icmp(c.ipv6(), flow.client(), flow.vip(), c.ipv6() ? 128 : 8, 0, 0x00010001, "ping".getBytes()),
                // the quoted ports beyond the IP length (in the frame's padding)
                shortQuotePadded(c.ipv6(), backend, source, quote(toBackend, Quote.MINIMAL)));
        for (byte[] frame : frames) {
            long[] before = dataPlane.stats();
            assertThat(dataPlane.xdp(frame).output()).as("XDP").isEqualTo(frame);
            assertThat(dataPlane.tc(frame).output()).as("TC").isEqualTo(frame);
            assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.PASS_NOT_L4, 1L));
        }
        assertThat(dataPlane.conntrack()).hasSize(2);
    }

    // --- frames ------------------------------------------------------------------------------

    /** The IP packet of a frame, whole or cut to the IP header and 8 bytes. */
    static byte[] quote(byte[] frame, Quote q) {
        int ipHeader = (frame[14] >> 4) == 4 ? 20 : 40;
        int end = q == Quote.WHOLE ? frame.length : 14 + ipHeader + 8;
        return Arrays.copyOfRange(frame, 14, end);
    }

    /** Port unreachable (ICMP 3/3, ICMPv6 1/4). */
    static byte[] unreachable(boolean ipv6, String src, String dst, byte[] quote) {
        return ipv6 ? icmp(true, src, dst, 1, 4, 0, quote) : icmp(false, src, dst, 3, 3, 0, quote);
    }

    /** Fragmentation needed with next-hop MTU 1400 (ICMP 3/4), or packet too big, MTU 1400 (ICMPv6 2/0). */
    static byte[] tooBig(boolean ipv6, String src, String dst, byte[] quote) {
        return ipv6 ? icmp(true, src, dst, 2, 0, 1400, quote) : icmp(false, src, dst, 3, 4, 1400, quote);
    }

    /** An Ethernet frame with an ICMP or ICMPv6 message, every checksum computed from scratch. */
    static byte[] icmp(boolean ipv6, String src, String dst, int type, int code, int rest, byte[] body) {
        byte[] s = Snapshots.ip(src).getAddress();
        byte[] d = Snapshots.ip(dst).getAddress();
        int icmpLen = 8 + body.length;
        int ipLen = ipv6 ? 40 : 20;
        ByteBuffer b = ByteBuffer.allocate(14 + ipLen + icmpLen);
        b.put(new byte[] {2, 0, 0, 0, 0, 0x0b}).put(new byte[] {2, 0, 0, 0, 0, 0x0a})
                .putShort((short) (ipv6 ? 0x86dd : 0x0800));
        if (ipv6) {
            b.putInt(0x60000000).putShort((short) icmpLen).put((byte) 58).put((byte) 64).put(s).put(d);
        } else {
            b.put((byte) 0x45).put((byte) 0xc0).putShort((short) (ipLen + icmpLen)).putShort((short) 0x1234)
                    .putShort((short) 0).put((byte) 64).put((byte) 1).putShort((short) 0).put(s).put(d);
        }
        int at = b.position();
        b.put((byte) type).put((byte) code).putShort((short) 0).putInt(rest).put(body);
        byte[] frame = b.array();
        if (!ipv6) {
            putShort(frame, 14 + 10, Checksums.internetChecksum(frame, 14, 20));
            putShort(frame, at + 2, Checksums.internetChecksum(frame, at, icmpLen));
        } else {
            putShort(frame, at + 2, icmp6Sum(frame, at, icmpLen));
        }
        return frame;
    }

    /**
     * An error whose IP length ends 4 bytes into the quoted L4 header, in a frame padded with the
     * other 4: the ports are in the frame but not in the packet.
     */
    static byte[] shortQuotePadded(boolean ipv6, String src, String dst, byte[] quote) {
        int cut = quote.length - 4;
        byte[] frame = tooBig(ipv6, src, dst, Arrays.copyOf(quote, cut));
        byte[] padded = Arrays.copyOf(frame, frame.length + 4);
        System.arraycopy(quote, cut, padded, frame.length, 4);
        return padded;
    }

    // --- checks ------------------------------------------------------------------------------

    /** Byte for byte, then every checksum by recomputation, independently of the expected frame. */
    static void assertTranslated(byte[] output, byte[] expected, Quote q) {
        assertThat(Frames.hex(output)).as("translated error").isEqualTo(Frames.hex(expected));
        boolean ipv6 = (output[14] >> 4) == 6;
        int icmpAt = 14 + (ipv6 ? 40 : 20);
        int icmpLen = output.length - icmpAt;
        if (ipv6) {
            assertThat(icmp6Sum(output, icmpAt, icmpLen)).as("ICMPv6 checksum").isZero();
        } else {
            assertThat(Checksums.internetChecksum(output, 14, 20)).as("outer IPv4 header checksum").isZero();
            assertThat(Checksums.internetChecksum(output, icmpAt, icmpLen)).as("ICMP checksum").isZero();
            assertThat(Checksums.internetChecksum(output, icmpAt + 8, 20)).as("quoted IPv4 header checksum").isZero();
        }
        if (q == Quote.WHOLE) {
            byte[] inner = new byte[14 + icmpLen - 8];
            System.arraycopy(output, 0, inner, 0, 14);
            System.arraycopy(output, icmpAt + 8, inner, 14, icmpLen - 8);
            Checksums.Result sums = Checksums.verify(inner);
            assertThat(sums.transport()).as("quoted L4 checksum: %s", sums).isEqualTo(Checksums.Status.CORRECT);
        }
    }

    /** The ICMPv6 checksum over the pseudo-header and the message (0 when the field is right). */
    static int icmp6Sum(byte[] frame, int at, int len) {
        byte[] pseudo = Checksums.pseudoHeader(Arrays.copyOfRange(frame, 22, 38), Arrays.copyOfRange(frame, 38, 54),
                58, len, true);
        byte[] all = new byte[pseudo.length + len];
        System.arraycopy(pseudo, 0, all, 0, pseudo.length);
        System.arraycopy(frame, at, all, pseudo.length, len);
        return Checksums.internetChecksum(all);
    }

    static void putShort(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 8);
        b[at + 1] = (byte) v;
    }
}
