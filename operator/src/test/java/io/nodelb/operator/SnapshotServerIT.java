package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.IntOrString;
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
import io.grpc.Status;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.BackendRef;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.NodeConnections;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.BackendFlows;
import io.nodelb.dataplane.v1alpha1.Hello;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import io.nodelb.model.compiler.Snapshots;
import io.nodelb.operator.channel.CertificateAuthority;
import io.nodelb.operator.channel.ChannelCertificates;
import io.nodelb.operator.channel.ChannelSettings;
import io.nodelb.operator.channel.SnapshotServer;
import io.nodelb.operator.channel.FreezableProxy;
import io.nodelb.operator.channel.MockTokenReviews;
import io.nodelb.operator.channel.TestAgent;
import java.io.InputStream;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The snapshot server end to end on loopback: the operator in-process against Fabric8's mock API
 * server (CRUD mode, TokenReview answered by {@link MockTokenReviews}), the server on a free port
 * with mutual TLS from the operator's own CA Secrets, and grpc-java stubs as agents ({@link
 * TestAgent}). No data plane: the agents answer what the test tells them to.
 */
@EnableKubernetesMockClient(crud = true)
class SnapshotServerIT {
  private static final String NS = "shop";
  private static final String OPERATOR_NS = "nodelb-system";
  private static final String AGENT_USER = "system:serviceaccount:" + OPERATOR_NS + ":nodelb-agent";
  private static final Duration WAIT = Duration.ofSeconds(10);
  /** How long "nothing arrives" is watched. */
  private static final Duration QUIET = Duration.ofMillis(700);

  KubernetesClient client;
  KubernetesMockServer server;
  private NodelbOperator operator;
  private InMemorySnapshotStore store;
  private MockTokenReviews reviews;
  private ChannelCertificates.Pems agentPems;
  private int port;
  private final List<TestAgent> agents = new ArrayList<>();

