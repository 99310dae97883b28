package io.nodelb.agent.packet;

import static io.nodelb.agent.packet.KernelFrames.hex;
import static io.nodelb.agent.packet.PacketBuilder.ACK;
import static io.nodelb.agent.packet.PacketBuilder.FIN;
import static io.nodelb.agent.packet.PacketBuilder.PSH;
import static io.nodelb.agent.packet.PacketBuilder.RST;
import static io.nodelb.agent.packet.PacketBuilder.SYN;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class PacketBuilderTest {

    /** The strongest check: the builder writes the same bytes, checksums included, as the kernel did. */
    @Test
    void reproducesFramesFromTheLinuxStack() {
        byte[] udp4 = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2")
                .srcMac("02:00:00:00:00:0a").dstMac("02:00:00:00:00:0b").ipId(0x8400)
                .udp(40000, 5353).payload("hello nodelb").build();
        byte[] udp6 = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2")
                .srcMac("02:00:00:00:00:0a").dstMac("02:00:00:00:00:0b").flowLabel(0x2fe5d)
                .udp(40001, 5353).payload("odd-length!").build();
        byte[] syn4 = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2")
                .srcMac("02:00:00:00:00:0a").dstMac("02:00:00:00:00:0b").ipId(0xe422)
                .tcp(40002, 8080).flags(SYN).seq(0x9548f37fL).window(64240)
                .tcpOptions(hex("020405b40402080af98d8448000000000103030a")).build();
        byte[] rst4 = PacketBuilder.ipv4("192.0.2.2", "192.0.2.1")
                .srcMac("02:00:00:00:00:0b").dstMac("02:00:00:00:00:0a")
                .tcp(8080, 40002).flags(RST | ACK).ack(0x9548f380L).window(0).build();
        byte[] syn6 = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2")
                .srcMac("02:00:00:00:00:0a").dstMac("02:00:00:00:00:0b").flowLabel(0x47e0c)
                .tcp(40002, 8080).flags(SYN).seq(0xe8d43509L).window(64800)
                .tcpOptions(hex("020405a00402080acce141c9000000000103030a")).build();

        assertThat(udp4).isEqualTo(KernelFrames.UDP4);
        assertThat(udp6).isEqualTo(KernelFrames.UDP6);
        assertThat(syn4).isEqualTo(KernelFrames.TCP4_SYN);
        assertThat(rst4).isEqualTo(KernelFrames.TCP4_RST);
        assertThat(syn6).isEqualTo(KernelFrames.TCP6_SYN);
    }

    @Test
    void tcpOverIpv4RoundTrips() {
        byte[] frame = PacketBuilder.ipv4("198.51.100.7", "192.0.2.10")
                .tos(0x10).ttl(17).ipId(99)
                .tcp(40000, 443).flags(PSH | ACK).seq(0xfffffff0L).ack(12345).window(1000).urgentPointer(3)
                .tcpOptions(new byte[] {1, 1, 8}) // padded to 4 bytes
                .payload("GET / HTTP/1.1\r\n").build();

        Packet packet = Packet.parse(frame);

        assertThat(packet.etherType()).isEqualTo(0x0800);
        assertThat(packet.srcMac()).isEqualTo("02:00:00:00:00:01");
        assertThat(packet.dstMac()).isEqualTo("02:00:00:00:00:02");
        assertThat(packet.isIpv4()).isTrue();
        assertThat(packet.src()).isEqualTo(InetAddress.ofLiteral("198.51.100.7"));
        assertThat(packet.dst()).isEqualTo(InetAddress.ofLiteral("192.0.2.10"));
        assertThat(packet.tos()).isEqualTo(0x10);
        assertThat(packet.ttl()).isEqualTo(17);
        assertThat(packet.ipId()).isEqualTo(99);
        assertThat(packet.dontFragment()).isTrue();
        assertThat(packet.isFragment()).isFalse();
        assertThat(packet.ipHeaderLength()).isEqualTo(20);
        assertThat(packet.ipLength()).isEqualTo(20 + 24 + 16);
        assertThat(packet.isTcp()).isTrue();
        assertThat(packet.srcPort()).isEqualTo(40000);
        assertThat(packet.dstPort()).isEqualTo(443);
        assertThat(packet.seq()).isEqualTo(0xfffffff0L);
        assertThat(packet.ack()).isEqualTo(12345);
        assertThat(packet.hasFlags(PSH | ACK)).isTrue();
        assertThat(packet.hasFlags(SYN)).isFalse();
        assertThat(packet.window()).isEqualTo(1000);
        assertThat(packet.urgentPointer()).isEqualTo(3);
        assertThat(packet.dataOffset()).isEqualTo(6);
        assertThat(packet.tcpOptions()).containsExactly(1, 1, 8, 0);
        assertThat(new String(packet.payload(), StandardCharsets.UTF_8)).isEqualTo("GET / HTTP/1.1\r\n");
        assertThat(packet.payloadOffset()).isEqualTo(14 + 20 + 24);
        assertThat(packet.trailerLength()).isZero();
        assertThat(Checksums.verify(frame).valid()).isTrue();
        assertThat(packet).hasToString("IPv4 TCP 198.51.100.7:40000 -> 192.0.2.10:443 [PSH,ACK] ttl 17 payload 16");
    }

    @Test
    void udpOverIpv6WithExtensionHeadersRoundTrips() {
        byte[] frame = PacketBuilder.ipv6("2001:db8:100::7", "2001:db8::10")
                .tos(0xb8).flowLabel(0xabcde).ttl(3)
                .hopByHop().routing().fragmentHeader(0, false, 0x01020304).destinationOptions()
                .udp(5000, 53).payload("query").build();

        Packet packet = Packet.parse(frame);

        assertThat(packet.isIpv6()).isTrue();
        assertThat(packet.tos()).isEqualTo(0xb8);
        assertThat(packet.flowLabel()).isEqualTo(0xabcde);
        assertThat(packet.ttl()).isEqualTo(3);
        assertThat(packet.extensionHeaders()).extracting(Packet.ExtensionHeader::type).containsExactly(0, 43, 44, 60);
        assertThat(packet.extensionHeaders()).extracting(Packet.ExtensionHeader::length).containsExactly(8, 24, 8, 8);
        assertThat(packet.ipId()).isEqualTo(0x01020304);
        assertThat(packet.isFragment()).isFalse(); // an atomic fragment
        assertThat(packet.ipLength()).isEqualTo(48 + 8 + 5);
        assertThat(packet.isUdp()).isTrue();
        assertThat(packet.l4Offset()).isEqualTo(14 + 40 + 48);
        assertThat(packet.udpLength()).isEqualTo(13);
        assertThat(packet.srcPort()).isEqualTo(5000);
        assertThat(packet.dstPort()).isEqualTo(53);
        assertThat(packet.payload()).isEqualTo("query".getBytes(StandardCharsets.UTF_8));
        assertThat(Checksums.verify(frame).transport()).isEqualTo(Checksums.Status.CORRECT);
        // The routing header carries the destination as its one segment.
        int srh = packet.extensionHeaders().get(1).offset();
        assertThat(frame[srh + 2]).isEqualTo((byte) 4);
        assertThat(frame[srh + 3]).isZero();
        assertThat(java.util.Arrays.copyOfRange(frame, srh + 8, srh + 24)).isEqualTo(packet.dst().getAddress());
    }

    @Test
    void vlanTagsAreWrittenOutermostFirst() {
        byte[] frame = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").qinq(200, 100)
                .vlanTag(PacketBuilder.ETH_P_8021Q, 5, 4095).udp(1, 2).build();

        Packet packet = Packet.parse(frame);

        assertThat(packet.vlanTags()).containsExactly(
                new Packet.VlanTag(0x88a8, 0, 200), new Packet.VlanTag(0x8100, 0, 100),
                new Packet.VlanTag(0x8100, 5, 4095));
        assertThat(packet.l3Offset()).isEqualTo(14 + 12);
        assertThat(frame[12]).isEqualTo((byte) 0x88);
        assertThat(frame[13]).isEqualTo((byte) 0xa8);
        assertThat(packet.etherType()).isEqualTo(0x0800);
        assertThat(packet.isUdp()).isTrue();
        assertThat(Checksums.verify(frame).valid()).isTrue();
    }

    @Test
    void tcpFlagsAreTheWireBits() {
        byte[] frame = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).flags(FIN | SYN | RST | PSH | ACK).build();

        assertThat(frame[14 + 20 + 13]).isEqualTo((byte) 0x1f);
        assertThat(Packet.parse(frame).hasFlags(FIN | ACK)).isTrue();
    }

    @Test
    void ethernetPaddingStaysOutsideTheIpLengths() {
        byte[] frame = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).flags(ACK).padTo(60).build();

        Packet packet = Packet.parse(frame);

        assertThat(frame).hasSize(60);
        assertThat(packet.ipLength()).isEqualTo(40);
        assertThat(packet.trailerLength()).isEqualTo(6);
        assertThat(packet.payload()).isEmpty();
        assertThat(Checksums.verify(frame).valid()).isTrue();
    }

    @Test
    void overridesBreakOnlyWhatTheySay() {
        PacketBuilder base = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2");

        byte[] ihl = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").ihl(3).tcp(1, 2).build();
        assertThat(ihl[14]).isEqualTo((byte) 0x43);
        assertThat(Checksums.verify(ihl).ipv4Header()).isEqualTo(Checksums.Status.UNVERIFIABLE);

        byte[] length = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").ipLength(1000).tcp(1, 2).build();
        assertThat(u16(length, 16)).isEqualTo(1000);
        assertThat(length).hasSize(54);
        assertThat(Checksums.verify(length).ipv4Header()).isEqualTo(Checksums.Status.CORRECT);

        byte[] version = base.ipVersion(6).udp(1, 2).build();
        assertThat(version[14] & 0xff).isEqualTo(0x65);

        byte[] offset = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).dataOffset(2).build();
        assertThat(offset[14 + 20 + 12] & 0xff).isEqualTo(0x20);
        assertThat(Checksums.verify(offset).transport()).isEqualTo(Checksums.Status.CORRECT);

        byte[] udpLength = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).udpLength(3).build();
        assertThat(u16(udpLength, 14 + 40 + 4)).isEqualTo(3);

        byte[] checksum = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).l4Checksum(0xbeef).build();
        assertThat(u16(checksum, 14 + 20 + 16)).isEqualTo(0xbeef);
        assertThat(Checksums.verify(checksum).transport()).isEqualTo(Checksums.Status.INCORRECT);

        byte[] protocol = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).ipProtocol(17).build();
        assertThat(protocol[14 + 9]).isEqualTo((byte) 17);

        byte[] etherType = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).etherType(0x86dd).build();
        assertThat(u16(etherType, 12)).isEqualTo(0x86dd);
    }

    @Test
    void fragmentFields() {
        byte[] frame = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").fragment(185, true).reservedFlag(true)
                .rawTransport(6, new byte[16]).build();

        Packet packet = Packet.parse(frame);

        assertThat(u16(frame, 14 + 6)).isEqualTo(0x8000 | 0x2000 | 185);
        assertThat(packet.isFragment()).isTrue();
        assertThat(packet.moreFragments()).isTrue();
        assertThat(packet.dontFragment()).isFalse();
        assertThat(packet.fragmentOffset()).isEqualTo(1480);
        assertThat(packet.srcPort()).isEqualTo(-1); // a later fragment has no ports
        assertThat(packet.payload()).hasSize(16);
    }

    @Test
    void truncationCutsTheFinishedFrame() {
        byte[] whole = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).payload("abcdef").build();

        for (int length = 0; length < whole.length; length++) {
            byte[] cut = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).payload("abcdef")
                    .truncateTo(length).build();

            assertThat(cut).isEqualTo(java.util.Arrays.copyOf(whole, length));
            assertThatThrownBy(() -> Packet.parse(cut)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).truncateTo(500).build()).hasSize(54);
    }

    @Test
    void arpRequest() {
        byte[] frame = PacketBuilder.arpRequest("02:00:00:00:00:01", "192.0.2.1", "192.0.2.10").build();

        Packet packet = Packet.parse(frame);

        assertThat(frame).hasSize(42);
        assertThat(packet.etherType()).isEqualTo(0x0806);
        assertThat(packet.dstMac()).isEqualTo("ff:ff:ff:ff:ff:ff");
        assertThat(packet.arpOperation()).isEqualTo(1);
        assertThat(packet.arpSenderIp()).isEqualTo(InetAddress.ofLiteral("192.0.2.1"));
        assertThat(packet.arpTargetIp()).isEqualTo(InetAddress.ofLiteral("192.0.2.10"));
        assertThat(packet.ipVersion()).isEqualTo(-1);
    }

    @Test
    void icmpEchoRequests() {
        byte[] v4 = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").icmpEchoRequest(7, 9).payload("ping").build();
        byte[] v6 = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2").icmpEchoRequest(7, 9).payload("ping").build();

        assertThat(Packet.parse(v4).protocol()).isEqualTo(1);
        assertThat(v4[34]).isEqualTo((byte) 8);
        assertThat(Checksums.internetChecksum(v4, 34, v4.length - 34)).isZero();
        assertThat(Packet.parse(v6).protocol()).isEqualTo(58);
        assertThat(v6[54]).isEqualTo((byte) 128);
        byte[] pseudo = Checksums.pseudoHeader(Packet.parse(v6).src().getAddress(), Packet.parse(v6).dst().getAddress(),
                58, v6.length - 54, true);
        byte[] covered = new byte[pseudo.length + v6.length - 54];
        System.arraycopy(pseudo, 0, covered, 0, pseudo.length);
        System.arraycopy(v6, 54, covered, pseudo.length, v6.length - 54);
        assertThat(Checksums.internetChecksum(covered)).isZero();
    }

    @Test
    void rejectsImpossibleArguments() {
        assertThatThrownBy(() -> PacketBuilder.ipv4("192.0.2.1", "2001:db8::1"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("IPv4 addresses");
        assertThatThrownBy(() -> PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 70000))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("port");
        assertThatThrownBy(() -> PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").ipOptions(new byte[41]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 40");
        assertThatThrownBy(() -> PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").hopByHop())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("IPv6");
        assertThatThrownBy(() -> PacketBuilder.ipv4("example.com", "192.0.2.2"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").vlan(4096))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("VLAN id");
    }

    @Test
    void parseNamesWhatIsWrong() {
        List<byte[]> frames = List.of(
                new byte[13],
                PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").ihl(4).tcp(1, 2).build(),
                PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").tcp(1, 2).dataOffset(4).build(),
                PacketBuilder.ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).udpLength(100).build());
        List<String> reasons = List.of(
                "Ethernet header needs 14 bytes", "IPv4 header length 16", "TCP data offset 4", "UDP length 100");

        for (int i = 0; i < frames.size(); i++) {
            byte[] frame = frames.get(i);
            assertThatThrownBy(() -> Packet.parse(frame))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(reasons.get(i));
        }
    }

    private static int u16(byte[] frame, int at) {
        return ((frame[at] & 0xff) << 8) | (frame[at + 1] & 0xff);
    }
}
