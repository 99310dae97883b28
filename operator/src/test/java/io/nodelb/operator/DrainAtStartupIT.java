package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.PodRef;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A BackendDrain that exists before the operator starts (the operator restarted mid-drain) must
 * not be declared Drained before the model holds the TargetGroups and EndpointSlices it drains.
 * Which reconciler runs first after a start is a race; to lose it every time, the TargetGroup
 * reconciler starts watching only a namespace without groups and is widened once the drain has
 * been looked at.
 */
@EnableKubernetesMockClient(crud = true)
class DrainAtStartupIT {
  private static final String NS = "shop";
  private static final Duration WAIT = Duration.ofSeconds(20);
  /** How long the drain is watched while its group is not in the model: it is rechecked every second. */
  private static final Duration WATCH = Duration.ofSeconds(2);

  KubernetesClient client;

  @Test
  void aDrainThatExistsAtStartupStaysDrainingUntilItsEndpointIsGone() throws Exception {
    for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
      try (InputStream in = getClass().getResourceAsStream("/META-INF/fabric8/" + crd + ".nodelb.io-v1.yml")) {
        client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class)).create();
      }
    }
    client.resource(new NodeBuilder().withNewMetadata().withName("n1").endMetadata().build()).create();
    client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName("web").endMetadata()
        .withNewSpec().addNewPort().withName("http").withPort(80).withProtocol("TCP")
        .withTargetPort(new IntOrString(8080)).endPort().endSpec().build()).create();
    client.resource(slice(endpoint("10.0.1.1", "web-a"), endpoint("10.0.1.2", "web-b"))).create();
    client.resource(serviceGroup()).create();
    client.resource(loadBalancer()).create();
    client.resource(podDrain("web-a")).create();

    InMemorySnapshotStore store = new InMemorySnapshotStore();
    try (NodelbOperator operator = NodelbOperator.create(client, OperatorSettings.forMockServer(false, "nodelb-system"),
        store, Set.of("elsewhere"))) {
      operator.start();

      // The drain is reconciled while its TargetGroup is not compiled: it waits, it does not conclude.
      await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(drain().getStatus().phase).isNotNull());
      long end = System.nanoTime() + WATCH.toNanos();
      List<DrainPhase> seen = new ArrayList<>();
      while (System.nanoTime() < end) {
        BackendDrain drain = drain();
        seen.add(drain.getStatus().phase);
        assertThat(drain.getStatus().conditions.getFirst().getReason()).isEqualTo(DrainProgress.WAITING_FOR_MODEL);
        Thread.sleep(100);
      }
      assertThat(seen).as("phases while the group is not in the model").containsOnly(DrainPhase.Draining);

      // The TargetGroup reconciler catches up: web-a is DRAINING and the drain counts it.
      operator.watchTargetGroupsIn(Constants.WATCH_ALL_NAMESPACE_SET);
      await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
        assertThat(drain().getStatus().phase).isEqualTo(DrainPhase.Draining);
        assertThat(drain().getStatus().conditions.getFirst().getMessage()).startsWith("1 backend(s) draining");
        NodeSnapshot snapshot = store.snapshot("n1").orElseThrow();
        assertThat(state(snapshot, 1)).isEqualTo(BackendState.DRAINING);
        assertThat(state(snapshot, 2)).isEqualTo(BackendState.ACTIVE);
      });

      // web-a goes away: its endpoint leaves the slice, so nothing is left to drain.
      client.resource(slice(endpoint("10.0.1.2", "web-b"))).update();
      await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
        assertThat(drain().getStatus().phase).isEqualTo(DrainPhase.Drained);
        assertThat(drain().getStatus().finishTime).isNotBlank();
        assertThat(store.snapshot("n1").orElseThrow().getTargetGroupsList().getFirst().getBackendsCount()).isEqualTo(1);
      });
    }
  }

  private BackendDrain drain() {
    return client.resources(BackendDrain.class).inNamespace(NS).withName("drain-web-a").get();
  }

  private static BackendState state(NodeSnapshot snapshot, int lastOctet) {
    return snapshot.getTargetGroupsList().stream().filter(g -> g.getName().equals("shop/web"))
        .flatMap(g -> g.getBackendsList().stream())
        .filter(b -> Byte.toUnsignedInt(b.getAddress().byteAt(3)) == lastOctet)
        .findFirst().orElseThrow().getState();
  }

  private static Endpoint endpoint(String address, String pod) {
    return new EndpointBuilder().withAddresses(address).withNodeName("n1")
        .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions()
        .withNewTargetRef().withKind("Pod").withNamespace(NS).withName(pod).endTargetRef().build();
  }

  private static EndpointSlice slice(Endpoint... endpoints) {
    return new EndpointSliceBuilder().withNewMetadata().withNamespace(NS).withName("web-1")
        .addToLabels("kubernetes.io/service-name", "web").endMetadata()
        .withAddressType("IPv4").addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
        .withEndpoints(endpoints).build();
  }

  private static TargetGroup serviceGroup() {
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace(NS);
    tg.getMetadata().setName("web");
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().services = new ArrayList<>(List.of(new ServiceBackend("web", new IntOrString("http"), 1)));
    return tg;
  }

  private static LoadBalancer loadBalancer() {
    ListenerSpec listener = new ListenerSpec();
    listener.name = "http";
    listener.address = "10.1.1.1";
    listener.port = 80;
    listener.targetGroup = "web";
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace(NS);
    lb.getMetadata().setName("web");
    lb.setSpec(new LoadBalancerSpec());
    lb.getSpec().interfaces = new ArrayList<>(List.of("eth0"));
    lb.getSpec().nodeSelector = Map.of();
    lb.getSpec().listeners = new ArrayList<>(List.of(listener));
    return lb;
  }

  private static BackendDrain podDrain(String pod) {
    BackendDrain drain = new BackendDrain();
    drain.getMetadata().setNamespace(NS);
    drain.getMetadata().setName("drain-" + pod);
    drain.setSpec(new BackendDrainSpec());
    drain.getSpec().pod = new PodRef();
    drain.getSpec().pod.name = pod;
    drain.getSpec().timeout = "5m";
    return drain;
  }
}
