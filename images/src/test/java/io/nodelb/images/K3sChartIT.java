package io.nodelb.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Container.ExecResult;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

/**
 * The install path users take, on a real cluster: the images this build made are imported into
 * k3s (in Docker, through Testcontainers), the chart is installed with helm-java with its defaults
 * (the operator makes its own CA and the control channel's Secrets), every pod becomes ready, and
 * a LoadBalancer applied with kubectl's server-side apply is programmed by the agent on the node:
 * Programmed=True, which the operator sets only when the node's agent acknowledged the snapshot.
 *
 * <p>Needs a Docker engine; where none runs it is skipped with what it would have checked, also under
 * {@code CI=true} (a machine without Docker is a normal place to build nodelb). ImagesIT runs both
 * images' entrypoints here, and the helm module renders, lints and applies the chart to the mock API
 * server. Image: {@code -Dnodelb.k3s.image=...}; k3s 1.31 or later (the CRDs' CEL isIP()).
 */
@Testcontainers
@EnabledIf(value = "io.nodelb.images.K3sChartIT$Docker#runs", disabledReason = "no Docker engine runs here, so no"
        + " k3s. On a real cluster K3sChartIT would check: both image tarballs import into containerd, the chart"
        + " installs with its defaults and every pod becomes ready (the operator's own CA and the control"
        + " channel's Secrets included), and a LoadBalancer applied by server-side apply becomes Programmed,"
        + " acknowledged by the node's agent over gRPC.")
class K3sChartIT {
    private static final String IMAGE = System.getProperty("nodelb.k3s.image", "rancher/k3s:v1.31.5-k3s1");
    private static final Path TARGET = Path.of("target");
    private static final Path CHART = Path.of("../helm/nodelb").toAbsolutePath().normalize();
    private static final String VERSION = System.getProperty("nodelb.version", "0.1.0-SNAPSHOT");
    private static final String NAMESPACE = "nodelb-system";
    private static final Duration WAIT = Duration.ofMinutes(5);

    @Container
    static final K3sContainer K3S = new K3sContainer(DockerImageName.parse(IMAGE));

    static KubernetesClient client;

    /** Apart, so that asking does not initialize the class (its K3sContainer needs Docker at once). */
    static final class Docker {
        static boolean runs() {
            return DockerClientFactory.instance().isDockerAvailable();
        }
    }

    @BeforeAll
    static void importImagesAndInstallTheChart() throws Exception {
        for (String tar : List.of("nodelb-agent-image.tar", "nodelb-operator-image.tar")) {
            K3S.copyFileToContainer(MountableFile.forHostPath(TARGET.resolve(tar)), "/tmp/" + tar);
            ExecResult imported = K3S.execInContainer("ctr", "-n", "k8s.io", "images", "import", "/tmp/" + tar);
            assertThat(imported.getExitCode()).as("ctr images import %s: %s", tar, imported.getStderr()).isZero();
        }
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(K3S.getKubeConfigYaml())).build();

        new Helm(CHART).install().withName("nodelb").withNamespace(NAMESPACE).createNamespace()
                .withKubeConfigContents(K3S.getKubeConfigYaml())
                .set("operator.replicas", "1")
                .set("operator.image.repository", "nodelb-operator").set("operator.image.tag", VERSION)
                .set("operator.image.pullPolicy", "Never")
                .set("agent.image.repository", "nodelb-agent").set("agent.image.tag", VERSION)
                .set("agent.image.pullPolicy", "Never")
                .waitReady().withTimeout((int) WAIT.toSeconds())
                .call();
    }

    @AfterAll
    static void close() {
        if (client != null) {
            client.close();
        }
    }

    @Test
    void theInstalledChartProgramsALoadBalancerOnTheNode() {
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(client.apps().deployments().inNamespace(NAMESPACE).withName("nodelb-operator").get()
                    .getStatus().getReadyReplicas()).as("ready operator replicas").isEqualTo(1);
            var agents = client.apps().daemonSets().inNamespace(NAMESPACE).withName("nodelb-agent").get().getStatus();
            assertThat(agents.getNumberReady()).as("ready agents").isEqualTo(agents.getDesiredNumberScheduled())
                    .isPositive();
        });

        // The k3s node's interface is eth0; the backends need not exist for the node to be programmed.
        String manifests = """
                apiVersion: nodelb.io/v1alpha1
                kind: TargetGroup
                metadata: {name: web, namespace: default}
                spec:
                  backends:
                  - {address: 10.1.2.2, port: 8080, weight: 3}
                  - {address: 10.1.3.2, port: 8080, weight: 1}
                ---
                apiVersion: nodelb.io/v1alpha1
                kind: LoadBalancer
                metadata: {name: web, namespace: default}
                spec:
                  interfaces: [eth0]
                  natMode: DNAT
                  listeners:
                  - {name: http, address: 10.1.1.1, port: 80, protocol: TCP, targetGroup: web}
                """;
        for (HasMetadata object : client.load(new java.io.ByteArrayInputStream(manifests.getBytes())).items()) {
            client.resource(object).fieldManager("k3s-chart-it").forceConflicts().serverSideApply();
        }

        await().atMost(WAIT).untilAsserted(() -> {
            GenericKubernetesResource lb = client.genericKubernetesResources("nodelb.io/v1alpha1", "LoadBalancer")
                    .inNamespace("default").withName("web").get();
            assertThat(condition(lb, "Programmed")).as("LoadBalancer web: Programmed").isEqualTo("True");
        });
    }

    @SuppressWarnings("unchecked")
    private static String condition(GenericKubernetesResource object, String type) {
        Map<String, Object> status = (Map<String, Object>) object.getAdditionalProperties().get("status");
        if (status == null || !(status.get("conditions") instanceof List<?> conditions)) {
            return null;
        }
        return conditions.stream().map(c -> (Map<String, Object>) c).filter(c -> type.equals(c.get("type")))
                .map(c -> (String) c.get("status")).findFirst().orElse(null);
    }
}
