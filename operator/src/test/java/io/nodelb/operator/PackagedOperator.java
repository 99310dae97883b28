package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.operator.channel.TestAgent;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The packaged Quarkus application (operator/target/quarkus-app/quarkus-run.jar) started as its own
 * process against a Fabric8 mock API server, with nothing but a kubeconfig; its HTTP endpoints
 * (/q/health/*, /q/metrics) are read over real HTTP. Also used by the chart's tests (module helm)
 * for a real scrape of the operator.
 */
public final class PackagedOperator implements AutoCloseable {
  private final Process process;
  private final Path kubeconfig;
  private final File log;
  private final int httpPort;
  private final int grpcPort;
  private final HttpClient http = HttpClient.newHttpClient();

  private PackagedOperator(Process process, Path kubeconfig, File log, int httpPort, int grpcPort) {
    this.process = process;
    this.kubeconfig = kubeconfig;
    this.log = log;
    this.httpPort = httpPort;
    this.grpcPort = grpcPort;
  }

  /**
   * Starts the jar at {@code jar} against {@code client}'s mock server; the snapshot server runs in
   * plaintext (no token review on the mock) on a free port. Logs go to {@code log}.
   */
  public static PackagedOperator start(Path jar, KubernetesClient client, File log) throws IOException {
    assertThat(jar).as("the packaged operator: run after `package` of module operator").exists();
    Path kubeconfig = Files.createTempFile("nodelb-kubeconfig", ".yaml");
    Files.writeString(kubeconfig, """
        apiVersion: v1
        kind: Config
        clusters:
        - name: mock
          cluster: {server: "%s"}
        users:
        - name: tester
          user: {token: not-checked}
        contexts:
        - name: mock
          context: {cluster: mock, user: tester, namespace: default}
        current-context: mock
        """.formatted(client.getMasterUrl()));
    int httpPort = freePort();
    int grpcPort = freePort();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder command = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow",
        // Only what the mock server cannot do differs from production:
        "-Dnodelb.leader-election.enabled=false", "-Dnodelb.status.server-side-apply=false", "-Dnodelb.check-crds=false",
        "-Dnodelb.grpc.plaintext=true", "-Dnodelb.agent.connect-grace=1s",
        // Free ports: other tests may run an operator on this machine.
        "-Dnodelb.grpc.port=" + grpcPort, "-Dquarkus.http.port=" + httpPort,
        "-jar", jar.toString())
        .redirectErrorStream(true).redirectOutput(log);
    command.environment().put("KUBECONFIG", kubeconfig.toString());
    return new PackagedOperator(command.start(), kubeconfig, log, httpPort, grpcPort);
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  public int grpcPort() {
    return grpcPort;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** GET http://127.0.0.1:PORT{path}. */
  public HttpResponse<String> get(String path) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new UncheckedIOException("GET " + path + " (operator log: " + log + ")", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() throws IOException {
    process.destroy();
    try {
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    http.close();
    Files.deleteIfExists(kubeconfig);
  }

  /**
   * A small cluster that moves every gauge the alerts read off zero, for a scrape: the CRDs, a
   * Node n1, a TargetGroup and a LoadBalancer "web" in default, a BackendDrain of its backend; an
   * agent of n1 that NACKs both snapshots it gets. Once the statuses say so, returns /q/metrics as scraped
   * while that agent is still connected.
   */
  public static String refusingNodeScenario(PackagedOperator operator, KubernetesClient client) throws Exception {
    for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
      try (InputStream in = PackagedOperator.class.getResourceAsStream("/META-INF/fabric8/" + crd + ".nodelb.io-v1.yml")) {
        client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class)).create();
      }
    }
    client.resource(new NodeBuilder().withNewMetadata().withName("n1").endMetadata().build()).create();
    for (String yaml : List.of("""
        apiVersion: nodelb.io/v1alpha1
        kind: TargetGroup
        metadata: {name: web, namespace: default}
        spec:
          backends: [{address: 10.1.2.2, port: 8080, weight: 1}]
        """, """
        apiVersion: nodelb.io/v1alpha1
        kind: LoadBalancer
        metadata: {name: web, namespace: default}
        spec:
          interfaces: [eth0]
          listeners: [{name: http, address: 10.1.1.1, port: 80, targetGroup: web}]
        """)) {
      client.resource(client.getKubernetesSerialization().unmarshal(yaml, HasMetadata.class)).create();
    }
    await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
      assertThat(operator.isAlive()).as("operator process, see %s", operator.log).isTrue();
      LoadBalancer lb = client.resources(LoadBalancer.class).inNamespace("default").withName("web").get();
      assertThat(Conditions.find(lb.getStatus().conditions, "Accepted").getStatus()).isEqualTo("True");
    });
    try (TestAgent agent = TestAgent.connect(TestAgent.plaintext(operator.grpcPort()), null, TestAgent.hello("n1"))) {
      agent.nack(agent.next(Duration.ofSeconds(30)), "test: capacity");
      client.resource(client.getKubernetesSerialization().unmarshal("""
          apiVersion: nodelb.io/v1alpha1
          kind: BackendDrain
          metadata: {name: web-be, namespace: default}
          spec:
            backend: {address: 10.1.2.2, port: 8080}
          """, HasMetadata.class)).create();
      // The drain changes n1's snapshot (its backend DRAINING): refused too.
      agent.nack(agent.next(Duration.ofSeconds(30)), "test: capacity");
      await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
        LoadBalancer lb = client.resources(LoadBalancer.class).inNamespace("default").withName("web").get();
        assertThat(lb.getStatus().nodes.failing).as("n1 NACKed").isNotEmpty();
        BackendDrain drain = client.resources(BackendDrain.class).inNamespace("default").withName("web-be").get();
        assertThat(drain.getStatus().phase).isEqualTo(DrainPhase.Draining);
      });
      HttpResponse<String> metrics = operator.get("/q/metrics");
      assertThat(metrics.statusCode()).as("/q/metrics").isEqualTo(200);
      return metrics.body();
    }
  }
}
