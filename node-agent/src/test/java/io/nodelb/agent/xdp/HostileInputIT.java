package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_DROP;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfException;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.bpf.Errno;
import io.nodelb.agent.dataplane.DataPlane.BackendCounters;
import io.nodelb.agent.packet.HostileShapes;
import io.nodelb.agent.packet.HostileShapes.Shape;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Malformed and hostile frames (the packet kit's catalogue and every truncation of a valid
 * frame) through both programs: passed untouched (XDP may also drop), counted under the
 * shape's reason, nothing recorded. Each shape has a well-formed twin aimed at the same live
 * listener or flow, and the twin is translated: the data plane was listening.
 */
@Privileged
class HostileInputIT extends DataPlaneFixture {

    /**
     * For the TC program the shapes must look like replies of a live DNAT flow: a "mirror"
     * listener whose backend is the catalogue's client (port 40000), opened by clients at
     * MIRROR4/MIRROR6 from these ports, so the catalogue aimed at MIRROR:port are replies.
     */
    private static final String MIRROR4 = "192.0.2.99";
    private static final String MIRROR6 = "2001:db8:99::99";
    private static final int MIRROR_TCP_CLIENT_PORT = 31000;
    private static final int MIRROR_UDP_CLIENT_PORT = 31053;
    private static final int MIRROR_TCP = 7000;
    private static final int MIRROR_UDP = 7053;

    @Override
    NodeSnapshot snapshot() {
        List<Listener> listeners = new ArrayList<>(Snapshots.standardListeners());
        for (String vip : List.of(Snapshots.VIP4, Snapshots.VIP6)) {
            listeners.add(Snapshots.listener("mirror@" + vip, vip, MIRROR_TCP, Protocol.TCP, NatMode.DNAT,
                    "default/mirror"));
            listeners.add(Snapshots.listener("mirrorudp@" + vip, vip, MIRROR_UDP, Protocol.UDP, NatMode.DNAT,
                    "default/mirror"));
        }
        TargetGroup mirror = Snapshots.group("default/mirror", List.of(
                Snapshots.backend(HostileShapes.CLIENT_IPV4, HostileShapes.CLIENT_PORT),
                Snapshots.backend(HostileShapes.CLIENT_IPV6, HostileShapes.CLIENT_PORT)));
        return Snapshots.snapshot(listeners, List.of(Snapshots.web(3), Snapshots.dns(3), mirror));
    }

    /** The catalogue aimed at the standard listeners (TCP 80, UDP 53 on VIP4 and VIP6). */
    static List<Shape> shapesAtListeners() {
        return HostileShapes.catalogue((Inet4Address) Snapshots.ip(Snapshots.VIP4),
                (Inet6Address) Snapshots.ip(Snapshots.VIP6), Snapshots.HTTP, Snapshots.DNS)
                .stream().filter(Shape::fitsTestRun).toList();
    }

    /** The catalogue aimed at the mirror clients: replies of the mirror flows. */
    static List<Shape> shapesAsReplies() {
        return HostileShapes.catalogue((Inet4Address) Snapshots.ip(MIRROR4), (Inet6Address) Snapshots.ip(MIRROR6),
                MIRROR_TCP_CLIENT_PORT, MIRROR_UDP_CLIENT_PORT).stream().filter(Shape::fitsTestRun).toList();
    }

