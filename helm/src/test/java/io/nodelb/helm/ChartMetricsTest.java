package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.nodelb.operator.PackagedOperator;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.cluster.ClusterMetrics;
import io.nodelb.agent.cluster.ControlChannel;
import io.nodelb.agent.dataplane.DataPlane;
import io.nodelb.agent.dataplane.DataPlaneMaps;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.lifecycle.Drain;
import io.nodelb.agent.metrics.MetricsServer;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.io.File;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Every series the alerts and the dashboard query exists. The agent's real metrics code
 * ({@link MetricsServer} over HTTP, plus cluster mode's {@link ClusterMetrics}) is scraped against
 * a data plane whose counters are made up; the packaged operator is started against the mock API
 * server with a node that NACKs ({@link PackagedOperator}) and its /q/metrics scraped. Each metric
 * name in the rendered PrometheusRule and in the dashboard must be in the scrape of the component
 * whose job the query names. `up` is Prometheus' own.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class ChartMetricsTest {

    private static final Pattern METRIC = Pattern.compile("\\b(nodelb_[a-z_]+|reconciliations_[a-z_]+|up)\\b");
    private static final Pattern QUERY_JOB = Pattern.compile("job=\\\\?\"(nodelb-agent|nodelb-operator)\\\\?\"");

    KubernetesClient client;

    @Test
    void everyMetricTheAlertsAndTheDashboardQueryIsInItsComponentsScrape() throws Exception {
        Set<String> agentScrape = agentScrapeNames();
        assertThat(agentScrape).as("the agent's scrape itself").contains("nodelb_ready", "nodelb_packets_total",
                "nodelb_backend_bytes_total", "nodelb_control_refusing", "nodelb_conntrack_entries");
        Set<String> operatorScrape = operatorScrapeNames();
        assertThat(operatorScrape).as("the operator's scrape itself").contains("nodelb_operator_leader",
                "nodelb_operator_node_refusing", "reconciliations_success_total");

        Map<String, Set<String>> queried = new TreeMap<>();
        Chart.render("metrics.prometheusRule.enabled", "true").get(PrometheusRule.class, "nodelb").getSpec()
                .getGroups().forEach(g -> g.getRules().forEach(r -> addQuery(queried, r.getExpr().getStrVal())));
        JsonNode dashboard = new ObjectMapper().readTree(Chart.DIR.resolve("files/grafana/nodelb.json").toFile());
        dashboard.findValues("expr").forEach(e -> addQuery(queried, e.asText()));
        dashboard.findValues("definition").forEach(e -> addQuery(queried, e.asText()));

        assertThat(queried.get("nodelb-agent")).as("agent metrics the chart queries").contains("nodelb_ready",
                "nodelb_control_refusing", "nodelb_draining_since_seconds", "nodelb_conntrack_entries");
        assertThat(queried.get("nodelb-operator")).as("operator metrics the chart queries").contains(
                "nodelb_operator_node_refusing", "nodelb_operator_loadbalancers_not_programmed",
                "nodelb_operator_backenddrains_overdue", "reconciliations_success_total");
        queried.values().forEach(names -> names.remove("up")); // recorded by Prometheus for every target
        assertThat(agentScrape).as("the agent's scrape has every metric the alerts and the dashboard query of it")
                .containsAll(queried.get("nodelb-agent"));
        assertThat(operatorScrape).as("the operator's scrape has every metric the alerts and the dashboard query of it")
                .containsAll(queried.get("nodelb-operator"));
    }

    /** The metric names of one query, under the job it names (every query of the chart names one). */
    private static void addQuery(Map<String, Set<String>> queried, String expr) {
        Matcher job = QUERY_JOB.matcher(expr);
        assertThat(job.find()).as("a query that names no job: %s", expr).isTrue();
        queried.computeIfAbsent(job.group(1), j -> new TreeSet<>()).addAll(names(expr));
    }

    private Set<String> operatorScrapeNames() throws Exception {
        try (PackagedOperator operator = PackagedOperator.start(
                Path.of(System.getProperty("nodelb.operator.jar", "../operator/target/quarkus-app/quarkus-run.jar")),
                client(), new File("target/chart-metrics-operator.log"))) {
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() ->
                    assertThat(operator.get("/q/health/ready").statusCode()).isEqualTo(200));
            return seriesNames(PackagedOperator.refusingNodeScenario(operator, client()));
        }
    }

    private static Set<String> names(String expr) {
        Set<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(expr);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    private KubernetesClient client() {
        return client;
    }

    private static Set<String> seriesNames(String scrape) {
        return scrape.lines().filter(l -> !l.startsWith("#") && !l.isBlank())
                .map(l -> l.split("[{ ]")[0]).collect(Collectors.toCollection(TreeSet::new));
    }

    /** The names of the series of one scrape of a running MetricsServer, with cluster mode's meters. */
    private static Set<String> agentScrapeNames() throws Exception {
        DataPlane dataPlane = new FakeDataPlane();
        SnapshotApplier applier = new SnapshotApplier(dataPlane.maps(), name -> List.of(ip("192.0.2.1")),
                new DesiredState.Limits(251, 64, 16, 256, 61000, 61999));
        applier.apply(snapshot());
        MetricsServer server = MetricsServer.start(0, dataPlane, applier, Drain.system());
        try (HttpClient http = HttpClient.newHttpClient()) {
            ClusterMetrics.register(server.registry(),
                    () -> new ControlChannel.State(true, "", "v1", "v1", 1, 0, 0, false));
            String body = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                    .build(), HttpResponse.BodyHandlers.ofString()).body();
            return seriesNames(body);
        } finally {
            server.close();
        }
    }

    private static NodeSnapshot snapshot() {
        Backend backend = Backend.newBuilder().setAddress(bytes("10.1.2.11")).setPort(8080).setWeight(1)
                .setState(BackendState.ACTIVE).setOrigin("static").build();
        return NodeSnapshot.newBuilder().setNode("n1")
                .addTargetGroups(TargetGroup.newBuilder().setName("default/web").setAlgorithm(Algorithm.MAGLEV)
                        .addBackends(backend))
                .addListeners(Listener.newBuilder().setName("default/web/http").setAddress(bytes("203.0.113.10"))
                        .setPort(80).setProtocol(Protocol.TCP).setNatMode(NatMode.DNAT).setTargetGroup("default/web")
                        .addInterfaces("eth0"))
                .build();
    }

    private static ByteString bytes(String address) {
        return ByteString.copyFrom(ip(address).getAddress());
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Counters made up, maps that accept every write. */
    private static final class FakeDataPlane implements DataPlane {
        private final DataPlaneMaps maps = (DataPlaneMaps) Proxy.newProxyInstance(
                DataPlaneMaps.class.getClassLoader(), new Class<?>[] {DataPlaneMaps.class}, (p, m, a) -> null);

        @Override public DataPlaneMaps maps() { return maps; }
        @Override public void attach(Set<String> interfaces) {}
        @Override public BackendCounters backendCounters(int id) { return new BackendCounters(1, 2, 3, 4, 5); }
        @Override public long[] packetStats() { return new long[Abi.STAT_MAX]; }
        @Override public long conntrackEntries() { return 10; }
        @Override public long conntrackCapacity() { return 1 << 20; }
        @Override public List<String> problems(Set<String> interfaces) { return List.of(); }
        @Override public void close() {}
    }
}
