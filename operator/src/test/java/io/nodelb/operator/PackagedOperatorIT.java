package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.io.File;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The packaged Quarkus application (target/quarkus-app/quarkus-run.jar), started as its own
 * process with nothing but a kubeconfig, reconciles on the mock API server, answers its probes and
 * serves the metrics the chart's alerts read, each with the value the cluster's state implies.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class PackagedOperatorIT {
  KubernetesClient client;

  @Test
  void theJarReconcilesAnswersItsProbesAndServesItsMetrics() throws Exception {
    try (PackagedOperator operator = PackagedOperator.start(Path.of("target/quarkus-app/quarkus-run.jar"), client,
        new File("target/packaged-operator-it.log"))) {
      await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
        assertThat(operator.isAlive()).isTrue();
        HttpResponse<String> ready = operator.get("/q/health/ready");
        assertThat(ready.statusCode()).as("/q/health/ready: %s", ready.body()).isEqualTo(200);
      });
      assertThat(operator.get("/q/health/ready").body()).contains("\"status\": \"UP\"", "\"leader\": true");
      HttpResponse<String> live = operator.get("/q/health/live");
      assertThat(live.statusCode()).as("/q/health/live: %s", live.body()).isEqualTo(200);

      String scrape = PackagedOperator.refusingNodeScenario(operator, client);

      assertThat(value(scrape, "nodelb_operator_leader")).isEqualTo(1);
      assertThat(value(scrape, "nodelb_operator_agents_connected")).isEqualTo(1);
      assertThat(value(scrape, "nodelb_operator_snapshots_sent_total")).as("the first, then the drained one").isEqualTo(2);
      assertThat(value(scrape, "nodelb_operator_node_nacks_total{node=\"n1\"}")).isEqualTo(2);
      assertThat(value(scrape, "nodelb_operator_node_acks_total{node=\"n1\"}")).isEqualTo(0);
      assertThat(value(scrape, "nodelb_operator_node_refusing{node=\"n1\"}")).isEqualTo(1);
      assertThat(value(scrape, "nodelb_operator_nodes{answer=\"nacked\"}")).isEqualTo(1);
      assertThat(value(scrape, "nodelb_operator_loadbalancers")).isEqualTo(1);
      assertThat(value(scrape, "nodelb_operator_loadbalancers_not_programmed")).isEqualTo(1);
      assertThat(value(scrape, "nodelb_operator_backenddrains{phase=\"Draining\"}")).isEqualTo(1);
      assertThat(value(scrape, "nodelb_operator_backenddrains{phase=\"Drained\"}")).isEqualTo(0);
      assertThat(value(scrape, "nodelb_operator_backenddrains_overdue")).isEqualTo(0);
      assertThat(value(scrape, "reconciliations_success_total{controller_name=\"loadbalancer\"}"))
          .as("JOSDK's reconciles").isPositive();
      assertThat(value(scrape, "reconciliations_started_total{controller_name=\"backenddrain\"}")).isPositive();
      assertThat(scrape).contains("jvm_memory_used_bytes");
    }
  }

  /** The value of the series named exactly (with its labels in the order Prometheus writes them). */
  static double value(String scrape, String series) {
    String name = series.contains("{") ? series.substring(0, series.indexOf('{')) : series;
    String labels = series.contains("{") ? series.substring(series.indexOf('{') + 1, series.length() - 1) : "";
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? (\\S+)").matcher(scrape);
    while (m.find()) {
      String found = m.group(1) == null ? "" : m.group(1);
      if (labels.isEmpty() || found.contains(labels)) {
        return Double.parseDouble(m.group(2));
      }
    }
    throw new AssertionError("no series " + series + " in the scrape:\n" + scrape);
  }
}
