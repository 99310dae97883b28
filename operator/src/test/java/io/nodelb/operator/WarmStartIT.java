package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.operator.channel.ChannelCertificates;
import io.nodelb.operator.channel.ChannelSettings;
import io.nodelb.operator.channel.MockTokenReviews;
import io.nodelb.operator.channel.TestAgent;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Right after a start (or a failover) the model is built from nothing. An agent that connects
 * then must not get a snapshot that lacks what the cluster has (its data plane would drop traffic
 * it serves now): its stream waits until the model reflects every LoadBalancer, TargetGroup,
 * BackendDrain and named Service. To lose the race every time, the TargetGroup reconciler starts
 * watching a namespace without groups and is widened by the test.
 */
@EnableKubernetesMockClient(crud = true)
class WarmStartIT {
  private static final String NS = "shop";
  private static final String OPERATOR_NS = "nodelb-system";
  private static final Duration WAIT = Duration.ofSeconds(10);

  KubernetesClient client;
  KubernetesMockServer server;

  @Test
  void anAgentThatConnectsBeforeTheModelIsWarmWaitsForACompleteSnapshot() throws Exception {
    for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
      try (InputStream in = getClass().getResourceAsStream("/META-INF/fabric8/" + crd + ".nodelb.io-v1.yml")) {
        client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class)).create();
      }
    }
    client.resource(new NodeBuilder().withNewMetadata().withName("n1").endMetadata().build()).create();
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace(NS);
    tg.getMetadata().setName("web");
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().backends = new ArrayList<>(List.of(new StaticBackend("10.1.2.2", 8080, 1)));
    client.resource(tg).create();
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace(NS);
    lb.getMetadata().setName("web");
    lb.setSpec(new LoadBalancerSpec());
    lb.getSpec().interfaces = new ArrayList<>(List.of("eth0"));
    ListenerSpec http = new ListenerSpec();
    http.name = "http";
    http.address = "10.1.1.1";
    http.port = 80;
    http.targetGroup = "web";
    lb.getSpec().listeners = new ArrayList<>(List.of(http));
    client.resource(lb).create();
    MockTokenReviews.install(server).allow("token-n1", "system:serviceaccount:" + OPERATOR_NS + ":nodelb-agent", "n1");

    InMemorySnapshotStore store = new InMemorySnapshotStore();
    try (NodelbOperator operator = NodelbOperator.create(client, OperatorSettings.forMockServer(false, OPERATOR_NS),
        store, Set.of("elsewhere"), ChannelSettings.forTests(OPERATOR_NS))) {
      operator.start();
      var pems = ChannelCertificates.pems(client, OPERATOR_NS, ChannelCertificates.AGENT_SECRET);
      try (TestAgent agent = TestAgent.connect(TestAgent.tls(operator.snapshotServer().port(), pems), "token-n1",
          TestAgent.hello("n1"))) {
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> store.snapshot("n1").isPresent());
        assertThat(agent.poll(Duration.ofSeconds(2))).as("the model lacks TargetGroup shop/web: nothing is sent").isEmpty();
        assertThat(agent.isClosed()).as("the stream waits").isFalse();

        operator.watchTargetGroupsIn(Constants.WATCH_ALL_NAMESPACE_SET);

        NodeSnapshot first = agent.next(WAIT).getSnapshot();
        assertThat(first.getListenersList()).extracting(l -> l.getName()).containsExactly("shop/web/http");
        assertThat(first.getTargetGroupsList()).extracting(g -> g.getName()).containsExactly("shop/web");
      }
    }
  }
}
