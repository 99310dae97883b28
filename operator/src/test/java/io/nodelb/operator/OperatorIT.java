package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.NatMode;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The operator, started in-process against Fabric8's mock API server in CRUD mode: custom
 * resources and EndpointSlices in, per-node snapshots and status out.
 */
@EnableKubernetesMockClient(crud = true)
class OperatorIT {
  private static final String NS = "shop";
  private static final Duration WAIT = Duration.ofSeconds(20);

  KubernetesClient client;
  private NodelbOperator operator;
  private SnapshotStore store;

  @BeforeEach
  void startOperator() throws Exception {
    for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
      try (InputStream in = getClass().getResourceAsStream("/META-INF/fabric8/" + crd + ".nodelb.io-v1.yml")) {
        client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class)).create();
      }
    }
    for (String node : List.of("n1", "n2", "n3")) {
      client.resource(node(node, Map.of("pool", node.equals("n3") ? "batch" : "edge"))).create();
    }
    store = new InMemorySnapshotStore();
    operator = NodelbOperator.create(client, OperatorSettings.forMockServer(false, "nodelb-system"), store);
    operator.start();
  }

  @AfterEach
  void stopOperator() {
    operator.close();
  }

  // ---- fixtures ----

  private static Node node(String name, Map<String, String> labels) {
    return new NodeBuilder().withNewMetadata().withName(name).withLabels(labels).endMetadata().build();
  }

  private static ListenerSpec listener(String name, String address, int port, String group) {
    ListenerSpec l = new ListenerSpec();
    l.name = name;
    l.address = address;
    l.port = port;
    l.targetGroup = group;
    return l;
  }

  private LoadBalancer createLoadBalancer(String name, Map<String, String> selector, ListenerSpec... listeners) {
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace(NS);
    lb.getMetadata().setName(name);
    LoadBalancerSpec spec = new LoadBalancerSpec();
    spec.interfaces = new ArrayList<>(List.of("eth0"));
    spec.nodeSelector = selector;
    spec.listeners = new ArrayList<>(Arrays.asList(listeners));
    lb.setSpec(spec);
    return client.resource(lb).create();
  }

  private TargetGroup createStaticGroup(String name, StaticBackend... backends) {
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace(NS);
    tg.getMetadata().setName(name);
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().backends = new ArrayList<>(Arrays.asList(backends));
    return client.resource(tg).create();
  }

  private TargetGroup createServiceGroup(String name, String service, IntOrString port) {
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace(NS);
    tg.getMetadata().setName(name);
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().services = new ArrayList<>(List.of(new ServiceBackend(service, port, 1)));
    return client.resource(tg).create();
  }

  private Service createService(String name) {
    return client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName(name).endMetadata()
        .withNewSpec().addNewPort().withName("http").withPort(80).withProtocol("TCP")
        .withTargetPort(new IntOrString("web")).endPort().endSpec().build()).create();
  }

  private static Endpoint endpoint(String address, String node, String pod, boolean ready, boolean serving, boolean terminating) {
    return new EndpointBuilder().withAddresses(address).withNodeName(node)
        .withNewConditions().withReady(ready).withServing(serving).withTerminating(terminating).endConditions()
        .withNewTargetRef().withKind("Pod").withNamespace(NS).withName(pod).endTargetRef().build();
  }

  private static EndpointSlice slice(String name, String service, Endpoint... endpoints) {
    return new EndpointSliceBuilder().withNewMetadata().withNamespace(NS).withName(name)
        .addToLabels("kubernetes.io/service-name", service).endMetadata()
        .withAddressType("IPv4").addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
        .withEndpoints(endpoints).build();
  }

  private LoadBalancer loadBalancer(String name) {
    return client.resources(LoadBalancer.class).inNamespace(NS).withName(name).get();
  }

  private TargetGroup targetGroup(String name) {
    return client.resources(TargetGroup.class).inNamespace(NS).withName(name).get();
  }

  private static Condition condition(List<Condition> conditions, String type) {
    return Conditions.find(conditions, type);
  }

  private Optional<NodeSnapshot> snapshot(String node) {
    return store.snapshot(node);
  }

  private static Optional<Backend> backend(NodeSnapshot snapshot, String group, int lastOctet) {
    return snapshot.getTargetGroupsList().stream().filter(g -> g.getName().equals(group))
        .flatMap(g -> g.getBackendsList().stream())
        .filter(b -> Byte.toUnsignedInt(b.getAddress().byteAt(3)) == lastOctet).findFirst();
  }

  // ---- tests ----

  @Test
  void staticLoadBalancerIsCompiledPerNodeAndReportsPendingUntilAgentsAnswer() {
    createStaticGroup("web", new StaticBackend("10.1.2.2", 8080, 3), new StaticBackend("10.1.3.2", 8080, 1));
    createLoadBalancer("web", Map.of("pool", "edge"), listener("http", "10.1.1.1", 80, "web"));

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(snapshot("n1")).hasValueSatisfying(s -> {
        assertThat(s.getListenersList()).extracting(l -> l.getName()).containsExactly("shop/web/http");
        assertThat(s.getTargetGroupsList()).extracting(g -> g.getBackendsCount()).containsExactly(2);
      });
      assertThat(snapshot("n3")).hasValueSatisfying(s -> assertThat(s.getListenersList()).isEmpty());
      LoadBalancer lb = loadBalancer("web");
      assertThat(lb.getMetadata().getFinalizers()).contains(LoadBalancerReconciler.FINALIZER);
      assertThat(lb.getStatus()).isNotNull();
      assertThat(lb.getStatus().listeners).isEqualTo("10.1.1.1:80/TCP");
      assertThat(lb.getStatus().nodes.desired).isEqualTo(2);
      assertThat(lb.getStatus().nodes.programmed).isZero();
      assertThat(condition(lb.getStatus().conditions, "Accepted").getStatus()).isEqualTo("True");
      assertThat(condition(lb.getStatus().conditions, "ResolvedRefs").getStatus()).isEqualTo("True");
      Condition programmed = condition(lb.getStatus().conditions, "Programmed");
      assertThat(programmed.getStatus()).isEqualTo("Unknown");
      assertThat(programmed.getReason()).isEqualTo("Pending");
      assertThat(programmed.getLastTransitionTime()).isNotBlank();
      assertThat(condition(lb.getStatus().conditions, "Ready").getStatus()).isEqualTo("False");
      assertThat(targetGroup("web").getStatus().endpoints.staticBackends).isEqualTo(2);
    });

    // What the snapshot server does when agents connect and ACK: the LoadBalancer becomes Programmed and Ready.
    store.agentConnected("n1", "test", java.time.Instant.now());
    store.agentConnected("n2", "test", java.time.Instant.now());
    store.acknowledge("n1", store.versions().get("n1"));
    store.reject("n2", store.versions().get("n2"), "interface eth0 not found");
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      LoadBalancer lb = loadBalancer("web");
      assertThat(lb.getStatus().nodes.programmed).isEqualTo(1);
      assertThat(lb.getStatus().nodes.failing).singleElement().satisfies(f -> {
        assertThat(f.node).isEqualTo("n2");
        assertThat(f.reason).isEqualTo("interface eth0 not found");
      });
      assertThat(condition(lb.getStatus().conditions, "Programmed").getReason()).isEqualTo("NodesFailing");
    });
    store.acknowledge("n2", store.versions().get("n2"));
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      LoadBalancer lb = loadBalancer("web");
      assertThat(condition(lb.getStatus().conditions, "Programmed").getStatus()).isEqualTo("True");
      assertThat(condition(lb.getStatus().conditions, "Ready").getStatus()).isEqualTo("True");
    });
    assertThat(client.v1().events().inNamespace(NS).list().getItems())
        .extracting(e -> e.getReason()).contains("Pending", "NodesFailing", "Programmed");
  }

  @Test
  void scalingOneServicesSlicesChangesOnlyTheSnapshotsThatUseIt() {
    createService("web");
    createService("batch");
    client.resource(slice("web-1", "web", endpoint("10.0.1.1", "n1", "web-a", true, true, false))).create();
    client.resource(slice("batch-1", "batch", endpoint("10.0.2.1", "n3", "batch-a", true, true, false))).create();
    createServiceGroup("web", "web", new IntOrString("http"));
    createServiceGroup("batch", "batch", new IntOrString(80));
    createLoadBalancer("web", Map.of("pool", "edge"), listener("http", "10.1.1.1", 80, "web"));
    createLoadBalancer("batch", Map.of("pool", "batch"), listener("http", "10.1.1.2", 80, "batch"));
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(snapshot("n1").flatMap(s -> backend(s, "shop/web", 1))).isPresent();
      assertThat(snapshot("n3").flatMap(s -> backend(s, "shop/batch", 1))).isPresent();
    });
    String batchVersion = store.versions().get("n3");
    String webVersion = store.versions().get("n1");

    client.resource(slice("web-1", "web", endpoint("10.0.1.1", "n1", "web-a", true, true, false),
        endpoint("10.0.1.2", "n2", "web-b", true, true, false))).update();

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(snapshot("n1").flatMap(s -> backend(s, "shop/web", 2))).isPresent();
      assertThat(store.versions().get("n1")).isNotEqualTo(webVersion);
      assertThat(targetGroup("web").getStatus().endpoints.ready).isEqualTo(2);
    });
    assertThat(store.versions().get("n3")).isEqualTo(batchVersion);
  }

  @Test
  void terminatingEndpointsAreDrainedNotCutAndServingTerminatingOnesAreTheFallback() {
    createService("web");
    client.resource(slice("web-1", "web",
        endpoint("10.0.1.1", "n1", "web-a", false, true, true),
        endpoint("10.0.1.2", "n1", "web-b", false, false, true))).create();
    createServiceGroup("web", "web", new IntOrString("http"));
    createLoadBalancer("web", Map.of(), listener("http", "10.1.1.1", 80, "web"));

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      NodeSnapshot n1 = snapshot("n1").orElseThrow();
      assertThat(backend(n1, "shop/web", 1)).map(Backend::getState).hasValue(BackendState.FALLBACK);
      assertThat(backend(n1, "shop/web", 2)).map(Backend::getState).hasValue(BackendState.DRAINING);
      var endpoints = targetGroup("web").getStatus().endpoints;
      assertThat(endpoints.servingTerminating).isEqualTo(1);
      assertThat(endpoints.terminating).isEqualTo(1);
    });
  }

  @Test
  void missingServiceOrGroupIsReportedWithItsReason() {
    createServiceGroup("web", "web", new IntOrString("http"));
    createLoadBalancer("web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    createLoadBalancer("typo", Map.of(), listener("http", "10.1.1.2", 80, "wbe"));

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      Condition groupRefs = condition(targetGroup("web").getStatus().conditions, "ResolvedRefs");
      assertThat(groupRefs.getStatus()).isEqualTo("False");
      assertThat(groupRefs.getReason()).isEqualTo("ServiceNotFound");
      assertThat(groupRefs.getMessage()).contains("Service shop/web not found");
      Condition lbRefs = condition(loadBalancer("web").getStatus().conditions, "ResolvedRefs");
      assertThat(lbRefs.getReason()).isEqualTo("ServiceNotFound");
      Condition typoRefs = condition(loadBalancer("typo").getStatus().conditions, "ResolvedRefs");
      assertThat(typoRefs.getReason()).isEqualTo("TargetGroupNotFound");
      assertThat(typoRefs.getMessage()).contains("spec.listeners[0].targetGroup").contains("TargetGroup shop/wbe not found");
    });

    createService("web");
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(condition(loadBalancer("web").getStatus().conditions, "ResolvedRefs").getStatus()).isEqualTo("True"));
  }

  @Test
  void aSpecTheValidatorRefusesIsNotAccepted() {
    createStaticGroup("web", new StaticBackend("10.1.2.2", 8080, 1));
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace(NS);
    lb.getMetadata().setName("bad");
    lb.setSpec(new LoadBalancerSpec());
    lb.getSpec().interfaces = new ArrayList<>(List.of("eth0"));
    lb.getSpec().natMode = NatMode.DNAT;
    lb.getSpec().snatAddress = "192.168.50.10";
    lb.getSpec().listeners = new ArrayList<>(List.of(listener("http", "10.1.1.1", 80, "web")));
    client.resource(lb).create(); // the mock server does not run CEL; a real one would refuse it here

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      Condition accepted = condition(loadBalancer("bad").getStatus().conditions, "Accepted");
      assertThat(accepted.getStatus()).isEqualTo("False");
      assertThat(accepted.getReason()).isEqualTo("Invalid");
      assertThat(accepted.getMessage()).contains("snatAddress is only used with natMode FullNAT");
      assertThat(snapshot("n1").orElseThrow().getListenersList()).isEmpty();
    });
  }

  @Test
  void deletingALoadBalancerRunsTheFinalizerThatEmptiesItsNodes() {
    createStaticGroup("web", new StaticBackend("10.1.2.2", 8080, 1));
    createLoadBalancer("web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(snapshot("n1").orElseThrow().getListenersCount()).isEqualTo(1));

    client.resource(loadBalancer("web")).delete();

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(loadBalancer("web")).isNull();
      assertThat(snapshot("n1").orElseThrow().getListenersList()).isEmpty();
      assertThat(snapshot("n1").orElseThrow().getTargetGroupsList()).isEmpty();
    });
  }

  @Test
  void drainAnnotationOnAPodCreatesABackendDrainThatCompletesWhenTheEndpointIsGone() {
    createService("web");
    client.resource(slice("web-1", "web", endpoint("10.0.1.1", "n1", "web-a", true, true, false),
        endpoint("10.0.1.2", "n2", "web-b", true, true, false))).create();
    createServiceGroup("web", "web", new IntOrString("http"));
    createLoadBalancer("web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    Pod pod = client.resource(new PodBuilder().withNewMetadata().withNamespace(NS).withName("web-a")
        .addToAnnotations("nodelb.io/drain", "true").addToAnnotations("nodelb.io/drain-timeout", "45s")
        .endMetadata().build()).create();

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      BackendDrain drain = client.resources(BackendDrain.class).inNamespace(NS).withName("pod-web-a").get();
      assertThat(drain).isNotNull();
      assertThat(drain.getSpec().timeout).isEqualTo("45s");
      assertThat(drain.getMetadata().getOwnerReferences()).singleElement()
          .satisfies(o -> assertThat(o.getKind()).isEqualTo("Pod"));
      assertThat(drain.getStatus().phase).isEqualTo(DrainPhase.Draining);
      assertThat(drain.getStatus().target).isEqualTo("pod/web-a");
      assertThat(drain.getStatus().conditions.getFirst().getReason()).isEqualTo(DrainProgress.WAITING_FOR_NODE_REPORTS);
      assertThat(drain.getStatus().conditions.getFirst().getMessage()).contains("waiting for node reports");
      assertThat(backend(snapshot("n1").orElseThrow(), "shop/web", 1)).map(Backend::getState).hasValue(BackendState.DRAINING);
      assertThat(backend(snapshot("n1").orElseThrow(), "shop/web", 2)).map(Backend::getState).hasValue(BackendState.ACTIVE);
    });

    // The pod goes away: its endpoint leaves the slice, so nothing is left to drain.
    client.resource(slice("web-1", "web", endpoint("10.0.1.2", "n2", "web-b", true, true, false))).update();
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      BackendDrain drain = client.resources(BackendDrain.class).inNamespace(NS).withName("pod-web-a").get();
      assertThat(drain.getStatus().phase).isEqualTo(DrainPhase.Drained);
      assertThat(drain.getStatus().finishTime).isNotBlank();
    });
    assertThat(pod.getMetadata().getName()).isEqualTo("web-a");
  }

  @Test
  void removingTheAnnotationCancelsTheDrainAndATimeoutEndsIt() {
    createService("web");
    client.resource(slice("web-1", "web", endpoint("10.0.1.1", "n1", "web-a", true, true, false))).create();
    createServiceGroup("web", "web", new IntOrString("http"));
    createLoadBalancer("web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    client.resource(new PodBuilder().withNewMetadata().withNamespace(NS).withName("web-a")
        .addToAnnotations("nodelb.io/drain", "true").addToAnnotations("nodelb.io/drain-timeout", "3s")
        .endMetadata().build()).create();
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(backend(snapshot("n1").orElseThrow(), "shop/web", 1)).map(Backend::getState).hasValue(BackendState.DRAINING));

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(
        client.resources(BackendDrain.class).inNamespace(NS).withName("pod-web-a").get().getStatus().phase)
        .isEqualTo(DrainPhase.TimedOut));

    client.pods().inNamespace(NS).withName("web-a").edit(p -> {
      p.getMetadata().getAnnotations().remove("nodelb.io/drain");
      return p;
    });
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(client.resources(BackendDrain.class).inNamespace(NS).withName("pod-web-a").get()).isNull();
      assertThat(backend(snapshot("n1").orElseThrow(), "shop/web", 1)).map(Backend::getState).hasValue(BackendState.ACTIVE);
    });
  }

  @Test
  void onlyPodsTheDrainAnnotationConcernsAreCached() {
    for (int i = 0; i < 50; i++) {
      client.resource(new PodBuilder().withNewMetadata().withNamespace(NS).withName("plain-" + i).endMetadata()
          .withNewSpec().withNodeName("n1").addNewContainer().withName("app").withImage("nginx").endContainer().endSpec()
          .build()).create();
    }
    client.resource(new PodBuilder().withNewMetadata().withNamespace(NS).withName("web-a")
        .addToAnnotations("nodelb.io/drain", "true").endMetadata().build()).create();
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(client.resources(BackendDrain.class).inNamespace(NS).withName("pod-web-a").get()).isNotNull());
    assertThat(operator.cachedPods()).as("51 pods, one asks for a drain").isEqualTo(1);

    // An unannotated pod that starts asking is an add for the reconciler, as before.
    client.pods().inNamespace(NS).withName("plain-7").edit(p -> {
      p.getMetadata().setAnnotations(Map.of("nodelb.io/drain", "true"));
      return p;
    });
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(client.resources(BackendDrain.class).inNamespace(NS).withName("pod-plain-7").get()).isNotNull());
    assertThat(operator.cachedPods()).isEqualTo(2);

    // Removing the annotation undrains; the pod stays cached (slim, unannotated) until it is deleted.
    client.pods().inNamespace(NS).withName("plain-7").edit(p -> {
      p.getMetadata().setAnnotations(Map.of());
      return p;
    });
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(client.resources(BackendDrain.class).inNamespace(NS).withName("pod-plain-7").get()).isNull());
    client.pods().inNamespace(NS).withName("plain-7").delete();
    client.pods().inNamespace(NS).withName("plain-8").delete();
    await().atMost(WAIT).untilAsserted(() -> assertThat(operator.cachedPods()).isEqualTo(1));
  }

  @Test
  void drainAnnotationOnANodeDrainsItsEndpointsAndOwnsTheDrain() {
    createService("web");
    client.resource(slice("web-1", "web", endpoint("10.0.1.1", "n1", "web-a", true, true, false),
        endpoint("10.0.1.2", "n2", "web-b", true, true, false))).create();
    createServiceGroup("web", "web", new IntOrString("http"));
    createLoadBalancer("web", Map.of("pool", "edge"), listener("http", "10.1.1.1", 80, "web"));
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(snapshot("n1").flatMap(s -> backend(s, "shop/web", 2))).isPresent());

    client.nodes().withName("n2").edit(n -> {
      n.getMetadata().setAnnotations(Map.of("nodelb.io/drain", "true"));
      return n;
    });

    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      BackendDrain drain = client.resources(BackendDrain.class).inNamespace("nodelb-system").withName("node-n2").get();
      assertThat(drain).isNotNull();
      assertThat(drain.getSpec().node.name).isEqualTo("n2");
      NodeSnapshot n1 = snapshot("n1").orElseThrow();
      assertThat(backend(n1, "shop/web", 2)).map(Backend::getState).hasValue(BackendState.DRAINING);
      assertThat(backend(n1, "shop/web", 1)).map(Backend::getState).hasValue(BackendState.ACTIVE);
      assertThat(snapshot("n2").orElseThrow().getListenersCount()).as("the drained node keeps its listeners").isEqualTo(1);
    });
  }
}
