package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * deploy/nodelb.yaml, the install without Helm ({@code kubectl apply -f deploy/nodelb.yaml}), is
 * the chart rendered with its defaults for a release "nodelb" in "nodelb-system", after the
 * namespace itself. It must equal a fresh rendering; {@code -Dnodelb.regenerate=true} writes it.
 */
@EnableKubernetesMockClient(crud = true)
class DeployManifestsTest {
    static final Path FILE = Chart.TOP.resolve("deploy/nodelb.yaml");
    static final String REGENERATE = "./mvnw -B -o -pl helm -am -Dtest=DeployManifestsTest"
            + " -Dsurefire.failIfNoSpecifiedTests=false -Dnodelb.regenerate=true verify";

    KubernetesClient client;

    static String expected() {
        return """
                # nodelb, installed without Helm: kubectl apply -f deploy/nodelb.yaml
                # The Helm chart (helm/nodelb) rendered with its defaults for the release "nodelb" in the
                # namespace "nodelb-system". Generated: do not edit. A test fails when it differs from the chart;
                # regenerate with
                #   %s
                # The images it names are not published yet: see docs/install.md.
                ---
                # The agents run privileged pods (host network, bpffs, three capabilities).
                apiVersion: v1
                kind: Namespace
                metadata:
                  name: %s
                  labels:
                    pod-security.kubernetes.io/enforce: privileged
                """.formatted(REGENERATE, Chart.NAMESPACE) + Chart.render().yaml();
    }

    @Test
    void theFileIsTheChartRenderedWithItsDefaults() throws IOException {
        String expected = expected();
        if (Boolean.getBoolean("nodelb.regenerate")) {
            Files.writeString(FILE, expected);
        }
        assertThat(FILE).as("deploy/nodelb.yaml").exists();
        assertThat(Files.readString(FILE))
                .as("deploy/nodelb.yaml is stale (the chart changed); regenerate it with:%n  %s%n", REGENERATE)
                .isEqualTo(expected);
    }

    @Test
    void everyObjectOfTheFileIsStrictlyTypedAndApplies() throws IOException {
        List<HasMetadata> objects = Chart.parse(Files.readString(FILE));
        assertThat(objects).extracting(HasMetadata::getKind).contains("Namespace", "CustomResourceDefinition",
                "Deployment", "DaemonSet", "ClusterRole", "Service");
        // Namespace first, then the CRDs, as kubectl applies a file in order.
        List<HasMetadata> ordered = objects.stream().sorted(Comparator.comparing(
                o -> o instanceof Namespace ? 0 : o instanceof CustomResourceDefinition ? 1 : 2)).toList();
        for (HasMetadata object : ordered) {
            assertThat(client.resource(object).create().getMetadata().getUid())
                    .as("%s/%s created", object.getKind(), object.getMetadata().getName()).isNotBlank();
        }
    }
}
