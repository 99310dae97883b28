package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.Privileged;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A stream listener's VIP, which the agent adds to the node's lo, does not outlive its listener
 * when the agent is killed: the next agent finds it in the state directory's record, keeps it
 * while a listener uses it, and removes it once none does; a finishing agent (SIGTERM) removes it.
 */
@Privileged
class LabStreamRestartIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(1);
    private static final String VIP = Lab.VIP_V4;
    private static final String STREAM = file(
            targetGroup("hap", 9100, Map.of("be1", 1)),
            loadBalancer("lab", "DNAT", null,
                    "{name: v1, address: \"" + VIP + "\", port: 8001, targetGroup: hap, proxyProtocol: V1}"));
    private static final String PLAIN = file(
            targetGroup("web", 8080, Map.of("be1", 1)),
            loadBalancer("lab", "DNAT", null, listener("http", VIP, 80, "TCP", "web")));

    @Test
    void aKilledAgentsLoopbackVipIsRemovedByTheNextOnceNoListenerUsesIt() throws Exception {
        Agent first = LAB.launchAgent(STREAM, LAB.pinPath());
        first.awaitProgrammed(0);
        awaitVipOnLo(true, "the stream listener's VIP added to lo");
        first.kill();
        assertThat(vipOnLo()).as("a SIGKILL leaves the VIP on lo").isTrue();

        Agent second = LAB.launchAgent(STREAM, LAB.pinPath());
        awaitListening();
        assertThat(vipOnLo()).as("the same listener again: the recorded VIP kept").isTrue();
        second.kill();

        Agent third = LAB.launchAgent(PLAIN, LAB.pinPath());
        third.awaitProgrammed(0);
        awaitVipOnLo(false, "no stream listener any more: the VIP a killed agent added is removed");

        third.program(STREAM);
        awaitVipOnLo(true, "a stream listener again");
        LAB.stopAgents();
        assertThat(vipOnLo()).as("a finishing agent (SIGTERM) removes what it added").isFalse();
    }

    /**
     * The default path of a stream listener, the relay in the agent (the splice is opt-in): plain
     * HTTP requests, whose first byte is not TLS, go to the listener's own group and are answered whole.
     */
    @Test
    void withoutTheSpliceTheAgentRelaysEveryRequestAndAnswer() throws Exception {
        String routed = file(
                targetGroup("web", 8080, Map.of("be1", 1)),
                loadBalancer("lab", "DNAT", null, "{name: tls, address: \"" + VIP + "\", port: 8443, targetGroup: web,"
                        + " tls: {sniRoutes: [{serverNames: [api.example.com], targetGroup: web}]}}"));
        Agent agent = LAB.launchAgent(routed, LAB.pinPath());
        agent.awaitProgrammed(0);
        await("the stream listener bound").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                .until(() -> Command.run("ip", "netns", "exec", LAB.node(), "ss", "-Hltn", "sport", "= :8443")
                        .contains(":8443"));
        java.net.InetSocketAddress vip = new java.net.InetSocketAddress(Traffic.address(VIP), 8443);
        assertThat(LAB.client().call(() -> Traffic.countTcp(Traffic.address(Lab.CLIENT_V4), vip, 20)))
                .as("20 requests relayed to the default group").containsExactly(Map.entry("be1", 20));
        LAB.stopAgents();
    }

    private static boolean vipOnLo() throws Exception {
        return Command.run("ip", "-n", LAB.node(), "-o", "-4", "addr", "show", "dev", "lo")
                .contains(" " + VIP + "/32 ");
    }

    private static void awaitVipOnLo(boolean present, String what) {
        await(what).atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                .until(() -> vipOnLo() == present);
    }

    private static void awaitListening() {
        await("the stream listener bound").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                .until(() -> Command.run("ip", "netns", "exec", LAB.node(), "ss", "-Hltn", "sport", "= :8001")
                        .contains(":8001"));
    }
}
