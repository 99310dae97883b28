package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.testing.Privileged;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Real TCP connections and the rule that a flow is established by its backend's answer
 * (bpf/README.md, "Conntrack flood safety"): a connection's entries are ESTABLISHED once its
 * backend has answered; when they are lost (deleted here, as an LRU eviction would), the
 * connection's next request is picked up mid-flow, reaches the same backend, and its answer
 * establishes the new entries: the connection goes on.
 */
@Privileged
class LabPickupIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    private static final Map<String, Integer> BACKENDS = weights("be1", 1, "be2", 1);
    private static final InetSocketAddress HTTP = new InetSocketAddress(address(Lab.VIP_V4), 80);

    private static Agent agent;

    private static String config(String natMode) {
        return file(targetGroup("web", 8080, BACKENDS), loadBalancer("lab", natMode,
                natMode.equals("FullNAT") ? Lab.NODE_LAN_V4 : null, listener("http", Lab.VIP_V4, 80, "TCP", "web")));
    }

    @BeforeAll
    static void startAgent() throws Exception {
        agent = LAB.startAgent(config("DNAT"));
    }

    /** DNAT loses both entries; FullNAT its forward one (the reply entry holds the flow's source port). */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"DNAT", "FullNAT"})
    void aConnectionWhoseEntriesWereLostIsPickedUpAndEstablishedByItsBackendsAnswer(String natMode)
            throws Exception {
        agent.program(config(natMode));
        try (Traffic.HttpConnection c = LAB.client().call(
                () -> Traffic.HttpConnection.open(address(Lab.CLIENT_V4), HTTP));
                BpfMap conntrack = BpfMap.openPinned(LAB.pinPath().resolve("v" + Abi.LAYOUT_VERSION)
                        .resolve("nlb_conntrack"))) {
            String backend = LAB.client().call(() -> c.get("/"));
            Abi.CtKey forwardKey = new Abi.CtKey(address(Lab.CLIENT_V4), c.localAddress().getPort(),
                    address(Lab.VIP_V4), 80, Abi.IPPROTO_TCP);
            Abi.CtEntry opened = entry(conntrack, forwardKey);
            assertThat(opened).as("forward entry of %s", c.localAddress()).isNotNull();
            Abi.CtKey replyKey = new Abi.CtKey(opened.natDestination(), opened.natDestinationPort(),
                    opened.natSource(), opened.natSourcePort(), Abi.IPPROTO_TCP);
            assertThat(opened.state()).as("answered: established").isEqualTo(Abi.CT_ESTABLISHED);
            assertThat(entry(conntrack, replyKey).state()).isEqualTo(Abi.CT_ESTABLISHED);

            assertThat(delete(conntrack, forwardKey)).isTrue();
            if (natMode.equals("DNAT")) {
                assertThat(delete(conntrack, replyKey)).isTrue();
            }
            // Entries are stamped with the tick clock (bpf/lib/clock.h): let it move (a tick is at most
            // 10 ms), so that the pickup's creation time differs from the opening's.
            Thread.sleep(25);

            assertThat(LAB.client().call(() -> c.get("/"))).as("the connection goes on, on its backend")
                    .isEqualTo(backend);
            Abi.CtEntry picked = entry(conntrack, forwardKey);
            assertThat(picked.createdNs()).as("picked up again").isGreaterThan(opened.createdNs());
            assertThat(picked.natSourcePort()).isEqualTo(opened.natSourcePort());
            assertThat(picked.state()).as("the backend answered the pickup").isEqualTo(Abi.CT_ESTABLISHED);
            Abi.CtEntry pickedReply = entry(conntrack, replyKey);
            assertThat(pickedReply.state()).isEqualTo(Abi.CT_ESTABLISHED);
            assertThat(pickedReply.flags() & Abi.CT_PICKED_UP).isEqualTo(Abi.CT_PICKED_UP);
        }
    }

    private static Abi.CtEntry entry(BpfMap conntrack, Abi.CtKey key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = conntrack.allocateKey(arena);
            MemorySegment v = conntrack.allocateValue(arena);
            key.writeTo(k);
            return conntrack.lookup(k, v) ? Abi.CtEntry.readFrom(v, key.family()) : null;
        }
    }

    private static boolean delete(BpfMap conntrack, Abi.CtKey key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = conntrack.allocateKey(arena);
            key.writeTo(k);
            return conntrack.delete(k);
        }
    }
}
