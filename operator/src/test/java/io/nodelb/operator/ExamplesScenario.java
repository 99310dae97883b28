package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What a user does first, as a test: apply the CRDs from crds/generated/ and the files of
 * deploy/examples/ (plus the Services and EndpointSlices the Service-backed example names), start
 * the operator and read the status. Run against k3s ({@link K3sClusterIT}) and against Fabric8's
 * mock server ({@link ExamplesIT}), so the scenario itself is exercised where Docker is missing.
 */
final class ExamplesScenario {
  static final Path CRDS = Path.of("../crds/generated");
  static final Path EXAMPLES = Path.of("../deploy/examples");
  static final String OPERATOR_NS = "nodelb-system";
  static final String SHOP = "shop";
  private static final Duration WAIT = Duration.ofSeconds(90);

  private final KubernetesClient client;
  private final String nodeName;
  private List<HasMetadata> examples = List.of();

  ExamplesScenario(KubernetesClient client, String nodeName) {
    this.client = client;
    this.nodeName = nodeName;
  }

  /** The CRDs as kubectl would apply them; returns them as created. */
  static List<CustomResourceDefinition> createCrds(KubernetesClient client) throws IOException {
    List<CustomResourceDefinition> created = new ArrayList<>();
    try (Stream<Path> files = Files.list(CRDS)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".yml")).sorted().toList()) {
        try (InputStream in = Files.newInputStream(file)) {
          created.add(client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class))
              .create());
        }
      }
    }
    assertThat(created).as("CRD files in %s", CRDS).hasSize(3);
    return created;
  }

  /**
   * The node labelled as the Service-backed example wants, the namespaces, the Services and their
   * slices, and every example, the drains included: they exist before the operator starts, as after
   * a restart, and must wait for the model to hold what they drain ({@link #checkDrains}).
   */
  void createInputs() throws IOException {
    for (String namespace : List.of(OPERATOR_NS, SHOP)) {
      client.resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
    }
    client.nodes().withName(nodeName).edit(n -> {
      Map<String, String> labels = new HashMap<>(n.getMetadata().getLabels() == null ? Map.of() : n.getMetadata().getLabels());
      labels.put("node-role.kubernetes.io/ingress", ""); // services-fullnat selects these
      n.getMetadata().setLabels(labels);
      return n;
    });
    createServiceWithSlice("api", 80, "10.42.7.10", "api-7d4b9c-x2k9p", "10.42.7.11", "api-7d4b9c-q8r2m");
    createServiceWithSlice("api-canary", 8080, "10.42.8.10", "api-canary-5f6c7-zt4wn");
    examples = apply(exampleFiles());
    assertThat(examples).extracting(HasMetadata::getKind).contains("LoadBalancer", "TargetGroup", "BackendDrain");
  }

  /** Every example LoadBalancer and TargetGroup is accepted with its references resolved, waiting for agents. */
  void checkAcceptedAndAwaitingAgents() {
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      for (HasMetadata lb : ofKind("LoadBalancer")) {
        LoadBalancer current = loadBalancer(lb);
        String name = lb.getMetadata().getName();
        assertThat(status(current.getStatus().conditions, "Accepted")).as(name).isEqualTo("True");
        assertThat(status(current.getStatus().conditions, "ResolvedRefs")).as(name).isEqualTo("True");
        Condition programmed = Conditions.find(current.getStatus().conditions, "Programmed");
        assertThat(programmed.getReason()).as(name).isEqualTo("Pending");
        assertThat(current.getStatus().nodes.desired).as(name).isEqualTo(1);
        assertThat(current.getMetadata().getFinalizers()).as(name).contains(LoadBalancerReconciler.FINALIZER);
        assertThat(current.getStatus().observedGeneration).as(name).isEqualTo(current.getMetadata().getGeneration());
      }
      for (HasMetadata tg : ofKind("TargetGroup")) {
        TargetGroup current = client.resources(TargetGroup.class).inNamespace(namespaceOf(tg))
            .withName(tg.getMetadata().getName()).get();
        String name = tg.getMetadata().getName();
        assertThat(status(current.getStatus().conditions, "Accepted")).as(name).isEqualTo("True");
        assertThat(status(current.getStatus().conditions, "ResolvedRefs")).as(name).isEqualTo("True");
      }
      TargetGroup api = client.resources(TargetGroup.class).inNamespace(SHOP).withName("api").get();
      assertThat(api.getStatus().endpoints.ready).isEqualTo(3);
    });
  }

  /**
   * The drain examples: a Pod in shop and an address in default are DRAINING in the node's snapshot
   * and their drains stay Draining; the drain of a node without endpoints has nothing to drain.
   */
  void checkDrains(SnapshotStore store) {
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      NodeSnapshot snapshot = store.snapshot(nodeName).orElseThrow();
      assertThat(snapshot.getListenersList()).extracting(l -> l.getName()).contains(
          "default/web/http", "default/edge/https-v6", "default/routed/http-any", "shop/api/https");
      assertThat(backend(snapshot, "shop/api", "10.42.7.10").getState()).isEqualTo(BackendState.DRAINING);
      assertThat(backend(snapshot, "shop/api", "10.42.7.11").getState()).isEqualTo(BackendState.ACTIVE);
      assertThat(backend(snapshot, "default/web", "10.1.3.2").getState()).isEqualTo(BackendState.DRAINING);
      assertThat(drain(SHOP, "drain-web-1").getStatus().phase).isEqualTo(DrainPhase.Draining);
      assertThat(drain("default", "drain-legacy").getStatus().phase).isEqualTo(DrainPhase.Draining);
      assertThat(drain("default", "drain-worker-3").getStatus().phase).isEqualTo(DrainPhase.Drained);
    });
  }

  /** The node's agent (simulated: what the snapshot server records) connects and ACKs: everything is Ready. */
  void acknowledgeAndCheckReady(SnapshotStore store) {
    store.agentConnected(nodeName, "test", java.time.Instant.now());
    await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      store.acknowledge(nodeName, store.versions().get(nodeName));
      for (HasMetadata lb : ofKind("LoadBalancer")) {
        LoadBalancer current = loadBalancer(lb);
        String name = lb.getMetadata().getName();
        assertThat(status(current.getStatus().conditions, "Programmed")).as(name).isEqualTo("True");
        assertThat(status(current.getStatus().conditions, "Ready")).as(name).isEqualTo("True");
        assertThat(current.getStatus().nodes.programmed).as(name).isEqualTo(1);
      }
    });
  }

  // ---- helpers ----

  /** A Service without selector and the EndpointSlice we manage for it (the slice controller leaves it alone). */
  private void createServiceWithSlice(String name, int port, String... addressesAndPods) {
    client.resource(new ServiceBuilder().withNewMetadata().withNamespace(SHOP).withName(name).endMetadata()
        .withNewSpec().addNewPort().withName("http").withPort(port).withProtocol("TCP")
        .withTargetPort(new IntOrString(8080)).endPort().endSpec().build()).create();
    var slice = new EndpointSliceBuilder().withNewMetadata().withNamespace(SHOP).withName(name + "-1")
        .addToLabels("kubernetes.io/service-name", name)
        .addToLabels("endpointslice.kubernetes.io/managed-by", "nodelb-tests").endMetadata()
        .withAddressType("IPv4").addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort();
    for (int i = 0; i < addressesAndPods.length; i += 2) {
      slice.addToEndpoints(new EndpointBuilder().withAddresses(addressesAndPods[i]).withNodeName(nodeName)
          .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions()
          .withNewTargetRef().withKind("Pod").withNamespace(SHOP).withName(addressesAndPods[i + 1]).endTargetRef()
          .build());
    }
    client.resource(slice.build()).create();
  }

  /** The files of deploy/examples/, sorted. */
  private static List<Path> exampleFiles() throws IOException {
    try (Stream<Path> files = Files.list(EXAMPLES)) {
      return files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
    }
  }

  /** Every document of the files, created as written (no namespace: default). */
  private List<HasMetadata> apply(List<Path> files) throws IOException {
    List<HasMetadata> created = new ArrayList<>();
    for (Path file : files) {
      try (InputStream in = Files.newInputStream(file)) {
        for (HasMetadata item : client.load(in).items()) {
          created.add(client.resource(item).inNamespace(namespaceOf(item)).create());
        }
      }
    }
    assertThat(created).as("documents in %s", files).isNotEmpty();
    return created;
  }

  private List<HasMetadata> ofKind(String kind) {
    return examples.stream().filter(o -> kind.equals(o.getKind())).toList();
  }

  private static String namespaceOf(HasMetadata object) {
    String namespace = object.getMetadata().getNamespace();
    return namespace == null || namespace.isEmpty() ? "default" : namespace;
  }

  private LoadBalancer loadBalancer(HasMetadata lb) {
    return client.resources(LoadBalancer.class).inNamespace(namespaceOf(lb)).withName(lb.getMetadata().getName()).get();
  }

  private BackendDrain drain(String namespace, String name) {
    return client.resources(BackendDrain.class).inNamespace(namespace).withName(name).get();
  }

  private static String status(List<Condition> conditions, String type) {
    Condition condition = Conditions.find(conditions, type);
    return condition == null ? null : condition.getStatus();
  }

  private static Backend backend(NodeSnapshot snapshot, String group, String address) {
    var bytes = com.google.protobuf.ByteString.copyFrom(InetAddress.ofLiteral(address).getAddress());
    return snapshot.getTargetGroupsList().stream().filter(g -> g.getName().equals(group))
        .flatMap(g -> g.getBackendsList().stream()).filter(b -> b.getAddress().equals(bytes))
        .findFirst().orElseThrow(() -> new AssertionError("no backend " + address + " in " + group));
  }
}
