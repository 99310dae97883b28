package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.IcmpErrorsIT.icmp;
import static io.nodelb.agent.xdp.IcmpErrorsIT.icmp6Sum;
import static io.nodelb.agent.xdp.IcmpErrorsIT.putShort;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_DROP;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.dataplane.SnapshotRejectedException;
import io.nodelb.agent.packet.Checksums;
import io.nodelb.dataplane.v1alpha1.IcmpEcho;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * ICMP echo to a VIP as its listeners' icmpEcho says (bpf/README.md, "ICMP echo"), through
 * BPF_PROG_TEST_RUN: Reply turns the request around byte for byte (checksums verified by
 * recomputation), Drop drops and counts, Pass and addresses that are no VIP pass untouched, and
 * so does every request that is not whole and well formed.
 */
@io.nodelb.agent.testing.Privileged
class IcmpEchoIT extends DataPlaneFixture {

    static final int XDP_TX = 3;
    /** VIP4 and VIP6 answer (the standard listeners with Reply); these drop, and these pass. */
    static final String DROP4 = "203.0.113.20";
    static final String DROP6 = "2001:db8:f::20";
    static final String PASS4 = "203.0.113.30";
    static final String PASS6 = "2001:db8:f::30";

    @Override
    NodeSnapshot snapshot() {
        List<Listener> listeners = new ArrayList<>();
        Snapshots.standardListeners().forEach(l -> listeners.add(l.toBuilder().setIcmpEcho(IcmpEcho.ICMP_ECHO_REPLY).build()));
        listeners.add(echo("drop4", DROP4, IcmpEcho.ICMP_ECHO_DROP));
        listeners.add(echo("drop6", DROP6, IcmpEcho.ICMP_ECHO_DROP));
        listeners.add(echo("pass4", PASS4, IcmpEcho.ICMP_ECHO_PASS));
        listeners.add(echo("pass6", PASS6, IcmpEcho.ICMP_ECHO_PASS));
        return Snapshots.snapshot(listeners, List.of(Snapshots.web(3), Snapshots.dns(3)));
    }

    static Listener echo(String name, String vip, IcmpEcho echo) {
        return Snapshots.listener(name, vip, Snapshots.HTTP, Protocol.TCP, NatMode.DNAT, "default/web").toBuilder()
                .setIcmpEcho(echo).build();
    }

    @ParameterizedTest(name = "IPv6 {0}")
    @ValueSource(booleans = {false, true})
    void replyIsTheRequestTurnedAround(boolean ipv6) {
        String vip = ipv6 ? Snapshots.VIP6 : Snapshots.VIP4;
        String client = ipv6 ? Snapshots.CLIENT6 : Snapshots.CLIENT4;
        // an odd length, so the checksum's last word is padded
        byte[] payload = "nodelb echo, 31 bytes of data..".getBytes();
        for (int hops : new int[] {1, 57, 255}) {
            byte[] request = withHops(request(ipv6, client, vip, payload), hops);
            byte[] expected = swapMacs(icmp(ipv6, vip, client, ipv6 ? 129 : 0, 0, 0x4e4c0007, payload));
            long[] stats = dataPlane.stats();
            long[] echoes = dataPlane.dataPlane().echoStats();

            TestRunResult out = dataPlane.xdp(request);

            assertThat(out.retval()).as("XDP_TX").isEqualTo(XDP_TX);
            assertThat(Frames.hex(out.output())).as("reply, hop limit %d", hops).isEqualTo(Frames.hex(expected));
            assertChecksums(out.output());
            assertThat(echoesSince(echoes)).containsExactly(entry(Abi.Echo.REPLIED, 1L));
            assertThat(dataPlane.statsSince(stats)).as("nlb_stats").isEmpty();
        }
    }

