package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
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
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Every series the alerts and the dashboard query exists: the agent's real metrics code
 * ({@link MetricsServer} over HTTP, plus cluster mode's {@link ClusterMetrics}) is scraped
 * against a data plane whose counters are made up, and each metric name found in the rendered
 * PrometheusRule and in the dashboard must be in that scrape. `up` is Prometheus' own.
 */
class ChartMetricsTest {

    private static final Pattern METRIC = Pattern.compile("\\b(nodelb_[a-z_]+|up)\\b");

    @Test
    void everyMetricTheAlertsAndTheDashboardQueryIsInAnAgentsScrape() throws Exception {
        Set<String> scraped = scrapedNames();
        assertThat(scraped).as("the scrape itself").contains("nodelb_ready", "nodelb_packets_total",
                "nodelb_backend_bytes_total", "nodelb_control_refusing", "nodelb_conntrack_entries");

        Set<String> queried = new TreeSet<>();
        Chart.render("metrics.prometheusRule.enabled", "true").get(PrometheusRule.class, "nodelb").getSpec()
                .getGroups().forEach(g -> g.getRules().forEach(r -> queried.addAll(names(r.getExpr().getStrVal()))));
        JsonNode dashboard = new ObjectMapper().readTree(Chart.DIR.resolve("files/grafana/nodelb.json").toFile());
        dashboard.findValues("expr").forEach(e -> queried.addAll(names(e.asText())));
        dashboard.findValues("definition").forEach(e -> queried.addAll(names(e.asText())));

        assertThat(queried).as("metrics the chart queries").contains("nodelb_ready", "nodelb_control_refusing",
                "nodelb_draining_since_seconds", "nodelb_conntrack_entries");
        queried.remove("up"); // recorded by Prometheus for every target
        assertThat(scraped).as("the agent's scrape has every metric the alerts and the dashboard query")
                .containsAll(queried);
    }

    private static Set<String> names(String expr) {
        Set<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(expr);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    /** The names of the series of one scrape of a running MetricsServer, with cluster mode's meters. */
    private static Set<String> scrapedNames() throws Exception {
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
            return body.lines().filter(l -> !l.startsWith("#") && !l.isBlank())
                    .map(l -> l.split("[{ ]")[0]).collect(Collectors.toCollection(TreeSet::new));
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
        @Override public BackendCounters backendCounters(int id) { return new BackendCounters(1, 2, 3, 4, 5, 6, 7); }
        @Override public long[] packetStats() { return new long[Abi.STAT_MAX]; }
        @Override public long conntrackEntries() { return 10; }
        @Override public long conntrackCapacity() { return 1 << 20; }
        @Override public List<String> problems(Set<String> interfaces) { return List.of(); }
        @Override public void close() {}
    }
}
