package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.NetnsThread;
import io.nodelb.agent.testing.Privileged;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An agent that adopts a data plane in which the agent before had taken a backend out keeps it
 * out from its first weights, instead of sending it new flows until enough of its own checks
 * have failed; the backend comes back at its first passing check.
 */
@Privileged
class LabHealthRestartIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    private static final int PORT = 8095;
    private static final InetSocketAddress VIP = new InetSocketAddress(address(Lab.VIP_V4), 80);
    /**
     * Three failures of checks 3 s apart (up to 15 % early) take a backend out no sooner than
     * 5.1 s after its checks start: a fresh agent could not have it out within {@link #PROVEN}.
     */
    private static final String CONFIG = file(
            targetGroup("web", PORT, weights("be1", 1, "be2", 1, "be3", 1))
                    + "  healthCheck: {type: HTTP, path: /health, interval: 3s, timeout: 1s, healthyThreshold: 1,"
                    + " unhealthyThreshold: 3}\n  rampUpWindow: 0s\n",
            loadBalancer("lab", "DNAT", null, listener("web", Lab.VIP_V4, 80, "TCP", "web")));
    private static final Duration PROVEN = Duration.ofSeconds(4);

    private final List<NetnsThread> namespaces = new ArrayList<>();
    private final List<LabServer> servers = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        LAB.stopAgents();
        LAB.uninstall(LAB.pinPath());
        for (LabServer s : servers) {
            s.close();
        }
        for (NetnsThread ns : namespaces) {
            ns.close();
        }
    }

    @Test
    void aBackendOutWhenTheAgentDiedStaysOutUntilItsFirstCheckPasses() throws Exception {
        for (int k = 1; k <= 3; k++) {
            NetnsThread ns = NetnsThread.enter(LAB.backend(k));
            namespaces.add(ns);
            servers.add(LabServer.start(ns, PORT, "be" + k));
        }
        Agent first = LAB.launchAgent(CONFIG);
        first.awaitProgrammed(0);
        assertThat(count(60)).containsOnlyKeys("be1", "be2", "be3");

        servers.get(1).stop();
        Awaitility.await("be2 out by the first agent").atMost(Duration.ofSeconds(20))
                .pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                .until(() -> !count(30).containsKey("be2"));
        first.kill();

        Agent second = LAB.launchAgent(CONFIG);
        second.awaitProgrammed(0);
        long programmed = System.nanoTime();
        Thread.sleep(500); // one reconcile tick (200 ms) and a table write
        Map<String, Integer> answers = count(60);
        Duration took = Duration.ofNanos(System.nanoTime() - programmed);
        assertThat(answers).as("every new connection after the restart (none refused by be2)")
                .containsOnlyKeys("be1", "be3");
        assertThat(took).as("traffic checked before the new agent's own checks could take be2 out")
                .isLessThan(PROVEN);

        servers.get(1).start();
        Awaitility.await("be2 back at its first passing check").atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(500)).until(() -> count(30).containsKey("be2"));
    }

    private static Map<String, Integer> count(int connections) throws Exception {
        return LAB.client().call(Duration.ofSeconds(60), () -> Traffic.countTcp(address(Lab.CLIENT_V4), VIP, connections));
    }
}
