package io.nodelb.e2e;

import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.nodelb.agent.lab.Agent;
import io.nodelb.agent.lab.Lab;
import io.nodelb.agent.lab.Shares;
import io.nodelb.agent.lab.Traffic;
import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.operator.InMemorySnapshotStore;
import io.nodelb.operator.NodelbOperator;
import io.nodelb.operator.OperatorSettings;
import io.nodelb.operator.channel.ChannelCertificates;
import io.nodelb.operator.channel.ChannelSettings;
import io.nodelb.operator.channel.MockTokenReviews;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * nodelb as a Kubernetes system: Fabric8's mock API server, the operator in-process with
 * production settings (mutual TLS with its own CA, TokenReview identity), and two real agents
 * in cluster mode, one in each node of a two-node lab, with real BPF. Every case is checked
 * with real TCP and UDP from the lab's client: through node 1 from 10.1.0.x, through node 2
 * from 10.1.3.x.
 *
 * <p>The operator's gRPC socket is opened inside the client's namespace (the agents reach it
 * there, at 10.1.0.2 and 10.1.3.2); everything else of the operator runs in this JVM's own.
 */
@Privileged
@EnableKubernetesMockClient(crud = true)
class ClusterE2E {
    @RegisterExtension
    static final Lab LAB = Lab.withTwoNodes(3);

    private static final String NS = "shop";
    private static final String OPERATOR_NS = "nodelb-system";
    private static final String AGENT_USER = "system:serviceaccount:" + OPERATOR_NS + ":nodelb-agent";
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final InetSocketAddress HTTP = new InetSocketAddress(address(Lab.VIP_V4), 80);
    private static final InetSocketAddress ECHO = new InetSocketAddress(address(Lab.VIP_V4), 9000);
    /** Where the client's connections enter: node 1 from 10.1.0.2, node 2 from 10.1.3.2. */
    private static final Map<Integer, String> CLIENT = Map.of(1, Lab.CLIENT_V4, 2, Lab.CLIENT_NODE2_V4);
    /** Each agent's metrics and probes, inside its own node's namespace. */
    private static final int METRICS_PORT = 9400;

    KubernetesClient client;
    KubernetesMockServer server;
    private NodelbOperator operator;
    private InMemorySnapshotStore store;
    private int port;
    private Path files;
    private final Map<Integer, Agent> agents = new LinkedHashMap<>();

