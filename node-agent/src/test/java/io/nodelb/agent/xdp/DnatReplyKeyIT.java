package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.FIN;
import static io.nodelb.agent.xdp.LoadedDataPlane.TC_ACT_OK;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_DROP;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A DNAT flow's reply key is backend -> client address and port, the same for two flows from one
 * client port to two listeners of one group when both pick the same backend. The second must not
 * take the first one's key (its replies would leave from the wrong VIP): it goes to the backend of
 * the next table slots, and is dropped when every backend it may try is taken.
 */
@Privileged
class DnatReplyKeyIT extends DataPlaneFixture {

    /** Each DNAT listener of the standard node has a twin one port up, to the same group. */
    private static final int TWIN_OFFSET = 1;
    private static final int SLOTS = 16; // NLB_DNAT_SLOTS

    static Stream<StandardListener> dnatListeners() {
        return StandardListener.all().filter(l -> !l.isFullNat());
    }

    @Override
    NodeSnapshot snapshot() {
        return withTwins(List.of(Snapshots.web(3), Snapshots.dns(3)));
    }

    private static NodeSnapshot withTwins(List<TargetGroup> groups) {
        List<Listener> listeners = new ArrayList<>(Snapshots.standardListeners());
        for (Listener l : Snapshots.standardListeners()) {
            if (l.getNatMode() == NatMode.DNAT) {
                listeners.add(l.toBuilder().setName(l.getName() + "-twin").setPort(l.getPort() + TWIN_OFFSET).build());
            }
        }
        return Snapshots.snapshot(listeners, groups);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dnatListeners")
    void aLiveFlowsReplyKeySendsAnotherListenersFlowToTheNextSlotsBackend(StandardListener l) {
        Flow[] pair = sameClientPortSameBackend(l);
        Flow first = pair[0];
        Flow twin = pair[1];
        int taken = dataPlane.predictedBackend(first);
        assertThat(dataPlane.xdp(first.first()).retval()).isEqualTo(XDP_PASS);
        long[] before = dataPlane.stats();

        TestRunResult result = dataPlane.xdp(twin.first());

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        int expected = nextOtherBackend(twin, taken);
        Abi.Backend backend = dataPlane.backend(expected);
        assertThat(Packet.parse(result.output()).dst()).as("the next slots' backend").isEqualTo(backend.address());
        assertThat(dataPlane.entry(twin.forwardKey()).backend()).isEqualTo(expected);
        // Each flow's replies leave from its own listener.
        assertThat(replySource(first, dataPlane.backend(taken))).isEqualTo(listenerOf(first));
        assertThat(replySource(twin, backend)).isEqualTo(listenerOf(twin));
        assertThat(dataPlane.conntrack()).hasSize(4);
    }

    static Stream<StandardListener> dnatTcpListeners() {
        return dnatListeners().filter(StandardListener::isTcp);
    }

    /**
     * The same across the two flow tables: the first flow answered by its backend (so in
     * nlb_conntrack), the twin's still waiting for its answer (in nlb_ct_embryonic). The key the
     * answered flow holds in one table is held for an insert into the other.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dnatTcpListeners")
    void anAnsweredFlowsReplyKeyIsHeldForAFlowThatWaitsForItsAnswer(StandardListener l) {
        Flow[] pair = sameClientPortSameBackend(l);
        Flow first = pair[0];
        Flow twin = pair[1];
        int taken = dataPlane.predictedBackend(first);
        assertThat(dataPlane.xdp(first.first()).retval()).isEqualTo(XDP_PASS);
        assertThat(replySource(first, dataPlane.backend(taken))).as("the backend's ACK").isEqualTo(listenerOf(first));
        assertThat(dataPlane.embryonic()).as("answered: moved to nlb_conntrack").isEmpty();

        TestRunResult result = dataPlane.xdp(twin.first());

        assertThat(result.retval()).isEqualTo(XDP_PASS);
        int expected = nextOtherBackend(twin, taken);
        assertThat(dataPlane.entry(twin.forwardKey()).backend()).as("the next slots' backend").isEqualTo(expected);
        assertThat(dataPlane.embryonic()).containsKey(twin.forwardKey()).hasSize(2);
        assertThat(replySource(first, dataPlane.backend(taken))).isEqualTo(listenerOf(first));
        assertThat(replySource(twin, dataPlane.backend(expected))).isEqualTo(listenerOf(twin));
        assertThat(dataPlane.conntrack()).hasSize(4);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dnatListeners")
    void withEveryBackendTakenTheFlowIsDroppedUntilTheOtherEnds(StandardListener l) {
        dataPlane.apply(withTwins(List.of(Snapshots.web(1), Snapshots.dns(1))));
        Flow first = l.flow(43600);
        Flow twin = new Flow(first.client(), first.clientPort(), first.vip(), first.vipPort() + TWIN_OFFSET, first.proto());
        assertThat(dataPlane.xdp(first.first()).retval()).isEqualTo(XDP_PASS);
        Map<Abi.CtKey, Abi.CtEntry> entries = dataPlane.conntrack();
        long[] before = dataPlane.stats();

        TestRunResult refused = dataPlane.xdp(twin.first());

        assertThat(refused.retval()).isEqualTo(XDP_DROP);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.DROP_REPLY_BUSY, 1L));
        assertThat(dataPlane.conntrack()).as("nothing written").isEqualTo(entries);

        // The first flow ends (TCP: closed; UDP: its timeout passes): the key is free.
        if (l.isTcp()) {
            assertThat(dataPlane.xdp(first.forward(FIN | ACK)).retval()).isEqualTo(XDP_PASS);
        }
        dataPlane.lastSeen(first, 61);
        before = dataPlane.stats();
        assertThat(dataPlane.xdp(twin.first()).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsExactly(entry(Abi.Stat.NEW_FLOW, 1L));
        int only = dataPlane.predictedBackend(twin);
        assertThat(replySource(twin, dataPlane.backend(only))).isEqualTo(listenerOf(twin));
    }

    /** A flow to l and one from the same client port to l's twin whose table slots pick the same backend. */
    private Flow[] sameClientPortSameBackend(StandardListener l) {
        for (int port = 43000; port < 65536; port++) {
            Flow first = l.flow(port);
            Flow twin = new Flow(first.client(), port, first.vip(), first.vipPort() + TWIN_OFFSET, first.proto());
            if (dataPlane.predictedBackend(first) == dataPlane.predictedBackend(twin)) {
                return new Flow[] {first, twin};
            }
        }
        throw new AssertionError("no client port of " + l + " picks one backend for both listeners");
    }

    /** The backend of the first of the flow's next table slots that is not {@code taken}. */
    private int nextOtherBackend(Flow flow, int taken) {
        Abi.Listener listener = dataPlane.listener(flow.vip(), flow.vipPort(), flow.proto());
        int[] table = dataPlane.table(listener.group());
        int slot = DataPlaneHash.fastrange(flow.hash(), table.length);
        for (int i = 1; i < SLOTS; i++) {
            int backend = table[(slot + i) % table.length];
            if (backend != taken) {
                return backend;
            }
        }
        throw new AssertionError("the next slots of " + flow + " all hold backend " + taken);
    }

    /** Where a reply from {@code backend} to the flow's client leaves the node. */
    private InetSocketAddress replySource(Flow flow, Abi.Backend backend) {
        TestRunResult reply = dataPlane.tc(Frames.frame(flow.proto(), ACK, backend.address().getHostAddress(),
                backend.port(), flow.client(), flow.clientPort()));
        assertThat(reply.retval()).isEqualTo(TC_ACT_OK);
        Packet p = Packet.parse(reply.output());
        return new InetSocketAddress(p.src(), p.srcPort());
    }

    private static InetSocketAddress listenerOf(Flow flow) {
        return new InetSocketAddress(flow.vipAddress(), flow.vipPort());
    }
}
