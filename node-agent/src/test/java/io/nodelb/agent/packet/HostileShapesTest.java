package io.nodelb.agent.packet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import io.nodelb.agent.packet.HostileShapes.PassReason;
import io.nodelb.agent.packet.HostileShapes.Shape;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Each hostile shape is aimed at the listener and broken exactly the way its name says. */
class HostileShapesTest {

    private static final Inet4Address VIP4 = (Inet4Address) InetAddress.ofLiteral("192.0.2.10");
    private static final Inet6Address VIP6 = (Inet6Address) InetAddress.ofLiteral("2001:db8::10");
    private static final int TCP_PORT = 80;
    private static final int UDP_PORT = 53;
    private static final int ETH = 14;

    static Stream<Shape> shapes() {
        return HostileShapes.catalogue(VIP4, VIP6, TCP_PORT, UDP_PORT).stream();
    }

    @Test
    void theCatalogueIsLargeAndNamesAreUnique() {
        List<Shape> shapes = shapes().toList();

        assertThat(shapes).hasSizeGreaterThanOrEqualTo(25).hasSize(63);
        Set<String> names = new HashSet<>();
        for (Shape shape : shapes) {
            assertThat(names.add(shape.name())).as("duplicate %s", shape.name()).isTrue();
        }
        assertThat(shapes.stream().filter(Shape::fitsTestRun)).hasSize(58);
        assertThat(shapes.stream().flatMap(s -> s.reasons().stream()).distinct()).containsExactlyInAnyOrder(
                PassReason.values());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void theTwinIsAValidPacketToTheListener(Shape shape) {
        Packet twin = Packet.parse(shape.wellFormedTwin());

        assertThat(shape.frame()).isNotEqualTo(shape.wellFormedTwin());
        assertThat(shape.reasons()).isNotEmpty();
        assertThat(shape.fitsTestRun()).isEqualTo(shape.frame().length >= ETH);
        assertThat(twin.ipVersion()).isEqualTo(shape.family());
        assertThat(twin.dst()).isEqualTo(shape.family() == 4 ? VIP4 : VIP6);
        assertThat(twin.protocol()).isEqualTo(shape.protocol());
        assertThat(twin.dstPort()).isEqualTo(shape.protocol() == PacketBuilder.IPPROTO_TCP ? TCP_PORT : UDP_PORT);
        assertThat(twin.vlanTags()).isEmpty();
        assertThat(twin.isFragment()).isFalse();
        assertThat(Checksums.verify(shape.wellFormedTwin()).valid()).isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void isBrokenTheWayItsNameSays(Shape shape) {
        byte[] f = shape.frame();
        switch (shape.name()) {
            case "runt-0", "runt-1", "runt-6", "runt-12", "runt-13" -> {
                assertThat(f.length).isEqualTo(Integer.parseInt(shape.name().substring(5))).isLessThan(ETH);
                rejected(f, "Ethernet header needs 14 bytes");
            }
            case "ipv4-ethernet-header-only" -> {
                assertThat(f).hasSize(ETH);
                assertThat(u16(f, 12)).isEqualTo(0x0800);
                rejected(f, "IPv4 header needs 20 bytes");
            }
            case "ipv4-partial-header" -> {
                assertThat(f).hasSize(ETH + 10);
                rejected(f, "IPv4 header needs 20 bytes");
            }
            case "ipv4-truncated-after-ip-header" -> {
                assertThat(f).hasSize(ETH + 20);
                assertThat(u16(f, ETH + 2)).isEqualTo(40);
                rejected(f, "total length 40");
            }
            case "ipv4-tcp-partial-header" -> {
                assertThat(f).hasSize(ETH + 30);
                rejected(f, "total length 40");
            }
            case "ipv4-tcp-missing" -> {
                assertThat(u16(f, ETH + 2)).isEqualTo(20);
                assertThat(f[ETH + 9]).isEqualTo((byte) 6);
                assertThat(f).hasSize(ETH + 20);
                rejected(f, "TCP header needs 20 bytes, the IP payload has 0");
            }
            case "ipv4-tcp-header-short" -> {
                assertThat(u16(f, ETH + 2)).isEqualTo(30);
                assertThat(f).hasSize(ETH + 30);
                rejected(f, "the IP payload has 10");
            }
            case "ipv4-ihl-0" -> {
                assertThat(f[ETH]).isEqualTo((byte) 0x40);
                rejected(f, "IPv4 header length 0 is below 20");
            }
            case "ipv4-ihl-4" -> {
                assertThat(f[ETH]).isEqualTo((byte) 0x44);
                rejected(f, "IPv4 header length 16 is below 20");
            }
            case "ipv4-options-nop" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.ipHeaderLength()).isEqualTo(24);
                assertThat(p.ipOptions()).containsExactly(1, 1, 1, 0);
                assertThat(Checksums.verify(f).valid()).isTrue();
            }
            case "ipv4-options-max" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.ipHeaderLength()).isEqualTo(60);
                assertThat(p.ipOptions()).hasSize(40).startsWith(7, 39, 4);
                assertThat(Checksums.verify(f).valid()).isTrue();
            }
            case "ipv4-ihl-beyond-total-length" -> {
                assertThat(f[ETH] & 0x0f).isEqualTo(15);
                assertThat(u16(f, ETH + 2)).isEqualTo(40);
                rejected(f, "total length 40 is below the header length 60");
            }
            case "ipv4-total-length-beyond-frame" -> {
                assertThat(u16(f, ETH + 2)).isEqualTo(140);
                assertThat(f.length - ETH).isEqualTo(40);
                rejected(f, "total length 140");
            }
            case "ipv4-total-length-below-header" -> {
                assertThat(u16(f, ETH + 2)).isEqualTo(19);
                rejected(f, "total length 19 is below the header length 20");
            }
            case "ipv4-total-length-zero" -> {
                assertThat(u16(f, ETH + 2)).isZero();
                rejected(f, "total length 0");
            }
            case "ipv4-tcp-first-fragment" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.isFragment()).isTrue();
                assertThat(p.moreFragments()).isTrue();
                assertThat(p.fragmentOffset()).isZero();
            }
            case "ipv4-middle-fragment", "ipv4-last-fragment" -> {
                Packet p = Packet.parse(f);
                assertThat(p.dst()).isEqualTo(VIP4);
                assertThat(p.isTcp()).isTrue();
                assertThat(p.moreFragments()).isEqualTo(shape.name().contains("middle"));
                assertThat(p.fragmentOffset()).isEqualTo(1480);
                hidesTheListenerPort(p, TCP_PORT);
            }
            case "ipv4-version-5" -> {
                assertThat(f[ETH] & 0xff).isEqualTo(0x55);
                rejected(f, "IPv4 ethertype but IP version 5");
            }
            case "ipv4-icmp-echo" -> {
                Packet p = Packet.parse(f);
                assertThat(p.dst()).isEqualTo(VIP4);
                assertThat(p.protocol()).isEqualTo(1);
            }
            case "ipv4-sctp-to-listener-port" -> {
                Packet p = Packet.parse(f);
                assertThat(p.dst()).isEqualTo(VIP4);
                assertThat(p.protocol()).isEqualTo(132);
                assertThat(u16(p.payload(), 2)).isEqualTo(TCP_PORT);
            }
            case "ipv4-tcp-data-offset-0" -> {
                assertThat(f[ETH + 20 + 12] & 0xff).isEqualTo(0x00);
                rejected(f, "TCP data offset 0 is below 5");
            }
            case "ipv4-tcp-data-offset-4" -> {
                assertThat(f[ETH + 20 + 12] & 0xff).isEqualTo(0x40);
                rejected(f, "TCP data offset 4 is below 5");
            }
            case "ipv4-tcp-data-offset-beyond-packet" -> {
                assertThat(f[ETH + 20 + 12] & 0xff).isEqualTo(0xf0);
                assertThat(f).hasSize(ETH + 40);
                rejected(f, "TCP data offset 15 (60 bytes) runs past the 20 bytes");
            }
            case "ipv4-tcp-data-offset-into-padding" -> {
                assertThat(f[ETH + 20 + 12] & 0xff).isEqualTo(0x80);
                assertThat(u16(f, ETH + 2)).isEqualTo(40);
                assertThat(f.length).isGreaterThanOrEqualTo(ETH + 20 + 32); // the bytes are there...
                rejected(f, "TCP data offset 8 (32 bytes) runs past the 20 bytes"); // ...but not in the datagram
            }
            case "ipv4-udp-partial-header" -> {
                assertThat(f).hasSize(ETH + 24);
                rejected(f, "total length");
            }
            case "ipv4-udp-length-0", "ipv4-udp-length-7" -> {
                int length = shape.name().endsWith("0") ? 0 : 7;
                assertThat(u16(f, ETH + 20 + 4)).isEqualTo(length);
                rejected(f, "UDP length " + length + " is below 8");
            }
            case "ipv4-udp-length-beyond-ip-payload" -> {
                assertThat(u16(f, ETH + 20 + 4)).isEqualTo(64);
                rejected(f, "UDP length 64 exceeds the 14 bytes of IP payload");
            }
            case "ipv4-udp-first-fragment" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.isFragment()).isTrue();
                assertThat(p.udpLength()).isEqualTo(1400).isGreaterThan(p.l4Length());
            }
            case "ipv6-ethernet-header-only" -> {
                assertThat(f).hasSize(ETH);
                assertThat(u16(f, 12)).isEqualTo(0x86dd);
                rejected(f, "IPv6 header needs 40 bytes");
            }
            case "ipv6-partial-header" -> {
                assertThat(f).hasSize(ETH + 20);
                rejected(f, "IPv6 header needs 40 bytes");
            }
            case "ipv6-truncated-after-ip-header" -> {
                assertThat(f).hasSize(ETH + 40);
                assertThat(u16(f, ETH + 4)).isEqualTo(20);
                rejected(f, "payload length 20");
            }
            case "ipv6-tcp-partial-header" -> {
                assertThat(f).hasSize(ETH + 50);
                rejected(f, "payload length 20");
            }
            case "ipv6-tcp-missing" -> {
                assertThat(u16(f, ETH + 4)).isZero();
                assertThat(f[ETH + 6]).isEqualTo((byte) 6);
                rejected(f, "TCP header needs 20 bytes, the IP payload has 0");
            }
            case "ipv6-payload-length-beyond-frame" -> {
                assertThat(u16(f, ETH + 4)).isEqualTo(120);
                assertThat(f.length - ETH - 40).isEqualTo(20);
                rejected(f, "payload length 120");
            }
            case "ipv6-payload-length-below-tcp-header" -> {
                assertThat(u16(f, ETH + 4)).isEqualTo(8);
                rejected(f, "TCP header needs 20 bytes, the IP payload has 8");
            }
            case "ipv6-hop-by-hop-before-tcp" -> extensionHeadersThenListener(f, 0);
            case "ipv6-routing-before-tcp" -> extensionHeadersThenListener(f, 43);
            case "ipv6-destination-options-before-tcp" -> extensionHeadersThenListener(f, 60);
            case "ipv6-tcp-first-fragment" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.extensionHeaders()).extracting(Packet.ExtensionHeader::type).containsExactly(44);
                assertThat(p.isFragment()).isTrue();
                assertThat(p.moreFragments()).isTrue();
                assertThat(p.fragmentOffset()).isZero();
            }
            case "ipv6-atomic-fragment" -> {
                extensionHeadersThenListener(f, 44);
                assertThat(Packet.parse(f).isFragment()).isFalse();
            }
            case "ipv6-later-fragment" -> {
                Packet p = Packet.parse(f);
                assertThat(p.dst()).isEqualTo(VIP6);
                assertThat(p.extensionHeaders()).extracting(Packet.ExtensionHeader::type).containsExactly(44);
                assertThat(p.fragmentOffset()).isEqualTo(1448);
                assertThat(p.isTcp()).isTrue();
                hidesTheListenerPort(p, TCP_PORT);
            }
            case "ipv6-extension-header-beyond-frame" -> {
                assertThat(f[ETH + 6]).isZero();
                assertThat(f[ETH + 40 + 1] & 0xff).isEqualTo(255);
                rejected(f, "IPv6 extension header 0 of 2048 bytes runs past the payload");
            }
            case "ipv6-no-next-header" -> {
                Packet p = Packet.parse(f);
                assertThat(p.dst()).isEqualTo(VIP6);
                assertThat(p.protocol()).isEqualTo(59);
                assertThat(u16(p.payload(), 2)).isEqualTo(TCP_PORT);
            }
            case "ipv6-version-4" -> {
                assertThat((f[ETH] & 0xff) >>> 4).isEqualTo(4);
                rejected(f, "IPv6 ethertype but IP version 4");
            }
            case "ipv6-tcp-data-offset-3" -> {
                assertThat(f[ETH + 40 + 12] & 0xff).isEqualTo(0x30);
                rejected(f, "TCP data offset 3 is below 5");
            }
            case "ipv6-icmpv6-echo" -> {
                Packet p = Packet.parse(f);
                assertThat(p.dst()).isEqualTo(VIP6);
                assertThat(p.protocol()).isEqualTo(58);
            }
            case "ipv6-udp-zero-checksum" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.l4Checksum()).isZero();
                assertThat(Checksums.verify(f).transport()).isEqualTo(Checksums.Status.ZERO_FORBIDDEN);
            }
            case "ipv6-udp-length-0" -> {
                assertThat(u16(f, ETH + 40 + 4)).isZero();
                rejected(f, "UDP length 0 is below 8");
            }
            case "ipv6-udp-length-beyond-payload" -> {
                assertThat(u16(f, ETH + 40 + 4)).isEqualTo(64);
                rejected(f, "UDP length 64 exceeds the 14 bytes of IP payload");
            }
            case "ipv6-extension-header-chain-before-udp" -> extensionHeadersThenListener(f, 0, 60, 43, 44, 60);
            case "vlan-8021q-ipv4-tcp", "vlan-8021q-ipv6-udp" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.vlanTags()).containsExactly(new Packet.VlanTag(0x8100, 0, 100));
                assertThat(withoutTags(f, 1)).isEqualTo(shape.wellFormedTwin());
            }
            case "vlan-qinq-ipv4-tcp" -> {
                Packet p = aimedAtListener(f);
                assertThat(p.vlanTags()).containsExactly(
                        new Packet.VlanTag(0x88a8, 0, 200), new Packet.VlanTag(0x8100, 0, 100));
                assertThat(withoutTags(f, 2)).isEqualTo(shape.wellFormedTwin());
            }
            case "ipv6-packet-behind-ipv4-ethertype" -> {
                assertThat(u16(f, 12)).isEqualTo(0x0800);
                assertThat(Arrays.copyOfRange(f, ETH, f.length))
                        .isEqualTo(Arrays.copyOfRange(shape.wellFormedTwin(), ETH, f.length));
                rejected(f, "IPv4 ethertype but IP version 6");
            }
            case "ipv4-packet-behind-ipv6-ethertype" -> {
                assertThat(u16(f, 12)).isEqualTo(0x86dd);
                rejected(f, "IPv6 ethertype but IP version 4");
            }
            case "ieee8023-length-field" -> {
                assertThat(u16(f, 12)).isEqualTo(40).isLessThan(0x600);
                Packet p = Packet.parse(f);
                assertThat(p.ipVersion()).isEqualTo(-1);
                assertThat(p.payload()).isEqualTo(Arrays.copyOfRange(shape.wellFormedTwin(), ETH, f.length));
            }
            case "arp-request-for-vip" -> {
                Packet p = Packet.parse(f);
                assertThat(p.etherType()).isEqualTo(0x0806);
                assertThat(p.arpTargetIp()).isEqualTo(VIP4);
            }
            default -> fail("no check written for shape " + shape.name());
        }
    }

    @Test
    void everyTruncationOfAValidFrameIsRejected() {
        byte[] syn = shapes().filter(s -> s.name().equals("ipv4-tcp-missing")).findFirst().orElseThrow()
                .wellFormedTwin();

        List<Shape> truncations = HostileShapes.everyTruncation("syn4", syn, 4, PacketBuilder.IPPROTO_TCP);

        assertThat(truncations).hasSize(syn.length);
        for (Shape truncation : truncations) {
            assertThat(truncation.frame()).hasSizeLessThan(syn.length);
            assertThatThrownBy(() -> Packet.parse(truncation.frame()))
                    .as(truncation.name())
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(truncations.get(20).name()).isEqualTo("syn4-truncated-at-20");
    }

    /** The kit itself survives everything: parse fails only with a message, verify never throws. */
    @Test
    void parserAndVerifierSurviveEveryShapeTruncationAndRandomDamage() {
        Random random = new Random(2024);
        for (Shape shape : shapes().toList()) {
            byte[] frame = shape.frame();
            for (Shape cut : HostileShapes.everyTruncation(shape.name(), frame, shape.family(), shape.protocol())) {
                survives(cut.frame());
            }
            survives(frame);
            for (int round = 0; round < 40; round++) {
                byte[] damaged = shape.wellFormedTwin();
                for (int flips = 1 + random.nextInt(3); flips > 0; flips--) {
                    damaged[random.nextInt(damaged.length)] = (byte) random.nextInt(256);
                }
                survives(damaged);
            }
        }
    }

    private static void survives(byte[] frame) {
        try {
            Packet.parse(frame).toString();
        } catch (IllegalArgumentException expected) {
            assertThat(expected).hasMessageStartingWith("malformed frame: ");
        }
        assertThat(Checksums.verify(frame)).isNotNull();
    }

    /** Parses, and the packet is for the listener: a parser without the right check would take it. */
    private static Packet aimedAtListener(byte[] frame) {
        Packet p = Packet.parse(frame);
        assertThat(p.dst()).isIn(VIP4, VIP6);
        assertThat(p.dstPort()).isEqualTo(p.isTcp() ? TCP_PORT : UDP_PORT);
        assertThat(p.srcPort()).isEqualTo(HostileShapes.CLIENT_PORT);
        return p;
    }

    private static void extensionHeadersThenListener(byte[] frame, Integer... types) {
        Packet p = aimedAtListener(frame);
        assertThat(p.extensionHeaders()).extracting(Packet.ExtensionHeader::type).containsExactly(types);
        assertThat(Checksums.verify(frame).valid()).isTrue();
    }

    /** A later fragment whose data starts like a TCP header to the listener. */
    private static void hidesTheListenerPort(Packet p, int port) {
        assertThat(p.srcPort()).isEqualTo(-1);
        assertThat(u16(p.payload(), 0)).isEqualTo(HostileShapes.CLIENT_PORT);
        assertThat(u16(p.payload(), 2)).isEqualTo(port);
    }

    private static void rejected(byte[] frame, String why) {
        assertThatThrownBy(() -> Packet.parse(frame))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(why);
    }

    private static byte[] withoutTags(byte[] frame, int tags) {
        byte[] untagged = new byte[frame.length - 4 * tags];
        System.arraycopy(frame, 0, untagged, 0, 12);
        System.arraycopy(frame, 12 + 4 * tags, untagged, 12, untagged.length - 12);
        return untagged;
    }

    private static int u16(byte[] data, int at) {
        return ((data[at] & 0xff) << 8) | (data[at + 1] & 0xff);
    }
}