    @BeforeEach
    void operatorAndResources() throws Exception {
        for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
            try (InputStream in = Files.newInputStream(
                    LAB.top().resolve("crds/generated/" + crd + ".nodelb.io-v1.yml"))) {
                client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class))
                        .create();
            }
        }
        for (String node : List.of("node-1", "node-2")) {
            client.resource(new NodeBuilder().withNewMetadata().withName(node).endMetadata().build()).create();
        }
        MockTokenReviews.install(server)
                .allow("token-node-1", AGENT_USER, "node-1")
                .allow("token-node-2", AGENT_USER, "node-2");
        files = LAB.runDir().resolve("e2e");
        Files.createDirectories(files);
        startOperator(0);
        ChannelCertificates.Pems pems = ChannelCertificates.pems(client, OPERATOR_NS, ChannelCertificates.AGENT_SECRET);
        Files.writeString(files.resolve("ca.crt"), pems.caCertificate());
        Files.writeString(files.resolve("tls.crt"), pems.certificate());
        Files.writeString(files.resolve("tls.key"), pems.privateKey());
        for (int k = 1; k <= 2; k++) {
            Files.writeString(files.resolve("token-node-" + k), "token-node-" + k);
        }
        createBackends();
    }

    @AfterEach
    void stopEverything() throws Exception {
        try {
            if (operator != null) {
                operator.close();
            }
        } finally {
            LAB.stopAgents();
            for (int k = 1; k <= 2; k++) {
                LAB.uninstall(LAB.pinPath(k));
            }
            agents.clear();
        }
    }

    // ---- the cases ----

    @Test
    void appliedResourcesBalanceTcpAndUdpThroughBothNodes() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();

        for (int node = 1; node <= 2; node++) {
            int k = node;
            Map<String, Integer> tcp = LAB.client().call(() -> Traffic.countTcp(address(CLIENT.get(k)), HTTP, 150));
            Shares.assertFollowWeights("TCP through node " + k, tcp, Shares.weights("be1", 1, "be2", 1, "be3", 1));
            Map<String, Integer> udp = LAB.client().call(() -> Traffic.countUdp(address(CLIENT.get(k)), ECHO, 60));
            assertThat(udp.keySet()).as("UDP answers through node %d", k).containsExactlyInAnyOrder("be1", "be2", "be3");
        }
        LoadBalancer lb = loadBalancer();
        assertThat(lb.getStatus().nodes.desired).isEqualTo(2);
        assertThat(lb.getStatus().nodes.programmed).isEqualTo(2);
        assertThat(condition(lb, "Programmed").getStatus()).isEqualTo("True");

        // Flow events in cluster mode (on by default): each node read a record per new flow and one
        // per closed TCP connection, and timed them in its histogram.
        for (int node = 1; node <= 2; node++) {
            int k = node;
            await().atMost(WAIT).untilAsserted(() -> {
                String scrape = scrape(k);
                assertThat(series(scrape, "nodelb_flow_events_total{type=\"new_flow\"}")).as("new flows on node %d", k)
                        .isGreaterThanOrEqualTo(150);
                assertThat(series(scrape, "nodelb_backend_connection_duration_seconds_count"))
                        .as("ended TCP connections on node %d", k).isGreaterThanOrEqualTo(150);
            });
        }
    }

    /** The agent's /metrics, asked inside its node. */
    private static String scrape(int k) throws Exception {
        return Command.run("ip", "netns", "exec", LAB.node(k), "curl", "-s", "-m", "2",
                "http://127.0.0.1:" + METRICS_PORT + "/metrics");
    }

    /** The sum of a series' samples in a scrape: {@code name} or {@code name{labels}} as a prefix of the labels. */
    private static double series(String scrape, String name) {
        String bare = name.contains("{") ? name.substring(0, name.indexOf('{')) : name;
        String labels = name.contains("{") ? name.substring(name.indexOf('{') + 1, name.length() - 1) : "";
        double total = 0;
        for (String line : scrape.split("\n")) {
            if (line.startsWith(bare + "{") || line.startsWith(bare + " ")) {
                String rest = line.substring(bare.length());
                if (labels.isEmpty() || rest.contains(labels)) {
                    total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
        }
        return total;
    }

    @Test
    void scalingTheServiceMovesNewConnectionsAndResetsTheRemovedBackendsOpenOnes() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();
        Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(address(Lab.CLIENT_V4), HTTP));
        String kept = LAB.client().call(() -> open.get("/"));

        setEndpoints(List.of("be1", "be2", "be3").stream().filter(b -> !b.equals(kept)).toList());
        awaitProgrammedOnBothNodes();

        // Gone from the slice (not terminating): its flows are released, the client fails fast, not after 900 s.
        long start = System.nanoTime();
        String outcome = LAB.client().call(() -> {
            try {
                return "answered by " + open.get("/");
            } catch (java.io.IOException e) {
                return "failed: " + e.getMessage();
            }
        });
        assertThat(outcome).as("the open connection after its backend left").isEqualTo("failed: Connection reset");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
        open.close();
        for (int node = 1; node <= 2; node++) {
            int k = node;
            assertThat(LAB.client().call(() -> Traffic.countTcp(address(CLIENT.get(k)), HTTP, 60)))
                    .as("new connections through node %d without %s", k, kept).doesNotContainKey(kept).hasSize(2);
        }

        setEndpoints(List.of("be1", "be2", "be3"));
        awaitProgrammedOnBothNodes();
        assertThat(LAB.client().call(() -> Traffic.countTcp(address(Lab.CLIENT_V4), HTTP, 90)))
                .as("new connections after scaling up again").containsKey(kept).hasSize(3);
    }

    @Test
    void aPodAnnotatedForDrainKeepsItsConnectionsUntilTheyCloseAndGetsNoNewOnes() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();
        Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(address(Lab.CLIENT_V4), HTTP));
        String drained = LAB.client().call(() -> open.get("/"));

        client.pods().inNamespace(NS).withName(drained).edit(p -> {
            p.getMetadata().getAnnotations().put("nodelb.io/drain", "true");
            p.getMetadata().getAnnotations().put("nodelb.io/drain-timeout", "2m");
            return p;
        });

        await().atMost(WAIT).untilAsserted(() -> {
            BackendDrain drain = onlyDrain();
            assertThat(drain.getStatus().phase).isEqualTo(DrainPhase.Draining);
            assertThat(drain.getStatus().totalRemaining).as("live connections the nodes report").isEqualTo(1L);
        });
        awaitProgrammedOnBothNodes();
        assertThat(LAB.client().call(() -> Traffic.countTcp(address(Lab.CLIENT_V4), HTTP, 60)))
                .as("new connections while %s drains", drained).doesNotContainKey(drained);
        assertThat(LAB.client().call(() -> open.get("/"))).as("the drained backend's open connection")
                .isEqualTo(drained);

        open.close();

        await().atMost(WAIT).untilAsserted(() -> {
            BackendDrain drain = onlyDrain();
            assertThat(drain.getStatus().phase).isEqualTo(DrainPhase.Drained);
            assertThat(drain.getStatus().totalRemaining).isZero();
        });
    }

    @Test
    void aDrainWhoseConnectionStaysOpenEndsTimedOut() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();
        Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(address(Lab.CLIENT_V4), HTTP));
        String drained = LAB.client().call(() -> open.get("/"));

        client.pods().inNamespace(NS).withName(drained).edit(p -> {
            p.getMetadata().getAnnotations().put("nodelb.io/drain", "true");
            p.getMetadata().getAnnotations().put("nodelb.io/drain-timeout", "6s");
            return p;
        });

        await().atMost(WAIT).untilAsserted(() -> assertThat(onlyDrain().getStatus().phase)
                .isEqualTo(DrainPhase.TimedOut));
        open.close();
    }

    @Test
    void aNodeAnnotatedForDrainTurnsItsAgentsReadinessOffAndKeepsServing() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();
        assertThat(readiness(2)).isEqualTo(200);

        client.nodes().withName("node-2").edit(n -> {
            n.getMetadata().getAnnotations().put("nodelb.io/drain", "true");
            return n;
        });

        await().atMost(WAIT).until(() -> readiness(2) == 503);
        assertThat(readiness(1)).as("the other node").isEqualTo(200);
        assertThat(agents.get(2).stdout()).anySatisfy(l -> assertThat(l).contains("the cluster drains this node"));
        assertThat(LAB.client().call(() -> Traffic.countTcp(address(CLIENT.get(2)), HTTP, 30)))
                .as("node 2 still serves what reaches it").isNotEmpty();

        client.nodes().withName("node-2").edit(n -> {
            n.getMetadata().getAnnotations().remove("nodelb.io/drain");
            return n;
        });
        await().atMost(WAIT).until(() -> readiness(2) == 200);
    }

    @Test
    void aSnapshotOneNodeCannotProgramIsNackedAndTheNodeKeepsItsPreviousVersion() throws Exception {
        setEndpoints(List.of("be1", "be2"));
        agents.put(1, startAgent(1, "token-node-1"));
        // web's be1 and be2 on 8080 and echo's three on 9000: five backends fit, six do not.
        agents.put(2, startAgent(2, "token-node-2", "--max-backends", "5"));
        awaitProgrammedOnBothNodes();
        String previous = agents.get(2).version();

        setEndpoints(List.of("be1", "be2", "be3"));

        await().atMost(WAIT).untilAsserted(() -> {
            LoadBalancer lb = loadBalancer();
            assertThat(lb.getStatus().nodes.programmed).isEqualTo(1);
            assertThat(lb.getStatus().nodes.failing).singleElement().satisfies(f -> {
                assertThat(f.node).isEqualTo("node-2");
                assertThat(f.reason).contains("too many backends");
            });
        });
        awaitVersion(1);
        assertThat(agents.get(2).version()).as("node 2 keeps what it had").isEqualTo(previous);
        assertThat(LAB.client().call(() -> Traffic.countTcp(address(CLIENT.get(1)), HTTP, 90)))
                .as("node 1 runs the new version").hasSize(3);
        assertThat(LAB.client().call(() -> Traffic.countTcp(address(CLIENT.get(2)), HTTP, 60)))
                .as("node 2 forwards on the previous version, never black-holed")
                .containsOnlyKeys("be1", "be2");
    }

    @Test
    void withTheOperatorGoneForwardingContinuesAndTheAgentsConvergeWhenItIsBack() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();
        Map<Integer, Integer> versionsSeen = Map.of(1, agents.get(1).versions().size(), 2,
                agents.get(2).versions().size());
        Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(address(Lab.CLIENT_V4), HTTP));
        String backend = LAB.client().call(() -> open.get("/"));

        operator.close();
        operator = null;
        for (int node = 1; node <= 2; node++) {
            int k = node;
            assertThat(LAB.client().call(() -> Traffic.countTcp(address(CLIENT.get(k)), HTTP, 30)))
                    .as("node %d with no operator", k).hasSize(3);
        }
        assertThat(LAB.client().call(() -> open.get("/"))).isEqualTo(backend);

        // Back with nothing changed: the agents say which version they have; nothing is resent.
        startOperator(port);
        // An agent that kept dialing while the operator was gone may wait out a full backoff (cap 30 s).
        Duration reconnect = WAIT.plusSeconds(30);
        await().atMost(reconnect).untilAsserted(() -> assertThat(loadBalancer().getStatus().nodes.programmed).isEqualTo(2));
        await().atMost(reconnect).until(() -> store.agent("node-1").map(a -> a.connected()).orElse(false)
                && store.agent("node-2").map(a -> a.connected()).orElse(false));
        assertThat(agents.get(1).versions()).as("versions node 1 programmed").hasSize(versionsSeen.get(1));
        assertThat(agents.get(2).versions()).as("versions node 2 programmed").hasSize(versionsSeen.get(2));

        // Scaled down by a backend the open connection does not use: a removed backend's flows are released.
        String other = java.util.stream.Stream.of("be1", "be2", "be3").filter(b -> !b.equals(backend)).findFirst()
                .orElseThrow();
        setEndpoints(List.of(backend, other));
        awaitProgrammedOnBothNodes();
        assertThat(agents.get(1).versions()).as("node 1: one new version for the one change")
                .hasSize(versionsSeen.get(1) + 1);
        assertThat(LAB.client().call(() -> open.get("/"))).isEqualTo(backend);
        open.close();
    }

    @Test
    void anAgentClaimingAnotherNodeGetsNoSnapshot() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();
        Path pins = Path.of(LAB.pinPath(2) + "-liar");
        Agent liar = Agent.launch("liar", List.of("nsenter", "--net=/run/netns/" + LAB.node(2),
                LAB.top().resolve("bin/nodelb-agent").toString(), "cluster",
                "--operator", Lab.CLIENT_NODE2_V4 + ":" + port, "--operator-server-name", "localhost",
                "--node-name", "node-1", "--token-file", files.resolve("token-node-2").toString(),
                "--ca-file", files.resolve("ca.crt").toString(), "--cert-file", files.resolve("tls.crt").toString(),
                "--key-file", files.resolve("tls.key").toString(),
                "--pin-path", pins.toString(), "--state-dir", files.resolve("liar-state").toString()));
        try {
            await().atMost(WAIT).until(() -> liar.stderr().stream().anyMatch(l -> l.contains("PERMISSION_DENIED")));
            assertThat(liar.versions()).as("versions the liar programmed").isEmpty();
            assertThat(store.agent("node-1")).hasValueSatisfying(a -> assertThat(a.connected()).isTrue());
        } finally {
            liar.stop();
            Command.run("nsenter", "--net=/run/netns/" + LAB.node(2), LAB.top().resolve("bin/nodelb-agent").toString(),
                    "uninstall", "--pin-path", pins.toString(), "--state-dir", files.resolve("liar-state").toString());
        }
    }

    @Test
    void aDnatConnectionKeepsWorkingWhenItsPacketsMoveToTheOtherNode() throws Exception {
        startAgents();
        awaitProgrammedOnBothNodes();
        Traffic.HttpConnection open = LAB.client().call(() -> Traffic.HttpConnection.open(address(Lab.CLIENT_V4), HTTP));
        String backend = LAB.client().call(() -> open.get("/"));
        try {
            // An upstream router rehashes: the client's packets for the VIP now reach node 2,
            // which has never seen this flow; replies still route back through node 1.
            LAB.exec(LAB.namespace("client"), "ip", "route", "replace", Lab.VIP_V4 + "/32", "via", "10.1.3.1",
                    "dev", "c1");
            assertThat(LAB.client().call(() -> open.get("/"))).as("the same connection through node 2")
                    .isEqualTo(backend);
            assertThat(LAB.client().call(() -> open.get("/"))).isEqualTo(backend);
        } finally {
            LAB.exec(LAB.namespace("client"), "ip", "route", "del", Lab.VIP_V4 + "/32");
            open.close();
        }
    }

    // ---- the system ----

    /** The operator with production channel settings, its gRPC socket in the client's namespace. */
    private void startOperator(int onPort) throws Exception {
        store = new InMemorySnapshotStore(Duration.ofSeconds(2), Clock.systemUTC());
        operator = NodelbOperator.create(client, OperatorSettings.forMockServer(false, OPERATOR_NS), store,
                new ChannelSettings("0.0.0.0", onPort, false, "", OPERATOR_NS,
                        ChannelSettings.DEFAULT_AGENT_SERVICE_ACCOUNT, ChannelSettings.DEFAULT_TOKEN_AUDIENCE,
                        ChannelSettings.DEFAULT_CERTIFICATE_CHECK, ChannelSettings.DEFAULT_LEAF_VALIDITY));
        ServerSocketChannel socket = LAB.client().call(ServerSocketChannel::open);
        operator.start(socket);
        port = operator.snapshotServer().port();
    }

    private void startAgents() throws IOException {
        agents.put(1, startAgent(1, "token-node-1"));
        agents.put(2, startAgent(2, "token-node-2"));
    }

    /** The agent's /readyz status, asked inside its node. */
    private static int readiness(int k) throws Exception {
        return Integer.parseInt(Command.run("ip", "netns", "exec", LAB.node(k), "curl", "-s", "-o", "/dev/null",
                "-w", "%{http_code}", "-m", "2", "http://127.0.0.1:" + METRICS_PORT + "/readyz").strip());
    }

    private Agent startAgent(int k, String token, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("cluster", "--metrics-port", Integer.toString(METRICS_PORT),
                "--operator", CLIENT.get(k) + ":" + port,
                "--operator-server-name", "localhost",
                "--node-name", "node-" + k,
                "--ca-file", files.resolve("ca.crt").toString(),
                "--cert-file", files.resolve("tls.crt").toString(),
                "--key-file", files.resolve("tls.key").toString(),
                "--token-file", files.resolve(token).toString()));
        args.addAll(List.of(extra));
        return LAB.launchAgentCommand(k, args.toArray(String[]::new));
    }

    /** Both agents programmed the store's current version of their node, and status says 2/2. */
    private void awaitProgrammedOnBothNodes() {
        awaitVersion(1);
        awaitVersion(2);
        await().atMost(WAIT).untilAsserted(() -> {
            LoadBalancer lb = loadBalancer();
            assertThat(lb.getStatus().nodes.programmed).isEqualTo(2);
            assertThat(condition(lb, "Programmed").getStatus()).isEqualTo("True");
        });
    }

    private void awaitVersion(int k) {
        Supplier<String> desired = () -> store.versions().getOrDefault("node-" + k, "none");
        await().atMost(WAIT).until(() -> agents.get(k).versions().contains(desired.get())
                && agents.get(k).version().equals(desired.get()));
    }

    // ---- the resources ----

    /** Pods be1..be3 (the lab's backends), Services web (TCP 80 → 8080) and echo (UDP 9000), the group and the LB. */
    private void createBackends() {
        for (int k = 1; k <= 3; k++) {
            client.resource(new PodBuilder().withNewMetadata().withNamespace(NS).withName("be" + k)
                    .addToLabels("app", "web").endMetadata().withNewSpec().withNodeName("node-" + (1 + k % 2))
                    .endSpec().build()).create();
        }
        client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName("web").endMetadata()
                .withNewSpec().addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec()
                .build()).create();
        client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName("echo").endMetadata()
                .withNewSpec().addNewPort().withName("echo").withPort(9000).withProtocol("UDP").endPort().endSpec()
                .build()).create();
        setEndpoints(List.of("be1", "be2", "be3"));
        client.resource(slice("echo", "echo", 9000, "UDP", List.of("be1", "be2", "be3"))).create();
        client.resource("""
                apiVersion: nodelb.io/v1alpha1
                kind: TargetGroup
                metadata: {name: web, namespace: shop}
                spec:
                  services:
                  - {name: web, port: http}
                """).create();
        client.resource("""
                apiVersion: nodelb.io/v1alpha1
                kind: TargetGroup
                metadata: {name: echo, namespace: shop}
                spec:
                  services:
                  - {name: echo, port: echo}
                """).create();
        client.resource("""
                apiVersion: nodelb.io/v1alpha1
                kind: LoadBalancer
                metadata: {name: lab, namespace: shop}
                spec:
                  interfaces: [n0, n1]
                  natMode: DNAT
                  listeners:
                  - {name: http, address: 10.1.1.1, port: 80, protocol: TCP, targetGroup: web}
                  - {name: echo, address: 10.1.1.1, port: 9000, protocol: UDP, targetGroup: echo}
                """).create();
    }

    /** The web Service's EndpointSlice with these of the lab's backends, created or replaced. */
    private void setEndpoints(List<String> backends) {
        EndpointSlice slice = slice("web", "http", 8080, "TCP", backends);
        await().atMost(WAIT).ignoreExceptions().until(() -> {
            client.resource(slice).createOr(existing -> existing.update());
            return true;
        });
    }

    private static EndpointSlice slice(String service, String portName, int port, String protocol,
                                       List<String> backends) {
        List<Endpoint> endpoints = backends.stream().map(b -> {
            int k = Integer.parseInt(b.substring(2));
            return new EndpointBuilder().withAddresses(Lab.backendV4(k)).withNodeName("node-" + (1 + k % 2))
                    .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions()
                    .withNewTargetRef().withKind("Pod").withNamespace(NS).withName(b).endTargetRef().build();
        }).toList();
        return new EndpointSliceBuilder().withNewMetadata().withNamespace(NS).withName(service + "-1")
                .addToLabels("kubernetes.io/service-name", service).endMetadata()
                .withAddressType("IPv4").addNewPort().withName(portName).withPort(port).withProtocol(protocol)
                .endPort().withEndpoints(endpoints).build();
    }

    private LoadBalancer loadBalancer() {
        return client.resources(LoadBalancer.class).inNamespace(NS).withName("lab").get();
    }

    private BackendDrain onlyDrain() {
        List<BackendDrain> drains = client.resources(BackendDrain.class).inNamespace(NS).list().getItems();
        assertThat(drains).hasSize(1);
        assertThat(drains.getFirst().getStatus()).isNotNull();
        return drains.getFirst();
    }

    private static Condition condition(LoadBalancer lb, String type) {
        assertThat(lb.getStatus()).isNotNull();
        return lb.getStatus().conditions.stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }
}
