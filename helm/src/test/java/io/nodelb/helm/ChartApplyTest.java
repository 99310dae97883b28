package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The rendered chart, everything on, applied to Fabric8's mock API server (CRUD mode): every
 * object is accepted and reads back as written. A real API server (admission, CEL, RBAC
 * escalation checks) is the k3s tier's job, not this one's.
 */
@EnableKubernetesMockClient(crud = true)
class ChartApplyTest {

    KubernetesClient client;

    @Test
    void everyRenderedObjectAppliesAndReadsBack() {
        List<HasMetadata> objects = Chart.render("metrics.serviceMonitor.enabled", "true",
                "metrics.prometheusRule.enabled", "true", "metrics.dashboard.enabled", "true").objects();
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(Chart.NAMESPACE).endMetadata()
                .build()).create();

        // CRDs first, as Helm installs them.
        List<HasMetadata> ordered = objects.stream()
                .sorted(Comparator.comparing(o -> o instanceof CustomResourceDefinition ? 0 : 1)).toList();
        for (HasMetadata object : ordered) {
            HasMetadata created = client.resource(object).create();
            assertThat(created.getMetadata().getUid()).as("%s/%s created", object.getKind(),
                    object.getMetadata().getName()).isNotBlank();
        }

        for (HasMetadata object : objects) {
            HasMetadata read = client.resource(object).get();
            assertThat(read).as("%s/%s read back", object.getKind(), object.getMetadata().getName()).isNotNull();
            assertThat(Chart.SERIALIZATION.convertValue(read, java.util.Map.class).get("spec"))
                    .as("%s/%s spec as written", object.getKind(), object.getMetadata().getName())
                    .isEqualTo(Chart.SERIALIZATION.convertValue(object, java.util.Map.class).get("spec"));
        }
        assertThat(client.apps().daemonSets().inNamespace(Chart.NAMESPACE).withName("nodelb-agent").get()
                .getSpec().getTemplate().getSpec().getContainers().getFirst().getSecurityContext().getCapabilities()
                .getAdd()).containsExactly("BPF", "NET_ADMIN", "PERFMON");
    }
}