    @ParameterizedTest(name = "IPv6 {0}")
    @ValueSource(booleans = {false, true})
    void dropDropsAndCounts(boolean ipv6) {
        byte[] request = request(ipv6, ipv6 ? Snapshots.CLIENT6 : Snapshots.CLIENT4, ipv6 ? DROP6 : DROP4, "x".getBytes());
        long[] stats = dataPlane.stats();
        long[] echoes = dataPlane.dataPlane().echoStats();

        assertThat(dataPlane.xdp(request).retval()).isEqualTo(XDP_DROP);

        assertThat(echoesSince(echoes)).containsExactly(entry(Abi.Echo.DROPPED, 1L));
        assertThat(dataPlane.statsSince(stats)).isEmpty();
    }

    /** Pass, an address of the node that is no VIP, and ICMP that is no echo request: the stack's. */
    @ParameterizedTest(name = "IPv6 {0}")
    @ValueSource(booleans = {false, true})
    void passAndOtherAddressesAreUntouched(boolean ipv6) {
        String client = ipv6 ? Snapshots.CLIENT6 : Snapshots.CLIENT4;
        String vip = ipv6 ? Snapshots.VIP6 : Snapshots.VIP4;
        List<byte[]> frames = List.of(
                request(ipv6, client, ipv6 ? PASS6 : PASS4, "p".getBytes()),
                request(ipv6, client, ipv6 ? Snapshots.NODE6 : Snapshots.NODE4, "p".getBytes()),
                // an echo reply and a timestamp-like type to a Reply VIP
                icmp(ipv6, client, vip, ipv6 ? 129 : 0, 0, 1, "p".getBytes()),
                icmp(ipv6, client, vip, ipv6 ? 130 : 13, 0, 1, new byte[12]));
        for (byte[] frame : frames) {
            assertPassedUntouched(frame);
        }
    }

    /** Requests to a Reply VIP that are not whole and well formed, or come from no unicast source. */
    @ParameterizedTest(name = "IPv6 {0}")
    @ValueSource(booleans = {false, true})
    void hostileRequestsPassUntouched(boolean ipv6) {
        String client = ipv6 ? Snapshots.CLIENT6 : Snapshots.CLIENT4;
        String vip = ipv6 ? Snapshots.VIP6 : Snapshots.VIP4;
        byte[] good = request(ipv6, client, vip, new byte[16]);
        List<byte[]> frames = new ArrayList<>();
        frames.add(icmp(ipv6, client, vip, ipv6 ? 128 : 8, 1, 1, new byte[16])); // code 1
        frames.add(request(ipv6, ipv6 ? "ff02::1" : "224.0.0.1", vip, new byte[16]));
        frames.add(request(ipv6, ipv6 ? "::" : "0.0.0.0", vip, new byte[16]));
        frames.add(Arrays.copyOf(good, good.length - 1)); // IP length beyond the frame
        frames.add(Arrays.copyOf(good, 14 + (ipv6 ? 40 : 20) + 4)); // the ICMP header cut
        byte[] shortLength = good.clone(); // an IP length that ends inside the ICMP header
        if (ipv6) {
            putShort(shortLength, 14 + 4, 4);
        } else {
            putShort(shortLength, 14 + 2, 20 + 4);
            ipv4HeaderChecksum(shortLength);
        }
        frames.add(shortLength);
        if (ipv6) {
            byte[] hopByHop = good.clone(); // next header 0: an extension header first
            hopByHop[14 + 6] = 0;
            frames.add(hopByHop);
        } else {
            for (int fragment : new int[] {0x2000, 0x0001, 0x2001}) { // first, last, middle fragment
                byte[] f = good.clone();
                putShort(f, 14 + 6, fragment);
                ipv4HeaderChecksum(f);
                frames.add(f);
            }
            byte[] options = good.clone(); // IHL 6
            options[14] = 0x46;
            ipv4HeaderChecksum(options);
            frames.add(options);
        }
        for (byte[] frame : frames) {
            assertPassedUntouched(frame);
        }
    }

