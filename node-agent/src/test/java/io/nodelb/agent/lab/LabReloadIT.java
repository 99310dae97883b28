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
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The agent reloading its file under live traffic: an open connection keeps its backend
 * through every change of its group while new connections follow the new group, and a
 * file the agent refuses changes nothing at all.
 */
@Privileged
class LabReloadIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(4);

    private static final int CONNECTIONS = 300;
    private static final int PINNED_PORTS = 100;
    private static final InetAddress CLIENT = address(Lab.CLIENT_V4);
    private static final InetSocketAddress VIP = new InetSocketAddress(address(Lab.VIP_V4), 80);
    /** be4 is not a member at first: the first change adds it. */
    private static final Map<String, Integer> BASE_WEIGHTS = weights("be1", 3, "be2", 2, "be3", 1);
    private static final String BASE = config(BASE_WEIGHTS);

    private static Agent agent;

    @BeforeAll
    static void startAgent() throws Exception {
        agent = LAB.startAgent(BASE);
    }

    @BeforeEach
    void backToTheBaseFile() throws Exception {
        agent.program(BASE);
    }

    @Test
    void anOpenConnectionKeepsItsBackendWhileItsGroupChanges() throws Exception {
        try (Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(CLIENT, VIP))) {
            String backend = open.get("/");
            assertThat(BASE_WEIGHTS).as("first answer on %s", open.localAddress()).containsKey(backend);
            String other = Stream.of("be1", "be2", "be3", "be4").filter(b -> !b.equals(backend)).findFirst()
                    .orElseThrow();

            Map<String, Integer> added = new TreeMap<>(BASE_WEIGHTS);
            added.put("be4", 2);
            reloadAndCheck("be4 added", added, open, backend);

            Map<String, Integer> reweighted = weights("be1", 1, "be2", 1, "be3", 1, "be4", 3);
            reweighted.put(backend, 2);
            reloadAndCheck("weights changed", reweighted, open, backend);

            Map<String, Integer> removed = new TreeMap<>(reweighted);
            removed.remove(other);
            reloadAndCheck(other + " removed", removed, open, backend);

            // Weight 0 takes the backend out of the table: only the flow's state still leads there.
            Map<String, Integer> drained = new TreeMap<>(removed);
            drained.put(backend, 0);
            reloadAndCheck(backend + " at weight 0", drained, open, backend);
        }
    }

    /** Programs the group with {@code weights}, then checks the open connection and new ones. */
    private static void reloadAndCheck(String change, Map<String, Integer> weights, Traffic.HttpConnection open,
            String backend) throws Exception {
        String before = agent.version();
        String after = agent.program(config(weights));
        assertThat(after).as("version after: %s", change).isNotEqualTo(before);

        assertThat(open.get("/")).as("open connection %s after: %s", open.localAddress(), change)
                .isEqualTo(backend);
        Map<String, Integer> answers = LAB.client().call(Duration.ofSeconds(60),
                () -> Traffic.countTcp(CLIENT, VIP, CONNECTIONS));
        assertFollowWeights("new connections after: " + change + " " + weights, answers, weights);
    }

    static Stream<Arguments> refusedFiles() {
        // Each file would also change every weight, so applying any part of it would move flows.
        Map<String, Integer> changed = weights("be1", 1, "be2", 1, "be3", 1, "be4", 1);
        return Stream.of(
                Arguments.of("a listener port of 70000",
                        config(changed).replace("port: 80,", "port: 70000,"),
                        "spec.listeners[0].port: Invalid value: 70000: spec.listeners[0].port in body should be less"
                                + " than or equal to 65535"),
                Arguments.of("an unknown target group",
                        config(changed).replace("targetGroup: web}", "targetGroup: nosuch}"),
                        "spec.listeners[0].targetGroup: TargetGroup default/nosuch not found"),
                Arguments.of("a bad backend address",
                        config(changed).replace(Lab.backendV4(2) + ",", "10.1.2.300,"),
                        "spec.backends[2].address: Invalid value: \"string\": address must be an IPv4 or IPv6 address"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusedFiles")
    void aRefusedReloadChangesNothing(String what, String yaml, String problem) throws Exception {
        String version = agent.version();
        int programmed = agent.versions().size();
        // New flows from fixed client ports: the same ports later must reach the same backends.
        int firstPort = 20000 + ThreadLocalRandom.current().nextInt(100) * PINNED_PORTS;
        Map<Integer, String> before = backendsByPort(firstPort);
        assertThat(before.values()).as("backends reached before the reload").contains("be1", "be2", "be3");

        List<String> refusal = agent.refuse(yaml, problem);

        assertThat(refusal.getFirst()).as("refusal of a file with %s", what)
                .contains("(keeping version " + version + "):");
        assertThat(agent.versions()).as("versions programmed").hasSize(programmed);
        assertThat(backendsByPort(firstPort)).as("backend of each client port after the refusal")
                .isEqualTo(before);
        assertThat(agent.isAlive()).isTrue();
    }

    /**
     * One new connection from each of {@value #PINNED_PORTS} client ports from
     * {@code firstPort} on (below the ephemeral range, so nothing else takes them).
     */
    private static Map<Integer, String> backendsByPort(int firstPort) throws Exception {
        return LAB.client().call(Duration.ofSeconds(60), () -> {
            Map<Integer, String> backends = new TreeMap<>();
            for (int port = firstPort; port < firstPort + PINNED_PORTS; port++) {
                backends.put(port, Traffic.get(new InetSocketAddress(CLIENT, port), VIP, "/"));
            }
            return backends;
        });
    }

    private static String config(Map<String, Integer> weights) {
        return file(targetGroup("web", 8080, weights),
                loadBalancer("lab", "DNAT", null, listener("http", Lab.VIP_V4, 80, "TCP", "web")));
    }
}
