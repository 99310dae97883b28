package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.assertFollowWeights;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Privileged;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Real TCP connections and UDP datagrams from the lab's client through the agent in
 * DNAT mode to three nginx backends: spread by weight, answered by the VIP, and a source
 * route that sends one client address to a group of its own. Tolerances: {@link Shares}.
 */
@Privileged
class LabBalancingIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    private static final int CONNECTIONS = 600;
    private static final int DATAGRAMS = 600;
    private static final int ROUTED_CONNECTIONS = 100;
    /** A second TCP listener of group web on each VIP. */
    private static final int ALT_PORT = 8081;
    private static final int SHARED_PORT_PAIRS = 12;
    /** Client ports below the ephemeral range, so no other connection of the tests uses them. */
    private static final int SHARED_PORT_BASE = 20100;
    private static final Map<String, Integer> WEB = weights("be1", 3, "be2", 2, "be3", 1);
    private static final Map<String, Integer> ECHO = weights("be1", 1, "be2", 2, "be3", 3);
    private static final Map<String, Integer> ONLY_BE3 = weights("be3", 1);

    private static final String CONFIG = file(
            targetGroup("web", 8080, WEB),
            targetGroup("echo", 9000, ECHO),
            targetGroup("third", 8080, ONLY_BE3),
            loadBalancer("lab", "DNAT", null,
                    listener("http", Lab.VIP_V4, 80, "TCP", "web", Lab.SECOND_CLIENT_V4 + "/32", "third"),
                    listener("http6", Lab.VIP_V6, 80, "TCP", "web", Lab.SECOND_CLIENT_V6 + "/128", "third"),
                    listener("http-alt", Lab.VIP_V4, ALT_PORT, "TCP", "web"),
                    listener("http6-alt", Lab.VIP_V6, ALT_PORT, "TCP", "web"),
                    listener("echo", Lab.VIP_V4, 9000, "UDP", "echo"),
                    listener("echo6", Lab.VIP_V6, 9000, "UDP", "echo")));

    @BeforeAll
    static void startAgent() throws Exception {
        LAB.startAgent(CONFIG);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void newTcpConnectionsSpreadByWeight(String family) throws Exception {
        InetAddress client = address(v4(family) ? Lab.CLIENT_V4 : Lab.CLIENT_V6);
        InetSocketAddress vip = new InetSocketAddress(address(vip(family)), 80);

        Map<String, Integer> answers = LAB.client().call(Duration.ofSeconds(60),
                () -> Traffic.countTcp(client, vip, CONNECTIONS));

        assertFollowWeights(family + " TCP, " + CONNECTIONS + " connections to " + vip, answers, WEB);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void udpDatagramsSpreadByWeightAndTheVipAnswers(String family) throws Exception {
        InetAddress client = address(v4(family) ? Lab.CLIENT_V4 : Lab.CLIENT_V6);
        InetSocketAddress vip = new InetSocketAddress(address(vip(family)), 9000);

        // countUdp fails on any answer whose source is not exactly the VIP and port.
        Map<String, Integer> answers = LAB.client().call(Duration.ofSeconds(60),
                () -> Traffic.countUdp(client, vip, DATAGRAMS));

        assertFollowWeights(family + " UDP, " + DATAGRAMS + " datagrams to " + vip, answers, ECHO);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void aSourceRouteSendsItsClientsToTheirOwnGroup(String family) throws Exception {
        InetAddress routed = address(v4(family) ? Lab.SECOND_CLIENT_V4 : Lab.SECOND_CLIENT_V6);
        InetAddress other = address(v4(family) ? Lab.CLIENT_V4 : Lab.CLIENT_V6);
        InetSocketAddress vip = new InetSocketAddress(address(vip(family)), 80);

        Map<String, Integer> fromRouted = LAB.client().call(Duration.ofSeconds(30),
                () -> Traffic.countTcp(routed, vip, ROUTED_CONNECTIONS));
        Map<String, Integer> fromOther = LAB.client().call(Duration.ofSeconds(30),
                () -> Traffic.countTcp(other, vip, ROUTED_CONNECTIONS));

        assertThat(fromRouted).as("answers to %s from %s (routed to group third)", vip, routed)
                .isEqualTo(Map.of("be3", ROUTED_CONNECTIONS));
        // The default group: be1 and be2 both answer (each misses 100 connections by chance < 1e-17).
        assertThat(fromOther).as("answers to %s from %s (default group web)", vip, other)
                .containsKeys("be1", "be2");
        assertFollowWeights(family + " TCP from " + other + " (default group)", fromOther, WEB);
    }

    static boolean v4(String family) {
        return family.equals("IPv4");
    }

    static String vip(String family) {
        return v4(family) ? Lab.VIP_V4 : Lab.VIP_V6;
    }

    /**
     * Two open connections from one client address and port, to two listeners of one group. Both
     * would land on one backend in about 4 tries in 10 (weights 3:2:1), and their replies would
     * then share one conntrack key: the second goes to another backend instead, and each
     * connection keeps answering from its own.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"IPv4", "IPv6"})
    void connectionsFromOneClientPortToTwoListenersKeepTheirOwnReplies(String family) throws Exception {
        InetAddress client = address(v4(family) ? Lab.CLIENT_V4 : Lab.CLIENT_V6);
        InetSocketAddress http = new InetSocketAddress(address(vip(family)), 80);
        InetSocketAddress alt = new InetSocketAddress(address(vip(family)), ALT_PORT);
        int sameBackend = LAB.client().call(Duration.ofSeconds(60), () -> {
            int same = 0;
            for (int i = 0; i < SHARED_PORT_PAIRS; i++) {
                InetSocketAddress from = new InetSocketAddress(client, SHARED_PORT_BASE + i);
                try (Traffic.HttpConnection a = Traffic.HttpConnection.open(from, http);
                        Traffic.HttpConnection b = Traffic.HttpConnection.open(from, alt)) {
                    String first = a.get("/");
                    String second = b.get("/");
                    assertThat(a.get("/")).as("connection to %s from %s, again", http, from).isEqualTo(first);
                    assertThat(b.get("/")).as("connection to %s from %s, again", alt, from).isEqualTo(second);
                    same += first.equals(second) ? 1 : 0;
                }
            }
            return same;
        });
        assertThat(sameBackend).as("pairs of live connections from one client port on one backend").isZero();
    }
}
