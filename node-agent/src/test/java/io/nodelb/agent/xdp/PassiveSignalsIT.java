package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.FIN;
import static io.nodelb.agent.xdp.Frames.PSH;
import static io.nodelb.agent.xdp.Frames.RST;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DataPlane.BackendCounters;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.testing.Privileged;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The passive health signals of nlb_be_stats through the real programs: a backend's RST on a
 * flow it saw open counts once as a reset, a SYN retransmitted before the backend answered counts
 * once as unanswered, and nothing else moves them (normal flows, UDP, answered retransmissions,
 * RSTs to flows picked up mid-way).
 */
@Privileged
class PassiveSignalsIT extends DataPlaneFixture {

    static Stream<StandardListener> tcpListeners() {
        return StandardListener.tcp();
    }

    static Stream<StandardListener> listeners() {
        return StandardListener.all();
    }

    /** Resets and unanswered SYNs of a flow's backend since {@code before}. */
    private record Signals(long resets, long unansweredSyns) {}

    private Signals since(int backendId, BackendCounters before) {
        Abi.Backend b = dataPlane.backend(backendId);
        BackendCounters moved = dataPlane.countersByKey().get(DesiredState.backendKey(b.address(), b.port()))
                .minus(before);
        return new Signals(moved.resets(), moved.unansweredSyns());
    }

    /** A packet from the flow's backend to where the node sent the flow (client, or SNAT address). */
    private void fromBackend(StandardListener l, Flow flow, int tcpFlags) {
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        byte[] reply = Frames.frame(flow.proto(), tcpFlags, forward.natDestination().getHostAddress(),
                forward.natDestinationPort(), forward.natSource().getHostAddress(), forward.natSourcePort());
        if (l.isFullNat()) {
            assertThat(dataPlane.xdp(reply).retval()).isEqualTo(XDP_PASS);
        } else {
            assertThat(dataPlane.tc(reply).retval()).isEqualTo(TC_ACT_OK);
        }
    }

    private void fromClient(Flow flow, int tcpFlags) {
        assertThat(dataPlane.xdp(flow.forward(tcpFlags)).retval()).isEqualTo(XDP_PASS);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aBackendResettingAnOpenFlowCountsOnceForThatFlow(StandardListener l) {
        Flow flow = l.flow(44001);
        int backend = dataPlane.predictedBackend(flow);
        BackendCounters before = dataPlane.counters(backend);

        fromClient(flow, SYN);
        fromBackend(l, flow, SYN | ACK);
        fromClient(flow, ACK);
        fromClient(flow, ACK | PSH);
        fromBackend(l, flow, RST | ACK);
        assertThat(since(backend, before)).isEqualTo(new Signals(1, 0));

        // The client's segments in flight draw more RSTs: still the same flow.
        fromClient(flow, ACK | PSH);
        fromBackend(l, flow, RST);
        assertThat(since(backend, before)).isEqualTo(new Signals(1, 0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aSynAnsweredWithAResetCountsAsAReset(StandardListener l) {
        Flow flow = l.flow(44002);
        int backend = dataPlane.predictedBackend(flow);
        BackendCounters before = dataPlane.counters(backend);

        fromClient(flow, SYN);
        fromBackend(l, flow, RST | ACK); // nothing listens on the backend's port

        assertThat(since(backend, before)).isEqualTo(new Signals(1, 0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("listeners")
    void aFlowThatOpensTalksAndClosesMovesNoSignal(StandardListener l) {
        Flow flow = l.flow(44003);
        int backend = dataPlane.predictedBackend(flow);
        BackendCounters before = dataPlane.counters(backend);

        fromClient(flow, SYN);
        fromBackend(l, flow, SYN | ACK);
        fromClient(flow, ACK);
        fromClient(flow, ACK | PSH);
        fromBackend(l, flow, ACK | PSH);
        fromClient(flow, FIN | ACK);
        fromBackend(l, flow, FIN | ACK);
        fromClient(flow, ACK);

        assertThat(since(backend, before)).isEqualTo(new Signals(0, 0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aSynRetransmittedWithNoAnswerCountsOncePerFlow(StandardListener l) {
        Flow flow = l.flow(44004);
        Flow other = l.flow(44005);
        int backend = dataPlane.predictedBackend(flow);
        int otherBackend = dataPlane.predictedBackend(other);
        BackendCounters before = dataPlane.counters(backend);
        BackendCounters otherBefore = dataPlane.counters(otherBackend);

        fromClient(flow, SYN);
        assertThat(since(backend, before)).as("a first SYN is no signal").isEqualTo(new Signals(0, 0));
        fromClient(flow, SYN);
        assertThat(since(backend, before)).isEqualTo(new Signals(0, 1));
        fromClient(flow, SYN);
        fromClient(flow, SYN);
        assertThat(since(backend, before)).as("the same flow, retried again").isEqualTo(new Signals(0, 1));
        assertThat(dataPlane.entry(flow.forwardKey()).flags() & Abi.CT_SYN_RETRIED).isNotZero();

        fromClient(other, SYN);
        fromClient(other, SYN);
        assertThat(since(otherBackend, otherBefore).unansweredSyns()).as("another flow counts too")
                .isEqualTo(otherBackend == backend ? 2 : 1);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aSynRetransmittedAfterTheBackendAnsweredIsNoSignal(StandardListener l) {
        Flow flow = l.flow(44006);
        int backend = dataPlane.predictedBackend(flow);
        BackendCounters before = dataPlane.counters(backend);

        fromClient(flow, SYN);
        fromBackend(l, flow, SYN | ACK); // lost on the way to the client, which retries
        fromClient(flow, SYN);

        assertThat(since(backend, before)).isEqualTo(new Signals(0, 0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tcpListeners")
    void aResetOfAFlowPickedUpMidwayIsNoSignal(StandardListener l) {
        Flow flow = l.flow(44007);
        int backend = dataPlane.predictedBackend(flow);
        BackendCounters before = dataPlane.counters(backend);

        fromClient(flow, ACK | PSH); // its entry was lost: the backend never saw this connection open
        Abi.CtEntry forward = dataPlane.entry(flow.forwardKey());
        Abi.CtKey replyKey = new Abi.CtKey(forward.natDestination(), forward.natDestinationPort(),
                forward.natSource(), forward.natSourcePort(), flow.proto());
        assertThat(dataPlane.entry(replyKey).flags() & Abi.CT_PICKED_UP).isNotZero();
        fromBackend(l, flow, RST);

        assertThat(since(backend, before)).isEqualTo(new Signals(0, 0));
        assertThat(dataPlane.entry(replyKey).state()).as("the RST still closes it").isEqualTo(Abi.CT_CLOSING);
    }
}