    @Test
    void atLeast58ShapesFitATestRun() {
        assertThat(shapesAtListeners()).hasSizeGreaterThanOrEqualTo(58);
        assertThat(shapesAsReplies()).hasSameSizeAs(shapesAtListeners());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapesAtListeners")
    void xdpPassesTheShapeUntouchedAndRecordsNothing(Shape shape) {
        byte[] frame = shape.frame();
        long[] before = dataPlane.stats();
        List<BackendCounters> counters = allBackendCounters();

        TestRunResult result = dataPlane.xdp(frame);

        assertThat(result.retval()).isIn(XDP_PASS, XDP_DROP);
        if (result.retval() == XDP_PASS) {
            assertThat(Frames.hex(result.output())).isEqualTo(Frames.hex(frame));
        }
        Map<Abi.Stat, Long> moved = dataPlane.statsSince(before);
        assertThat(moved).as("counted once, under one of %s", shape.reasons()).hasSize(1);
        assertThat(moved.values()).containsExactly(1L);
        assertThat(moved.keySet().iterator().next()).isIn(stats(shape.reasons()));
        assertThat(dataPlane.conntrack()).isEmpty();
        assertThat(allBackendCounters()).isEqualTo(counters);

        // The control: the twin, to the same listener, is a new flow and is rewritten.
        before = dataPlane.stats();
        TestRunResult twin = dataPlane.xdp(shape.wellFormedTwin());
        assertThat(twin.retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        assertThat(Packet.parse(twin.output()).dstPort()).isIn(Snapshots.WEB_PORT, Snapshots.DNS_PORT);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapesAsReplies")
    void tcPassesTheShapeUntouchedAndTouchesNoFlow(Shape shape) {
        openMirrorFlow(shape.family(), shape.protocol());
        Map<Abi.CtKey, Abi.CtEntry> flows = dataPlane.conntrack();
        byte[] frame = shape.frame();
        long[] before = dataPlane.stats();

        if (tcTestRunTakes(frame)) {
            TestRunResult result = dataPlane.tc(frame);
            assertThat(result.retval()).isEqualTo(TC_ACT_OK);
            assertThat(Frames.hex(result.output())).isEqualTo(Frames.hex(frame));
        } else {
            assertRefusedByTcTestRun(frame);
        }
        assertThat(dataPlane.statsSince(before)).isEmpty();
        assertThat(dataPlane.conntrack()).as("no entry created or touched").isEqualTo(flows);

        // The control: the twin is a reply of the open flow and gets the VIP back.
        TestRunResult twin = dataPlane.tc(shape.wellFormedTwin());
        assertThat(twin.retval()).isEqualTo(TC_ACT_OK);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.CT_REPLY, 1L));
        Packet translated = Packet.parse(twin.output());
        assertThat(translated.src()).isEqualTo(Snapshots.ip(shape.family() == 4 ? Snapshots.VIP4 : Snapshots.VIP6));
        assertThat(translated.srcPort()).isIn(MIRROR_TCP, MIRROR_UDP);
    }

    static Stream<Arguments> validFirstPackets() {
        return Stream.of(
                Arguments.of("IPv4 TCP SYN", Flow.tcp(Snapshots.CLIENT4, 40000, Snapshots.VIP4, Snapshots.HTTP)),
                Arguments.of("IPv6 TCP SYN", Flow.tcp(Snapshots.CLIENT6, 40000, Snapshots.VIP6, Snapshots.HTTP)),
                Arguments.of("IPv4 UDP", Flow.udp(Snapshots.CLIENT4, 40000, Snapshots.VIP4, Snapshots.DNS)),
                Arguments.of("IPv6 UDP", Flow.udp(Snapshots.CLIENT6, 40000, Snapshots.VIP6, Snapshots.DNS)),
                Arguments.of("IPv4 TCP SYN, FullNAT",
                        Flow.tcp(Snapshots.CLIENT4, 40000, Snapshots.VIP4, Snapshots.HTTP_FULLNAT)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("validFirstPackets")
    void noTruncationOfAValidFirstPacketIsRewritten(String name, Flow flow) {
        byte[] valid = flow.first();
        List<Shape> truncations = HostileShapes.everyTruncation(name, valid, flow.isIpv4() ? 4 : 6, flow.proto())
                .stream().filter(Shape::fitsTestRun).toList();
        assertThat(truncations).hasSize(valid.length - 14);
        long[] before = dataPlane.stats();

        for (Shape truncated : truncations) {
            TestRunResult xdp = dataPlane.xdp(truncated.frame());
            assertThat(xdp.retval()).as(truncated.name()).isEqualTo(XDP_PASS);
            assertThat(Frames.hex(xdp.output())).as(truncated.name()).isEqualTo(Frames.hex(truncated.frame()));
            if (!tcTestRunTakes(truncated.frame())) {
                assertRefusedByTcTestRun(truncated.frame());
                continue;
            }
            TestRunResult tc = dataPlane.tc(truncated.frame());
            assertThat(tc.retval()).as(truncated.name()).isEqualTo(TC_ACT_OK);
            assertThat(Frames.hex(tc.output())).as(truncated.name()).isEqualTo(Frames.hex(truncated.frame()));
        }

        assertThat(dataPlane.statsSince(before))
                .containsExactly(entry(Abi.Stat.PASS_MALFORMED, (long) truncations.size()));
        assertThat(dataPlane.conntrack()).isEmpty();
        assertThat(dataPlane.xdp(valid).output()).as("the whole frame is ours").isNotEqualTo(valid);
    }

    /** Opens the mirror flow whose reply the catalogue's frames of this family and protocol imitate. */
    private void openMirrorFlow(int family, int proto) {
        boolean tcp = proto == Abi.IPPROTO_TCP;
        Flow flow = new Flow(family == 4 ? MIRROR4 : MIRROR6, tcp ? MIRROR_TCP_CLIENT_PORT : MIRROR_UDP_CLIENT_PORT,
                family == 4 ? Snapshots.VIP4 : Snapshots.VIP6, tcp ? MIRROR_TCP : MIRROR_UDP, proto);
        TestRunResult first = dataPlane.xdp(flow.first());
        assertThat(first.retval()).isEqualTo(XDP_PASS);
        Packet translated = Packet.parse(first.output());
        assertThat(translated.dst()).isEqualTo(Snapshots.ip(family == 4
                ? HostileShapes.CLIENT_IPV4 : HostileShapes.CLIENT_IPV6));
        assertThat(translated.dstPort()).isEqualTo(HostileShapes.CLIENT_PORT);
    }

    /**
     * The skb test run (bpf_prog_test_run_skb, Linux 6.18) refuses with EINVAL a frame whose
     * ethertype says IPv4 or IPv6 but that holds less than a whole IP header (20 or 40 bytes):
     * such frames cannot be handed to a TC program this way (a packet socket could still send
     * one out; the XDP runs above cover the same parser on them).
     */
    private static boolean tcTestRunTakes(byte[] frame) {
        int etherType = ((frame[12] & 0xff) << 8) | (frame[13] & 0xff);
        return switch (etherType) {
            case 0x0800 -> frame.length >= 14 + 20;
            case 0x86dd -> frame.length >= 14 + 40;
            default -> true;
        };
    }

    private void assertRefusedByTcTestRun(byte[] frame) {
        assertThatThrownBy(() -> dataPlane.tc(frame)).isInstanceOfSatisfying(BpfException.class,
                e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL));
    }

    private List<BackendCounters> allBackendCounters() {
        List<BackendCounters> all = new ArrayList<>();
        for (int id : dataPlane.backendIds()) {
            all.add(dataPlane.counters(id));
        }
        return all;
    }

    private static Set<Abi.Stat> stats(Set<HostileShapes.PassReason> reasons) {
        return reasons.stream().map(r -> Abi.Stat.valueOf("PASS_" + r.name())).collect(Collectors.toSet());
    }
}
