package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.nodelb.api.v1alpha1.LoadBalancer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * The cluster tier: a real API server (k3s in Docker, through Testcontainers). It proves what
 * Fabric8's mock server cannot: the generated CRDs are accepted with their CEL rules (the API server
 * compiles each rule and checks its cost budget), the rules refuse invalid objects with the messages
 * we wrote, and the operator with production settings (status through server-side apply, leader
 * election, CRD check) reconciles deploy/examples/ ({@link ExamplesScenario}).
 *
 * <p>Needs a Docker engine. Where none runs the class is skipped, also under {@code CI=true}: unlike
 * the privileged tiers it is not {@code @Privileged}, because a machine without Docker is a normal
 * place to build nodelb ({@link ExamplesIT} runs the same scenario on the mock server there).
 * Image: {@code -Dnodelb.k3s.image=...}; k3s 1.31 or later (the CEL {@code isIP} function).
 */
@Testcontainers
@EnabledIf(value = "io.nodelb.operator.K3sClusterIT$Docker#runs", disabledReason = "no Docker engine runs here, so no k3s. On a real API server"
    + " K3sClusterIT would check: the CRDs are accepted with their CEL rules, each file of"
    + " crd-validation/src/test/resources/invalid is refused with its rule's message, and the operator with production"
    + " settings (status by server-side apply, leader election, CRD check) reconciles deploy/examples/ until Ready."
    + " ExamplesIT runs the same scenario on the mock API server.")
class K3sClusterIT {
  private static final String IMAGE = System.getProperty("nodelb.k3s.image", "rancher/k3s:v1.31.5-k3s1");
  private static final Path INVALID = Path.of("../crd-validation/src/test/resources/invalid");

  @Container
  static final K3sContainer K3S = new K3sContainer(DockerImageName.parse(IMAGE));

  static KubernetesClient client;
  static String nodeName;

  /** Apart, so that asking does not initialize the class (its K3sContainer needs Docker at once). */
  static final class Docker {
    static boolean runs() {
      return DockerClientFactory.instance().isDockerAvailable();
    }
  }

  @BeforeAll
  static void createCrds() throws IOException {
    client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(K3S.getKubeConfigYaml())).build();
    for (CustomResourceDefinition crd : ExamplesScenario.createCrds(client)) {
      client.apiextensions().v1().customResourceDefinitions().withName(crd.getMetadata().getName())
          .waitUntilCondition(K3sClusterIT::established, 60, TimeUnit.SECONDS);
    }
    nodeName = await().atMost(Duration.ofSeconds(60)).until(() -> client.nodes().list().getItems(), n -> !n.isEmpty())
        .getFirst().getMetadata().getName();
  }

  @AfterAll
  static void closeClient() {
    if (client != null) {
      client.close();
    }
  }

  private static boolean established(CustomResourceDefinition crd) {
    return crd != null && crd.getStatus() != null && crd.getStatus().getConditions().stream()
        .anyMatch(c -> "Established".equals(c.getType()) && "True".equals(c.getStatus()));
  }

  @Test
  void celRulesRefuseInvalidObjectsWithTheirMessages() throws IOException {
    List<Path> invalid;
    try (Stream<Path> files = Files.list(INVALID)) {
      invalid = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
    }
    // The same files and messages that crd-validation's validator is held to, here against the real thing.
    assertThat(invalid).as("files in %s", INVALID).hasSizeGreaterThanOrEqualTo(100);

    for (Path file : invalid) {
      String expected = header(file, "expect");
      assertThat(expected).as("%s: '# expect:' header", file).isNotBlank();
      // Sent as written (generic, so no Java defaults are added on the way).
      GenericKubernetesResource object =
          client.getKubernetesSerialization().unmarshal(Files.readString(file), GenericKubernetesResource.class);
      assertThatThrownBy(() -> client.resource(object).inNamespace("default").create())
          .as("%s must be refused by the API server", file.getFileName())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
            assertThat(e.getCode()).as("%s: HTTP status", file.getFileName()).isEqualTo(422);
            assertThat(e.getMessage()).as("%s: the rule's message", file.getFileName()).contains(expected);
          });
    }
  }

  @Test
  void theOperatorWithProductionSettingsReconcilesTheExamples() throws Exception {
    ExamplesScenario scenario = new ExamplesScenario(client, nodeName);
    scenario.createInputs();

    InMemorySnapshotStore store = new InMemorySnapshotStore();
    // Production settings (server-side apply for status, leader election, CRD check), except that
    // losing the Lease must not end the test JVM.
    OperatorSettings settings = new OperatorSettings(true, true, ExamplesScenario.OPERATOR_NS, true, false);
    try (NodelbOperator operator = NodelbOperator.create(client, settings, store)) {
      operator.start();
      scenario.checkAcceptedAndAwaitingAgents();

      // What only a real API server shows: status written by server-side apply, the Lease, Events.
      LoadBalancer web = client.resources(LoadBalancer.class).inNamespace("default").withName("web").get();
      assertThat(web.getMetadata().getManagedFields())
          .as("a managedFields entry written by apply on the status subresource")
          .anySatisfy((ManagedFieldsEntry m) -> {
            assertThat(m.getOperation()).isEqualTo("Apply");
            assertThat(m.getSubresource()).isEqualTo("status");
          });
      assertThat(client.leases().inNamespace(ExamplesScenario.OPERATOR_NS).withName(OperatorSettings.LEASE_NAME).get()
          .getSpec().getHolderIdentity()).isNotBlank();
      assertThat(client.v1().events().inNamespace("default").list().getItems())
          .as("the API server accepted the operator's Events about LoadBalancer web")
          .filteredOn(e -> "LoadBalancer".equals(e.getInvolvedObject().getKind())
              && "web".equals(e.getInvolvedObject().getName()))
          .isNotEmpty()
          .allSatisfy(e -> assertThat(e.getSource().getComponent()).isEqualTo(EventRecorder.COMPONENT));

      scenario.checkDrains(store);
      scenario.acknowledgeAndCheckReady(store);
    }
  }

  /** The value of a "# name: value" line in the comment block at the top of a test file. */
  private static String header(Path file, String name) {
    try {
      return Files.readAllLines(file).stream()
          .takeWhile(l -> l.startsWith("#"))
          .filter(l -> l.startsWith("# " + name + ":"))
          .map(l -> l.substring(name.length() + 3).trim())
          .findFirst().orElse(null);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
