package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The files the chart carries: the CRDs as generated, a dashboard Grafana can read. */
class ChartFilesTest {

    @Test
    void theChartsCrdsAreExactlyTheGeneratedOnes() throws Exception {
        Path generated = Chart.TOP.resolve("crds/generated");
        Path copies = Chart.DIR.resolve("files/crds");
        List<String> names;
        try (Stream<Path> files = Files.list(generated)) {
            names = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yml")).sorted().toList();
        }
        try (Stream<Path> files = Files.list(copies)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList())
                    .as("helm/nodelb/files/crds/ holds exactly crds/generated/*.yml").isEqualTo(names);
        }
        for (String name : names) {
            assertThat(Files.readString(copies.resolve(name)))
                    .as("helm/nodelb/files/crds/%s is stale: cp crds/generated/*.yml helm/nodelb/files/crds/", name)
                    .isEqualTo(Files.readString(generated.resolve(name)));
        }
    }

    @Test
    void theRenderedCrdsCarryTheGeneratedSchemaUnchanged() throws Exception {
        for (CustomResourceDefinition crd : Chart.render().all(CustomResourceDefinition.class)) {
            Path file = Chart.TOP.resolve("crds/generated/" + crd.getMetadata().getName() + "-v1.yml");
            CustomResourceDefinition generated = Chart.SERIALIZATION.unmarshal(Files.readString(file),
                    CustomResourceDefinition.class);
            assertThat(crd.getSpec()).as("spec of %s", crd.getMetadata().getName()).isEqualTo(generated.getSpec());
        }
    }

    @Test
    void theDashboardIsGrafanaJsonWithPanelsThatQuery() throws Exception {
        JsonNode dashboard = new ObjectMapper().readTree(Chart.DIR.resolve("files/grafana/nodelb.json").toFile());

        assertThat(dashboard.path("uid").asText()).isEqualTo("nodelb");
        assertThat(dashboard.path("panels").size()).isGreaterThan(10);
        dashboard.path("panels").forEach(panel -> {
            if (!panel.path("type").asText().equals("row")) {
                assertThat(panel.path("targets").size()).as("queries of panel %s", panel.path("title")).isPositive();
            }
        });
    }
}
