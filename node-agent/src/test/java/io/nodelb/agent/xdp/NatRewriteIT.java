package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.PSH;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.NatMode;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The rewrite, byte for byte: for IPv4 and IPv6, TCP and UDP, DNAT and FullNAT, the frame that
 * comes out is the frame that went in with exactly the translated tuple, the checksums verify by
 * full recomputation, and the reply path gives the VIP back (DNAT through the TC program,
 * FullNAT through XDP).
 */
@Privileged
class NatRewriteIT extends DataPlaneFixture {

    /** A jumbo frame's payload: more than a page, so the frame spans buffers. */
    static final int JUMBO_PAYLOAD = 8900;

    static Stream<StandardListener> cases() {
        return StandardListener.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void aNewFlowIsRewrittenToTheBackendTheHashPicks(StandardListener c) {
        Flow flow = c.flow(40001);
        long[] before = dataPlane.stats();

        TestRunResult result = dataPlane.xdp(flow.first());

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        Abi.Backend backend = dataPlane.backend(dataPlane.predictedBackend(flow));
        Source source = sourceOf(c, flow);
        Frames.assertRewritten(result.output(), Frames.frame(flow.proto(), SYN, source.address, source.port,
                backend.address().getHostAddress(), backend.port()));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        assertThat(dataPlane.conntrack()).containsOnlyKeys(flow.forwardKey(),
                new Abi.CtKey(backend.address(), backend.port(), Snapshots.ip(source.address), source.port,
                        flow.proto()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void laterPacketsOfTheFlowGetTheSameRewrite(StandardListener c) {
        Flow flow = c.flow(40002);
        byte[] first = dataPlane.xdp(flow.first()).output();
        Packet translated = Packet.parse(first);
        long[] before = dataPlane.stats();

        TestRunResult second = dataPlane.xdp(flow.forward(ACK | PSH));

        assertThat(second.retval()).isEqualTo(XDP_PASS);
        Frames.assertRewritten(second.output(), Frames.frame(flow.proto(), ACK | PSH,
                translated.src().getHostAddress(), translated.srcPort(),
                translated.dst().getHostAddress(), translated.dstPort()));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.CT_HIT, 1L));
        assertThat(dataPlane.conntrack()).hasSize(2);
    }

    /**
     * A frame longer than a page: test-run hands it over in several buffers, as a driver does a
     * jumbo frame. The headers are rewritten and the checksums, which cover the payload in every
     * buffer, verify; a program that read only the first buffer's length would pass it untouched.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void aFrameOfSeveralBuffersIsRewrittenWhole(StandardListener c) {
        Flow flow = c.flow(40009);
        Packet translated = Packet.parse(dataPlane.xdp(flow.first()).output());
        byte[] payload = new byte[JUMBO_PAYLOAD];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 7 + 3);
        }
        long[] before = dataPlane.stats();

        TestRunResult result = dataPlane.xdp(Frames.frame(flow.proto(), ACK | PSH, flow.client(), flow.clientPort(),
                flow.vip(), flow.vipPort(), payload));

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        Frames.assertRewritten(result.output(), Frames.frame(flow.proto(), ACK | PSH,
                translated.src().getHostAddress(), translated.srcPort(),
                translated.dst().getHostAddress(), translated.dstPort(), payload));
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.CT_HIT, 1L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void theReplyGivesTheVipBack(StandardListener c) {
        Flow flow = c.flow(40003);
        dataPlane.xdp(flow.first());
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        byte[] reply = Frames.frame(flow.proto(), SYN | ACK, forward.natDestination().getHostAddress(),
                forward.natDestinationPort(), forward.natSource().getHostAddress(), forward.natSourcePort());
        byte[] expected = Frames.frame(flow.proto(), SYN | ACK, flow.vip(), flow.vipPort(), flow.client(),
                flow.clientPort());
        long[] before = dataPlane.stats();

        TestRunResult translated;
        TestRunResult other;
        if (c.mode() == NatMode.DNAT) {
            translated = dataPlane.tc(reply);
            assertThat(translated.retval()).isEqualTo(TC_ACT_OK);
            other = dataPlane.xdp(reply);
            assertThat(other.retval()).as("a DNAT reply at XDP").isEqualTo(XDP_PASS);
        } else {
            translated = dataPlane.xdp(reply);
            assertThat(translated.retval()).isEqualTo(XDP_PASS);
            other = dataPlane.tc(reply);
            assertThat(other.retval()).as("a FullNAT reply at TC").isEqualTo(TC_ACT_OK);
        }

        Frames.assertRewritten(translated.output(), expected);
        assertThat(other.output()).as("the other program leaves the reply alone").isEqualTo(reply);
        if (c.mode() == NatMode.DNAT) {
            // XDP counts what it passes; TC counts only what it translates.
            assertThat(dataPlane.statsSince(before))
                    .containsOnly(entry(Abi.Stat.CT_REPLY, 1L), entry(Abi.Stat.PASS_NO_LISTENER, 1L));
        } else {
            assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.CT_REPLY, 1L));
        }
        assertThat(dataPlane.conntrack()).hasSize(2);
    }

    @ParameterizedTest(name = "IPv4 UDP {0}")
    @EnumSource(value = NatMode.class, names = {"DNAT", "FULL_NAT"})
    void anIpv4UdpChecksumOfZeroStaysZeroBothWays(NatMode mode) {
        StandardListener c = new StandardListener(false, Abi.IPPROTO_UDP, mode);
        Flow flow = c.flow(40004);
        int id = dataPlane.predictedBackend(flow);
        Abi.Backend backend = dataPlane.backend(id);
        Source source = sourceOf(c, flow);

        TestRunResult forward = dataPlane.xdp(
                Frames.udpWithoutChecksum(flow.client(), flow.clientPort(), flow.vip(), flow.vipPort()));

        assertThat(forward.retval()).isEqualTo(XDP_PASS);
        Frames.assertRewritten(forward.output(), Frames.udpWithoutChecksum(source.address, source.port,
                backend.address().getHostAddress(), backend.port()));
        assertThat(Packet.parse(forward.output()).l4Checksum()).isZero();

        byte[] reply = Frames.udpWithoutChecksum(backend.address().getHostAddress(), backend.port(), source.address,
                source.port);
        TestRunResult back = mode == NatMode.DNAT ? dataPlane.tc(reply) : dataPlane.xdp(reply);
        assertThat(back.retval()).isEqualTo(mode == NatMode.DNAT ? TC_ACT_OK : XDP_PASS);
        Frames.assertRewritten(back.output(),
                Frames.udpWithoutChecksum(flow.vip(), flow.vipPort(), flow.client(), flow.clientPort()));
        assertThat(Packet.parse(back.output()).l4Checksum()).isZero();
    }

    @ParameterizedTest(name = "IPv6 {0}")
    @ValueSource(booleans = {false, true})
    void aUdpChecksumThatComesOutZeroIsSentAsAllOnes(boolean ipv6) {
        StandardListener c = new StandardListener(ipv6, Abi.IPPROTO_UDP, NatMode.DNAT);
        Flow flow = c.flow(40005);
        Abi.Backend backend = dataPlane.backend(dataPlane.predictedBackend(flow));
        String backendAddress = backend.address().getHostAddress();
        byte[] forwardPayload = Frames.zeroSumUdpPayload(flow.client(), flow.clientPort(), backendAddress,
                backend.port());

        TestRunResult forward = dataPlane.xdp(Frames.frame(Abi.IPPROTO_UDP, 0, flow.client(), flow.clientPort(),
                flow.vip(), flow.vipPort(), forwardPayload));

        assertThat(forward.retval()).isEqualTo(XDP_PASS);
        Frames.assertRewritten(forward.output(), Frames.frame(Abi.IPPROTO_UDP, 0, flow.client(), flow.clientPort(),
                backendAddress, backend.port(), forwardPayload));
        assertThat(Packet.parse(forward.output()).l4Checksum()).as("XDP forward").isEqualTo(0xffff);

        byte[] replyPayload = Frames.zeroSumUdpPayload(flow.vip(), flow.vipPort(), flow.client(), flow.clientPort());
        TestRunResult reply = dataPlane.tc(Frames.frame(Abi.IPPROTO_UDP, 0, backendAddress, backend.port(),
                flow.client(), flow.clientPort(), replyPayload));
        assertThat(reply.retval()).isEqualTo(TC_ACT_OK);
        Frames.assertRewritten(reply.output(), Frames.frame(Abi.IPPROTO_UDP, 0, flow.vip(), flow.vipPort(),
                flow.client(), flow.clientPort(), replyPayload));
        assertThat(Packet.parse(reply.output()).l4Checksum()).as("TC reply").isEqualTo(0xffff);
    }

    /** Where a new flow's packets come from after the rewrite: the client, or the SNAT address and its first port. */
    private record Source(String address, int port) {}

    private Source sourceOf(StandardListener c, Flow flow) {
        if (c.mode() == NatMode.DNAT) {
            return new Source(flow.client(), flow.clientPort());
        }
        return new Source(c.snat(), dataPlane.firstNatPort(flow));
    }
}
