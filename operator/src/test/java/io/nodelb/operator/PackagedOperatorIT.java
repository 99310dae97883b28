package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import java.io.File;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The packaged Quarkus application (target/quarkus-app/quarkus-run.jar), started as its own
 * process with nothing but a kubeconfig, reconciles a LoadBalancer on the mock API server.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class PackagedOperatorIT {
  KubernetesClient client;

  @Test
  void theJarStartsAgainstAKubeconfigAndReconciles() throws Exception {
    Path jar = Path.of("target/quarkus-app/quarkus-run.jar");
    assertThat(jar).as("run after `package`").exists();
    for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
      try (InputStream in = getClass().getResourceAsStream("/META-INF/fabric8/" + crd + ".nodelb.io-v1.yml")) {
        client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class)).create();
      }
    }
    client.resource(new NodeBuilder().withNewMetadata().withName("n1").endMetadata().build()).create();
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace("default");
    tg.getMetadata().setName("web");
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().backends = new ArrayList<>(List.of(new StaticBackend("10.1.2.2", 8080, 1)));
    client.resource(tg).create();
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace("default");
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
    File log = new File("target/packaged-operator-it.log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder command = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow",
        // Only what the mock server cannot do differs from production:
        "-Dnodelb.leader-election.enabled=false", "-Dnodelb.status.server-side-apply=false", "-Dnodelb.check-crds=false",
        // A free port for the snapshot server: others may run one on this machine.
        "-Dnodelb.grpc.port=0",
        "-jar", jar.toString())
        .redirectErrorStream(true).redirectOutput(log);
    command.environment().put("KUBECONFIG", kubeconfig.toString());
    Process operator = command.start();
    try {
      await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
        assertThat(operator.isAlive()).as("operator process, see %s", log).isTrue();
        LoadBalancer current = client.resources(LoadBalancer.class).inNamespace("default").withName("web").get();
        assertThat(Conditions.find(current.getStatus().conditions, "Accepted").getStatus()).isEqualTo("True");
        assertThat(Conditions.find(current.getStatus().conditions, "Programmed").getReason()).isEqualTo("Pending");
      });
    } finally {
      operator.destroy();
      if (!operator.waitFor(20, TimeUnit.SECONDS)) {
        operator.destroyForcibly();
      }
      Files.deleteIfExists(kubeconfig);
    }
  }
}