    /** Listeners that share an address must agree; a snapshot that makes an address Pass again removes its entry. */
    @Test
    void listenersOfOneAddressMustAgreeAndPassRemovesTheEntry() {
        NodeSnapshot clash = snapshot().toBuilder()
                .addListeners(echo("clash", Snapshots.VIP4, IcmpEcho.ICMP_ECHO_DROP).toBuilder().setPort(81).build())
                .build();
        assertThatThrownBy(() -> dataPlane.apply(clash)).isInstanceOf(SnapshotRejectedException.class)
                .hasMessageContaining("ICMP echo to " + Snapshots.VIP4);
        assertThat(dataPlane.xdp(request(false, Snapshots.CLIENT4, Snapshots.VIP4, new byte[4])).retval())
                .as("the rejected snapshot changed nothing").isEqualTo(XDP_TX);

        dataPlane.apply(Snapshots.standard());
        try {
            assertPassedUntouched(request(false, Snapshots.CLIENT4, Snapshots.VIP4, new byte[4]));
            assertPassedUntouched(request(true, Snapshots.CLIENT6, Snapshots.VIP6, new byte[4]));
        } finally {
            dataPlane.apply(snapshot());
        }
    }

    // --- frames and checks -----------------------------------------------------------------------

    static byte[] request(boolean ipv6, String src, String dst, byte[] payload) {
        return icmp(ipv6, src, dst, ipv6 ? 128 : 8, 0, 0x4e4c0007, payload);
    }

    /** The frame with another TTL / hop limit (the IPv4 header checksum recomputed). */
    static byte[] withHops(byte[] frame, int hops) {
        byte[] out = frame.clone();
        boolean ipv6 = (out[14] >> 4) == 6;
        out[14 + (ipv6 ? 7 : 8)] = (byte) hops;
        if (!ipv6) {
            ipv4HeaderChecksum(out);
        }
        return out;
    }

    static void ipv4HeaderChecksum(byte[] frame) {
        int len = (frame[14] & 0x0f) * 4;
        putShort(frame, 14 + 10, 0);
        putShort(frame, 14 + 10, Checksums.internetChecksum(frame, 14, Math.min(len, frame.length - 14)));
    }

    static byte[] swapMacs(byte[] frame) {
        byte[] out = frame.clone();
        System.arraycopy(frame, 0, out, 6, 6);
        System.arraycopy(frame, 6, out, 0, 6);
        return out;
    }

    static void assertChecksums(byte[] frame) {
        boolean ipv6 = (frame[14] >> 4) == 6;
        int at = 14 + (ipv6 ? 40 : 20);
        if (ipv6) {
            assertThat(icmp6Sum(frame, at, frame.length - at)).as("ICMPv6 checksum").isZero();
        } else {
            assertThat(Checksums.internetChecksum(frame, 14, 20)).as("IPv4 header checksum").isZero();
            assertThat(Checksums.internetChecksum(frame, at, frame.length - at)).as("ICMP checksum").isZero();
        }
    }

    void assertPassedUntouched(byte[] frame) {
        long[] echoes = dataPlane.dataPlane().echoStats();
        TestRunResult out = dataPlane.xdp(frame);
        assertThat(out.retval()).as("XDP_PASS for %s", Frames.hex(frame)).isEqualTo(XDP_PASS);
        assertThat(out.output()).as("untouched").isEqualTo(frame);
        assertThat(echoesSince(echoes)).isEmpty();
    }

    Map<Abi.Echo, Long> echoesSince(long[] before) {
        long[] now = dataPlane.dataPlane().echoStats();
        Map<Abi.Echo, Long> moved = new java.util.EnumMap<>(Abi.Echo.class);
        for (Abi.Echo e : Abi.Echo.values()) {
            if (now[e.value()] != before[e.value()]) {
                moved.put(e, now[e.value()] - before[e.value()]);
            }
        }
        return moved;
    }
}