  @BeforeEach
  void startOperatorWithSnapshotServer() throws Exception {
    for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
      try (InputStream in = getClass().getResourceAsStream("/META-INF/fabric8/" + crd + ".nodelb.io-v1.yml")) {
        client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class)).create();
      }
    }
    for (String node : List.of("n1", "n2")) {
      client.resource(new NodeBuilder().withNewMetadata().withName(node).endMetadata().build()).create();
    }
    reviews = MockTokenReviews.install(server)
        .allow("token-n1", AGENT_USER, "n1")
        .allow("token-n2", AGENT_USER, "n2")
        .allow("token-n9", AGENT_USER, "n9")
        .allow("token-intruder", "system:serviceaccount:default:intruder", "n1");
    var agentPod = client.resource(new PodBuilder().withNewMetadata().withNamespace(OPERATOR_NS).withName("agent-x")
        .endMetadata().withNewSpec().withNodeName("n2").endSpec().build()).create();
    reviews.allowPodOnly("token-old-api-n2", AGENT_USER, "agent-x", agentPod.getMetadata().getUid());

    // Nodes without an agent count as "agent not connected" after a second, not after the production minute.
    store = new InMemorySnapshotStore(Duration.ofSeconds(1), Clock.systemUTC());
    operator = NodelbOperator.create(client, OperatorSettings.forMockServer(false, OPERATOR_NS), store,
        ChannelSettings.forTests(OPERATOR_NS));
    operator.start();
    port = operator.snapshotServer().port();
    agentPems = ChannelCertificates.pems(client, OPERATOR_NS, ChannelCertificates.AGENT_SECRET);
  }

  @AfterEach
  void stop() {
    agents.forEach(TestAgent::close);
    operator.close();
  }

  // ---- helpers ----

  private TestAgent agent(String token, Hello hello) {
    TestAgent agent = TestAgent.connect(TestAgent.tls(port, agentPems), token, hello);
    agents.add(agent);
    return agent;
  }

  private TestAgent agent(String node) {
    return agent("token-" + node, TestAgent.hello(node));
  }

  private static ListenerSpec listener(String name, String address, int port, String group) {
    ListenerSpec l = new ListenerSpec();
    l.name = name;
    l.address = address;
    l.port = port;
    l.targetGroup = group;
    return l;
  }

  private void createLoadBalancer(String name, ListenerSpec... listeners) {
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace(NS);
    lb.getMetadata().setName(name);
    lb.setSpec(new LoadBalancerSpec());
    lb.getSpec().interfaces = new ArrayList<>(List.of("eth0"));
    lb.getSpec().listeners = new ArrayList<>(List.of(listeners));
    client.resource(lb).create();
  }

  private void putStaticGroup(String name, StaticBackend... backends) {
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace(NS);
    tg.getMetadata().setName(name);
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().backends = new ArrayList<>(List.of(backends));
    if (client.resources(TargetGroup.class).inNamespace(NS).withName(name).get() == null) {
      client.resource(tg).create();
    } else {
      // The reconciler patches the group's status meanwhile: retry on a stale resourceVersion.
      await().atMost(WAIT).ignoreExceptions().until(() -> {
        client.resources(TargetGroup.class).inNamespace(NS).withName(name).edit(current -> {
          current.setSpec(tg.getSpec());
          return current;
        });
        return true;
      });
    }
  }

  /** The "web" LoadBalancer on every node with a static group; waits until both nodes have it. */
  private void webOnEveryNode() {
    putStaticGroup("web", new StaticBackend("10.1.2.2", 8080, 1));
    createLoadBalancer("web", listener("http", "10.1.1.1", 80, "web"));
    await().atMost(WAIT).until(() -> store.snapshot("n1").map(s -> s.getListenersCount() == 1).orElse(false)
        && store.snapshot("n2").map(s -> s.getListenersCount() == 1).orElse(false));
  }

  private LoadBalancer loadBalancer(String name) {
    return client.resources(LoadBalancer.class).inNamespace(NS).withName(name).get();
  }

  private static Condition programmed(LoadBalancer lb) {
    return Conditions.find(lb.getStatus().conditions, "Programmed");
  }

  private static int weightOf(NodeSnapshot snapshot, String group) {
    return snapshot.getTargetGroupsList().stream().filter(g -> g.getName().equals(group)).findFirst().orElseThrow()
        .getBackends(0).getWeight();
  }

  private static ByteString ip(String literal) {
    return ByteString.copyFrom(InetAddress.ofLiteral(literal).getAddress());
  }

  private static Endpoint endpoint(String address, String node, String pod) {
    return new EndpointBuilder().withAddresses(address).withNodeName(node)
        .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions()
        .withNewTargetRef().withKind("Pod").withNamespace(NS).withName(pod).endTargetRef().build();
  }

  private static EndpointSlice slice(Endpoint... endpoints) {
    return new EndpointSliceBuilder().withNewMetadata().withNamespace(NS).withName("api-1")
        .addToLabels("kubernetes.io/service-name", "api").endMetadata()
        .withAddressType("IPv4").addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
        .withEndpoints(endpoints).build();
  }

  // ---- the protocol ----

  @Test
  void theSnapshotIsSentAtOnceAndTwoAcksMakeTheLoadBalancerProgrammedTwoOfTwo() {
    webOnEveryNode();
    TestAgent n1 = agent("n1");
    TestAgent n2 = agent("n2");

    OperatorMessage first = n1.next(WAIT);
    assertThat(first.getNonce()).isNotEmpty();
    assertThat(first.getSnapshot().getNode()).isEqualTo("n1");
    assertThat(first.getSnapshot().getVersion()).isEqualTo(store.versions().get("n1"))
        .isEqualTo(Snapshots.version(first.getSnapshot()));
    assertThat(first.getSnapshot().getListenersList()).extracting(l -> l.getName()).containsExactly("shop/web/http");
    n1.ack(first);
    await().atMost(WAIT).untilAsserted(() -> {
      LoadBalancer lb = loadBalancer("web");
      assertThat(lb.getStatus().nodes.programmed).isEqualTo(1);
      assertThat(programmed(lb).getReason()).isEqualTo(StatusAggregator.PENDING);
    });
    n2.ack(n2.next(WAIT));

    await().atMost(WAIT).untilAsserted(() -> {
      LoadBalancer lb = loadBalancer("web");
      assertThat(lb.getStatus().nodes.desired).isEqualTo(2);
      assertThat(lb.getStatus().nodes.programmed).isEqualTo(2);
      assertThat(lb.getStatus().nodes.failing).isEmpty();
      assertThat(programmed(lb).getStatus()).isEqualTo("True");
      assertThat(programmed(lb).getMessage()).isEqualTo("All 2 node(s) applied the snapshot.");
    });
    assertThat(store.agent("n1")).hasValueSatisfying(a -> {
      assertThat(a.connected()).isTrue();
      assertThat(a.agentVersion()).isEqualTo("test-agent");
      assertThat(a.connectedAt()).isNotNull();
    });
    assertThat(operator.snapshotServer().connectedNodes()).containsExactly("n1", "n2");
    assertThat(n1.poll(QUIET)).as("nothing changed: nothing more is sent").isEmpty();
  }

  @Test
  void anAgentThatAlreadyRunsTheCurrentVersionGetsNothingAndCountsAsAckedAndItsNewStreamReplacesTheOld() {
    webOnEveryNode();
    TestAgent before = agent("n1");
    before.ack(before.next(WAIT));
    String current = store.versions().get("n1");

    TestAgent restarted = agent("token-n1", TestAgent.hello("n1").toBuilder().setAppliedVersion(current).build());

    assertThat(before.awaitClosed(WAIT).getCode()).as("one stream per node").isEqualTo(Status.Code.CANCELLED);
    assertThat(restarted.poll(QUIET)).as("it has the current version").isEmpty();
    assertThat(store.state("n1").answer()).isEqualTo(SnapshotStore.Answer.ACKED);
    assertThat(store.agent("n1")).hasValueSatisfying(a -> assertThat(a.connected()).isTrue());
    assertThat(restarted.isClosed()).isFalse();
  }

  @Test
  void targetGroupAndEndpointSliceChangesSendTheNewVersion() {
    webOnEveryNode();
    client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName("api").endMetadata()
        .withNewSpec().addNewPort().withName("http").withPort(80).withProtocol("TCP")
        .withTargetPort(new IntOrString(8080)).endPort().endSpec().build()).create();
    client.resource(slice(endpoint("10.0.1.1", "n1", "api-a"))).create();
    TargetGroup api = new TargetGroup();
    api.getMetadata().setNamespace(NS);
    api.getMetadata().setName("api");
    api.setSpec(new TargetGroupSpec());
    api.getSpec().services = new ArrayList<>(List.of(new ServiceBackend("api", new IntOrString("http"), 1)));
    client.resource(api).create();
    createLoadBalancer("api", listener("http", "10.1.1.2", 80, "api"));
    await().atMost(WAIT).until(() -> store.snapshot("n1").map(s -> s.getListenersCount() == 2).orElse(false));
    TestAgent n1 = agent("n1");
    OperatorMessage first = n1.next(WAIT);
    n1.ack(first);

    putStaticGroup("web", new StaticBackend("10.1.2.2", 8080, 5));
    OperatorMessage second = n1.next(WAIT);
    assertThat(second.getSnapshot().getVersion()).isNotEqualTo(first.getSnapshot().getVersion());
    assertThat(second.getNonce()).isNotEqualTo(first.getNonce());
    assertThat(weightOf(second.getSnapshot(), "shop/web")).isEqualTo(5);
    n1.ack(second);

    client.resource(slice(endpoint("10.0.1.1", "n1", "api-a"), endpoint("10.0.1.2", "n2", "api-b"))).update();
    OperatorMessage third = n1.next(WAIT);
    assertThat(third.getSnapshot().getTargetGroupsList().stream().filter(g -> g.getName().equals("shop/api"))
        .findFirst().orElseThrow().getBackendsList()).extracting(b -> b.getAddress()).contains(ip("10.0.1.2"));
  }

  @Test
  void aSlowAgentGetsOnlyTheNewestOfTwentyVersionsOnceItAnswers() {
    webOnEveryNode();
    TestAgent n1 = agent("n1");
    OperatorMessage first = n1.next(WAIT);

    for (int weight = 2; weight <= 21; weight++) {
      putStaticGroup("web", new StaticBackend("10.1.2.2", 8080, weight));
    }
    await().atMost(WAIT).until(() -> weightOf(store.snapshot("n1").orElseThrow(), "shop/web") == 21);
    assertThat(n1.poll(QUIET)).as("nothing while the first one is not answered").isEmpty();

    n1.ack(first);
    OperatorMessage newest = n1.next(WAIT);
    assertThat(weightOf(newest.getSnapshot(), "shop/web")).isEqualTo(21);
    assertThat(newest.getSnapshot().getVersion()).isEqualTo(store.versions().get("n1"));
    n1.ack(newest);
    assertThat(n1.poll(QUIET)).as("no stale version queued behind it").isEmpty();
    await().atMost(WAIT).until(() -> store.state("n1").answer() == SnapshotStore.Answer.ACKED);
  }

  @Test
  void aNackIsShownAsFailingWithTheAgentsReasonAndAnAckClearsIt() {
    webOnEveryNode();
    TestAgent n2 = agent("n2");
    n2.ack(n2.next(WAIT));
    TestAgent n1 = agent("n1");
    OperatorMessage refused = n1.next(WAIT);

    n1.nack(refused, "listener shop/web/http: interface eth0 not found");
    await().atMost(WAIT).untilAsserted(() -> {
      LoadBalancer lb = loadBalancer("web");
      assertThat(lb.getStatus().nodes.failing).singleElement().satisfies(f -> {
        assertThat(f.node).isEqualTo("n1");
        assertThat(f.reason).isEqualTo("listener shop/web/http: interface eth0 not found");
      });
      assertThat(lb.getStatus().nodes.programmed).isEqualTo(1);
      assertThat(programmed(lb).getStatus()).isEqualTo("False");
      assertThat(programmed(lb).getReason()).isEqualTo(StatusAggregator.NODES_FAILING);
      assertThat(programmed(lb).getMessage()).contains("n1: listener shop/web/http: interface eth0 not found");
    });
    assertThat(n1.poll(QUIET)).as("the refused version is not sent again on this stream").isEmpty();

    // The node is fixed and its agent restarts: a new stream gets the version again and ACKs it.
    TestAgent again = agent("n1");
    again.ack(again.next(WAIT));
    await().atMost(WAIT).untilAsserted(() -> {
      LoadBalancer lb = loadBalancer("web");
      assertThat(lb.getStatus().nodes.failing).isEmpty();
      assertThat(programmed(lb).getStatus()).isEqualTo("True");
    });
  }

  @Test
  void aNodeWithoutAgentIsFailingWithAgentNotConnected() {
    webOnEveryNode();
    TestAgent n1 = agent("n1");
    n1.ack(n1.next(WAIT));

    await().atMost(WAIT).untilAsserted(() -> {
      LoadBalancer lb = loadBalancer("web");
      assertThat(lb.getStatus().nodes.failing).extracting(f -> f.node + ": " + f.reason)
          .containsExactly("n2: agent not connected");
      assertThat(programmed(lb).getReason()).isEqualTo(StatusAggregator.NODES_FAILING);
    });
  }

  @Test
  void aNodeTheModelDoesNotKnowGetsAnEmptySnapshot() {
    TestAgent n9 = agent("n9");

    OperatorMessage empty = n9.next(WAIT);
    assertThat(empty.getSnapshot().getNode()).isEqualTo("n9");
    assertThat(empty.getSnapshot().getListenersList()).isEmpty();
    assertThat(empty.getSnapshot().getVersion())
        .isEqualTo(Snapshots.version(NodeSnapshot.newBuilder().setNode("n9").build()));
  }

  // ---- who may stream ----

  @Test
  void withoutAClientCertificateNothingIsSent() {
    TestAgent anonymous = TestAgent.connect(TestAgent.tls(port, agentPems, null), "token-n1", TestAgent.hello("n1"));
    agents.add(anonymous);

    assertThat(anonymous.awaitClosed(WAIT).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(anonymous.queued()).isZero();
    assertThat(store.agent("n1")).isEmpty();
  }

  @Test
  void aCertificateFromAnotherCaIsRefused() {
    Instant now = Instant.now();
    var otherCa = CertificateAuthority.newCa("someone-else", now, Duration.ofDays(1));
    var stranger = CertificateAuthority.issue(otherCa, "nodelb-agent", CertificateAuthority.Usage.CLIENT, List.of(),
        now, Duration.ofDays(1));
    var strangerPems = new ChannelCertificates.Pems(otherCa.certificatePem(), stranger.certificatePem(), stranger.keyPem());
    TestAgent agent = TestAgent.connect(TestAgent.tls(port, agentPems, strangerPems), "token-n1", TestAgent.hello("n1"));
    agents.add(agent);

    assertThat(agent.awaitClosed(WAIT).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(agent.queued()).isZero();
  }

  @Test
  void aMissingOrWrongTokenOrAnotherServiceAccountIsRefused() {
    TestAgent noToken = agent(null, TestAgent.hello("n1"));
    Status missing = noToken.awaitClosed(WAIT);
    assertThat(missing.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(missing.getDescription()).contains("authorization: Bearer");

    TestAgent wrong = agent("not-a-token", TestAgent.hello("n1"));
    Status refused = wrong.awaitClosed(WAIT);
    assertThat(refused.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(refused.getDescription()).contains("invalid bearer token");

    TestAgent intruder = agent("token-intruder", TestAgent.hello("n1"));
    Status denied = intruder.awaitClosed(WAIT);
    assertThat(denied.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(denied.getDescription()).contains("system:serviceaccount:default:intruder");

    assertThat(noToken.queued() + wrong.queued() + intruder.queued()).isZero();
    assertThat(store.agent("n1")).isEmpty();
  }

  @Test
  void aTokenOfAPodOnAnotherNodeCannotClaimThisOne() {
    webOnEveryNode();
    TestAgent liar = agent("token-n2", TestAgent.hello("n1"));

    Status status = liar.awaitClosed(WAIT);
    assertThat(status.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(status.getDescription()).isEqualTo("token of a pod on node n2 cannot claim node n1");
    assertThat(liar.queued()).isZero();

    // Before Kubernetes 1.30 the token names only the pod; its spec.nodeName decides.
    TestAgent oldApi = agent("token-old-api-n2", TestAgent.hello("n2"));
    assertThat(oldApi.next(WAIT).getSnapshot().getNode()).isEqualTo("n2");
    TestAgent oldApiLiar = agent("token-old-api-n2", TestAgent.hello("n1"));
    assertThat(oldApiLiar.awaitClosed(WAIT).getDescription()).isEqualTo("token of a pod on node n2 cannot claim node n1");
  }

  @Test
  void theFirstMessageMustBeAHelloForTheLayoutThisOperatorServes() {
    TestAgent ackFirst = TestAgent.connectSending(TestAgent.tls(port, agentPems), "token-n1",
        AgentMessage.newBuilder().setReport(NodeReport.getDefaultInstance()).build());
    agents.add(ackFirst);
    assertThat(ackFirst.awaitClosed(WAIT).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);

    TestAgent future = agent("token-n1", TestAgent.hello("n1").toBuilder()
        .setLayoutVersion(SnapshotServer.LAYOUT_VERSION + 1).build());
    Status status = future.awaitClosed(WAIT);
    assertThat(status.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(status.getDescription()).contains("layout " + (SnapshotServer.LAYOUT_VERSION + 1))
        .contains("serves layout " + SnapshotServer.LAYOUT_VERSION);
    assertThat(ackFirst.queued() + future.queued()).isZero();
  }

  @Test
  void aReplicaThatDoesNotLeadEndsStreamsWithUnavailable() {
    TestAgent n1 = agent("n1");
    n1.next(WAIT);

    operator.snapshotServer().leading(false);

    Status ended = n1.awaitClosed(WAIT);
    assertThat(ended.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(ended.getDescription()).contains("not the leader");
    TestAgent later = agent("n1");
    assertThat(later.awaitClosed(WAIT).getDescription()).contains("not the leader");
    assertThat(later.queued()).isZero();
  }

  // ---- liveness ----

  @Test
  void aCancelledStreamIsRecordedAsDisconnected() {
    webOnEveryNode();
    TestAgent n1 = agent("n1");
    n1.ack(n1.next(WAIT));

    n1.cancel();

    await().atMost(WAIT).untilAsserted(() -> assertThat(store.agent("n1")).hasValueSatisfying(a -> {
      assertThat(a.connected()).isFalse();
      assertThat(a.disconnectedAt()).isNotNull();
      assertThat(a.disconnectReason()).contains("went away");
    }));
    assertThat(store.state("n1").answer()).isEqualTo(SnapshotStore.Answer.NOT_CONNECTED);
  }

  @Test
  void anAgentWhoseNetworkDiesIsNoticedByKeepalive() throws Exception {
    try (FreezableProxy proxy = new FreezableProxy(port)) {
      TestAgent n1 = TestAgent.connect(TestAgent.tls(proxy.port(), agentPems), "token-n1", TestAgent.hello("n1"));
      agents.add(n1);
      n1.ack(n1.next(WAIT));
      await().atMost(WAIT).until(() -> store.state("n1").answer() == SnapshotStore.Answer.ACKED);

      long frozenAt = System.nanoTime();
      proxy.freeze();

      await().atMost(Duration.ofSeconds(16)).pollInterval(Duration.ofMillis(200))
          .until(() -> store.agent("n1").map(a -> !a.connected()).orElse(false));
      Duration noticed = Duration.ofNanos(System.nanoTime() - frozenAt);
      assertThat(noticed).as("keepalive: ping after 10 s quiet, 3 s to answer").isLessThan(Duration.ofSeconds(14));
      assertThat(store.agent("n1").orElseThrow().disconnectReason()).contains("went away");
    }
  }

  // ---- drains ----

  @Test
  void nodeReportsDriveTheDrainFromRemainingConnectionsToDrained() {
    client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName("api").endMetadata()
        .withNewSpec().addNewPort().withName("http").withPort(80).withProtocol("TCP")
        .withTargetPort(new IntOrString(8080)).endPort().endSpec().build()).create();
    client.resource(slice(endpoint("10.0.1.1", "n1", "api-a"), endpoint("10.0.1.2", "n2", "api-b"))).create();
    TargetGroup api = new TargetGroup();
    api.getMetadata().setNamespace(NS);
    api.getMetadata().setName("api");
    api.setSpec(new TargetGroupSpec());
    api.getSpec().services = new ArrayList<>(List.of(new ServiceBackend("api", new IntOrString("http"), 1)));
    client.resource(api).create();
    createLoadBalancer("api", listener("http", "10.1.1.2", 80, "api"));
    BackendDrain drain = new BackendDrain();
    drain.getMetadata().setNamespace(NS);
    drain.getMetadata().setName("api-a");
    drain.setSpec(new BackendDrainSpec());
    drain.getSpec().backend = new BackendRef("10.0.1.1", 8080);
    drain.getSpec().timeout = "5m";
    client.resource(drain).create();
    TestAgent n1 = agent("n1");
    TestAgent n2 = agent("n2");
    String v1 = answerUntilDraining(n1);
    String v2 = answerUntilDraining(n2);
    await().atMost(WAIT).untilAsserted(() -> {
      BackendDrain current = drain("api-a");
      assertThat(current.getStatus().phase).isEqualTo(DrainPhase.Draining);
      assertThat(current.getStatus().unreportedNodes).containsExactly("n1", "n2");
    });

    n1.report(flows(v1, 5));
    n2.report(flows(v2, 3));
    await().atMost(WAIT).untilAsserted(() -> {
      BackendDrain current = drain("api-a");
      assertThat(current.getStatus().phase).isEqualTo(DrainPhase.Draining);
      assertThat(current.getStatus().remaining).containsExactly(new NodeConnections("n1", 5), new NodeConnections("n2", 3));
      assertThat(current.getStatus().totalRemaining).isEqualTo(8);
      assertThat(current.getStatus().unreportedNodes).isEmpty();
      assertThat(current.getStatus().conditions.getFirst().getReason()).isEqualTo(DrainProgress.CONNECTIONS_REMAINING);
    });

    n1.report(flows(v1, 0));
    n2.report(flows(v2, 1));
    await().atMost(WAIT).untilAsserted(() ->
        assertThat(drain("api-a").getStatus().remaining).containsExactly(new NodeConnections("n2", 1)));
    n2.report(flows(v2, 0));
    await().atMost(WAIT).untilAsserted(() -> {
      BackendDrain current = drain("api-a");
      assertThat(current.getStatus().phase).isEqualTo(DrainPhase.Drained);
      assertThat(current.getStatus().totalRemaining).isZero();
      assertThat(current.getStatus().finishTime).isNotBlank();
    });
  }

  /** ACKs what comes until the snapshot drains 10.0.1.1; returns that version. */
  private String answerUntilDraining(TestAgent agent) {
    while (true) {
      OperatorMessage message = agent.next(WAIT);
      agent.ack(message);
      boolean draining = message.getSnapshot().getTargetGroupsList().stream()
          .flatMap(g -> g.getBackendsList().stream())
          .anyMatch(b -> b.getAddress().equals(ip("10.0.1.1"))
              && b.getState() == io.nodelb.dataplane.v1alpha1.BackendState.DRAINING);
      if (draining && message.getSnapshot().getVersion().equals(store.versions().get(message.getSnapshot().getNode()))) {
        return message.getSnapshot().getVersion();
      }
    }
  }

  private static NodeReport flows(String appliedVersion, long toDrained) {
    return NodeReport.newBuilder().setAppliedVersion(appliedVersion)
        .addBackendFlows(BackendFlows.newBuilder().setAddress(ip("10.0.1.1")).setPort(8080).setFlows(toDrained))
        .addBackendFlows(BackendFlows.newBuilder().setAddress(ip("10.0.1.2")).setPort(8080).setFlows(40))
        .build();
  }

  private BackendDrain drain(String name) {
    return client.resources(BackendDrain.class).inNamespace(NS).withName(name).get();
  }
}
