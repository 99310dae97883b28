package io.nodelb.agent.packet;

import static io.nodelb.agent.packet.Checksums.Status.CORRECT;
import static io.nodelb.agent.packet.Checksums.Status.INCORRECT;
import static io.nodelb.agent.packet.Checksums.Status.NOT_APPLICABLE;
import static io.nodelb.agent.packet.Checksums.Status.UNVERIFIABLE;
import static io.nodelb.agent.packet.Checksums.Status.ZERO_ALLOWED;
import static io.nodelb.agent.packet.Checksums.Status.ZERO_FORBIDDEN;
import static io.nodelb.agent.packet.KernelFrames.hex;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ChecksumsTest {

    @Test
    void rfc1071NumericalExample() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
        assertThat(Checksums.internetChecksum(hex("0001f203f4f5f6f7"))).isEqualTo(0xffff - 0xddf2);
    }

    @Test
    void textbookIpv4Header() {
        // The worked example of the IPv4 header checksum (192.168.0.1 -> 192.168.0.199, UDP): b861.
        byte[] header = hex("450000730000400040110000c0a80001c0a800c7");

        assertThat(Checksums.internetChecksum(header)).isEqualTo(0xb861);
        header[10] = (byte) 0xb8;
        header[11] = 0x61;
        assertThat(Checksums.internetChecksum(header)).isZero();
    }

    @Test
    void padsAnOddLastByteWithZero() {
        assertThat(Checksums.internetChecksum(new byte[] {0x01})).isEqualTo(0xfeff);
        assertThat(Checksums.internetChecksum(new byte[] {0x12, 0x34, 0x56})).isEqualTo(~(0x1234 + 0x5600) & 0xffff);
        assertThat(Checksums.internetChecksum(new byte[0])).isEqualTo(0xffff);
    }

    /** RFC 1071 section 2(B): the sum is byte-order independent. Sum little-endian words, swap at the end. */
    @Test
    void agreesWithASwappedByteOrderSumOnRandomData() {
        Random random = new Random(1071);
        for (int round = 0; round < 2000; round++) {
            byte[] data = new byte[random.nextInt(1600)];
            random.nextBytes(data);

            long sum = 0;
            for (int i = 0; i < data.length; i += 2) {
                int low = data[i] & 0xff;
                int high = i + 1 < data.length ? data[i + 1] & 0xff : 0;
                sum += (high << 8) | low;
                sum = (sum & 0xffff) + (sum >>> 16); // end-around carry at every step
            }
            int swapped = (int) (((sum & 0xff) << 8) | (sum >>> 8));

            assertThat(Checksums.internetChecksum(data)).as("round %d", round).isEqualTo(~swapped & 0xffff);
        }
    }

    @Test
    void framesFromTheLinuxStackVerify() {
        for (byte[] frame : new byte[][] {KernelFrames.UDP4, KernelFrames.TCP4_SYN, KernelFrames.TCP4_RST}) {
            Checksums.Result result = Checksums.verify(frame);

            assertThat(result.ipv4Header()).as("%s", result).isEqualTo(CORRECT);
            assertThat(result.transport()).as("%s", result).isEqualTo(CORRECT);
            assertThat(result.ipv4HeaderComputed()).isEqualTo(result.ipv4HeaderField());
            assertThat(result.transportComputed()).isEqualTo(result.transportField());
            assertThat(result.valid()).isTrue();
        }
        for (byte[] frame : new byte[][] {KernelFrames.UDP6, KernelFrames.TCP6_SYN}) {
            Checksums.Result result = Checksums.verify(frame);

            assertThat(result.ipv4Header()).isEqualTo(NOT_APPLICABLE);
            assertThat(result.transport()).as("%s", result).isEqualTo(CORRECT);
            assertThat(result.transportComputed()).isEqualTo(result.transportField());
        }
        assertThat(Checksums.verify(KernelFrames.TCP4_SYN).transportField()).isEqualTo(0x0697);
        assertThat(Checksums.verify(KernelFrames.UDP6).transportField()).isEqualTo(0xaf61);
    }

    @Test
    void everyFlippedBitInATransportSegmentIsCaught() {
        byte[] frame = KernelFrames.TCP4_SYN;
        for (int at = 34; at < frame.length; at++) {
            for (int bit = 0; bit < 8; bit++) {
                byte[] broken = frame.clone();
                broken[at] ^= (byte) (1 << bit);

                Checksums.Result result = Checksums.verify(broken);

                assertThat(result.ipv4Header()).isEqualTo(CORRECT);
                if (at == 34 + 12 && bit >= 4) {
                    continue; // the data offset: still a valid TCP header, checksum still covers it
                }
                assertThat(result.transport()).as("byte %d bit %d", at, bit).isEqualTo(INCORRECT);
                boolean inChecksumField = at == 34 + 16 || at == 34 + 17;
                if (inChecksumField) {
                    assertThat(result.transportComputed()).isEqualTo(0x0697);
                } else {
                    assertThat(result.transportComputed()).isNotEqualTo(result.transportField());
                }
            }
        }
    }

    @Test
    void addressesAreCoveredByBothChecksums() {
        byte[] broken = KernelFrames.UDP4.clone();
        broken[14 + 12] ^= 1; // source address

        Checksums.Result result = Checksums.verify(broken);

        assertThat(result.ipv4Header()).isEqualTo(INCORRECT);
        assertThat(result.transport()).isEqualTo(INCORRECT);
        assertThat(result.valid()).isFalse();

        byte[] broken6 = KernelFrames.TCP6_SYN.clone();
        broken6[14 + 24 + 15] ^= 1; // last byte of the destination: only the pseudo-header covers it
        assertThat(Checksums.verify(broken6).transport()).isEqualTo(INCORRECT);
    }

    @Test
    void udpChecksumZeroIsAllowedOverIpv4AndForbiddenOverIpv6() {
        byte[] v4 = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").udp(1, 2).payload("x").zeroUdpChecksum().build();
        byte[] v6 = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).payload("x").zeroUdpChecksum().build();

        Checksums.Result result4 = Checksums.verify(v4);
        Checksums.Result result6 = Checksums.verify(v6);

        assertThat(result4.transport()).isEqualTo(ZERO_ALLOWED);
        assertThat(result4.ipv4Header()).isEqualTo(CORRECT);
        assertThat(result4.valid()).isTrue();
        assertThat(result6.transport()).isEqualTo(ZERO_FORBIDDEN);
        assertThat(result6.valid()).isFalse();
        assertThat(result6.transportComputed()).isNotZero();
    }

    @Test
    void aUdpChecksumThatComputesToZeroIsSentAsAllOnes() {
        PacketBuilder base = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").udp(1000, 2000);
        byte[] probe = base.payload(new byte[] {'a', 'b', 0, 0}).build();
        int checksum = Packet.parse(probe).l4Checksum();
        // Put the checksum itself in the last payload word: the ones' complement sum becomes ffff.
        byte[] payload = {'a', 'b', (byte) (checksum >>> 8), (byte) checksum};

        byte[] frame = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").udp(1000, 2000).payload(payload).build();

        assertThat(Packet.parse(frame).l4Checksum()).isEqualTo(0xffff);
        assertThat(Checksums.verify(frame).transport()).isEqualTo(CORRECT);
        assertThat(Checksums.verify(frame).transportComputed()).isEqualTo(0xffff);
    }

    @Test
    void checksumsThroughIpv6ExtensionHeadersAndVlanTags() {
        byte[] frame = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2")
                .qinq(10, 20).hopByHop().routing().destinationOptions()
                .tcp(1, 2).flags(PacketBuilder.ACK).payload("through the chain").build();

        assertThat(Checksums.verify(frame).transport()).isEqualTo(CORRECT);

        byte[] broken = frame.clone();
        broken[broken.length - 1] ^= 0x20;
        assertThat(Checksums.verify(broken).transport()).isEqualTo(INCORRECT);
    }

    @Test
    void fragmentsHaveNoTransportChecksumToCheck() {
        byte[] v4 = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").fragment(0, true).udp(1, 2).payload("x").build();
        byte[] v6 = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2").fragmentHeader(10, false, 1)
                .udp(1, 2).payload("x").build();
        byte[] atomic = PacketBuilder.ipv6("2001:db8::1", "2001:db8::2").fragmentHeader(0, false, 1)
                .udp(1, 2).payload("x").build();

        assertThat(Checksums.verify(v4).ipv4Header()).isEqualTo(CORRECT);
        assertThat(Checksums.verify(v4).transport()).isEqualTo(NOT_APPLICABLE);
        assertThat(Checksums.verify(v6).transport()).isEqualTo(NOT_APPLICABLE);
        assertThat(Checksums.verify(atomic).transport()).isEqualTo(CORRECT);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 13, 20, 33, 40, 53})
    void truncatedFramesAreUnverifiable(int length) {
        Checksums.Result result = Checksums.verify(Arrays.copyOf(KernelFrames.TCP4_SYN, length));

        assertThat(result.transport()).isEqualTo(UNVERIFIABLE);
        assertThat(result.valid()).isFalse();
        assertThat(result.note()).isNotEmpty();
    }

    @Test
    void nonIpAndOtherProtocolsAreNotApplicable() {
        byte[] arp = PacketBuilder.arpRequest("02:00:00:00:00:01", "192.0.2.1", "192.0.2.2").build();
        byte[] icmp = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").icmpEchoRequest(1, 1).build();

        assertThat(Checksums.verify(arp).transport()).isEqualTo(NOT_APPLICABLE);
        assertThat(Checksums.verify(arp).ipv4Header()).isEqualTo(NOT_APPLICABLE);
        assertThat(Checksums.verify(icmp).ipv4Header()).isEqualTo(CORRECT);
        assertThat(Checksums.verify(icmp).transport()).isEqualTo(NOT_APPLICABLE);
        // The ICMP checksum covers the message alone: it sums to zero.
        assertThat(Checksums.internetChecksum(icmp, 34, icmp.length - 34)).isZero();
    }

    @Test
    void aBrokenIpv4HeaderChecksumIsReported() {
        byte[] frame = PacketBuilder.ipv4("192.0.2.1", "192.0.2.2").ipChecksum(0x1234).tcp(1, 2).build();

        Checksums.Result result = Checksums.verify(frame);

        assertThat(result.ipv4Header()).isEqualTo(INCORRECT);
        assertThat(result.ipv4HeaderField()).isEqualTo(0x1234);
        assertThat(result.transport()).isEqualTo(CORRECT);
    }
}
