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
}
