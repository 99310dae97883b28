package io.nodelb.agent.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DataPlane;
import io.nodelb.agent.dataplane.DataPlaneMaps;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.lifecycle.Drain;
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
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The Prometheus endpoint over real HTTP, against a data plane whose counters are made up. */
class MetricsServerTest {

    private static final DesiredState.Limits LIMITS = new DesiredState.Limits(251, 64, 16, 256, 61000, 61999);

    /** Counters derived from the backend id, so each series shows which backend it read. */
    private final DataPlane dataPlane = new DataPlane() {
        private final DataPlaneMaps maps = (DataPlaneMaps) Proxy.newProxyInstance(
                DataPlaneMaps.class.getClassLoader(), new Class<?>[] {DataPlaneMaps.class}, (p, m, a) -> null);

        @Override public DataPlaneMaps maps() { return maps; }
        @Override public void attach(Set<String> interfaces) {}
        @Override public List<String> problems(Set<String> interfaces) {
            return interfaces.contains("gone0") ? List.of("gone0: not attached") : List.of();
        }
        @Override public BackendCounters backendCounters(int id) {
            return new BackendCounters(100 + id, 1000 + id, 10 + id, 200 + id, 2000 + id, 20 + id, 30 + id);
        }
        @Override public long[] packetStats() {
            long[] stats = new long[Abi.STAT_MAX];
            stats[Abi.Stat.NEW_FLOW.value()] = 7;
            stats[Abi.Stat.PASS_MALFORMED.value()] = 3;
            return stats;
        }
        @Override public long conntrackEntries() { return 1500; }
        @Override public long conntrackCapacity() { return 2048; }
        @Override public long embryonicEntries() { return 300; }
        @Override public long embryonicCapacity() { return 512; }
        @Override public void close() {}
    };
    private final SnapshotApplier applier = new SnapshotApplier(dataPlane.maps(),
            name -> List.of(ip("192.0.2.1"), ip("2001:db8::1")), LIMITS);
    private final Drain drain = Drain.system();
    private MetricsServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void servesVerdictsAndOneSeriesPerProgrammedBackend() throws Exception {
        applier.apply(snapshot(backend("10.1.2.11"), backend("fd00:1:2::11")));
        server = MetricsServer.start(0, dataPlane, applier, drain);

        String body = get("/metrics");

        assertThat(body).contains("nodelb_packets_total{verdict=\"new_flow\"} 7.0")
                .contains("nodelb_packets_total{verdict=\"pass_malformed\"} 3.0")
                .contains("nodelb_listeners 2.0")
                .contains("nodelb_backends 2.0");
        int v4 = backendId("10.1.2.11");
        int v6 = backendId("fd00:1:2::11");
        assertThat(body)
                .contains("nodelb_backend_new_flows_total{backend=\"10.1.2.11:8080\"} " + (10 + v4) + ".0")
                .contains("nodelb_backend_packets_total{backend=\"[fd00:1:2::11]:8080\"} " + (100 + v6) + ".0")
                .contains("nodelb_backend_reply_bytes_total{backend=\"[fd00:1:2::11]:8080\"} " + (2000 + v6) + ".0")
                .contains("nodelb_backend_resets_total{backend=\"10.1.2.11:8080\"} " + (20 + v4) + ".0")
                .contains("nodelb_backend_unanswered_syns_total{backend=\"[fd00:1:2::11]:8080\"} " + (30 + v6) + ".0");

        applier.apply(snapshot(backend("10.1.2.11")));
        assertThat(get("/metrics")).as("a removed backend's series go with it")
                .doesNotContain("fd00:1:2::11").contains("backend=\"10.1.2.11:8080\"");
        assertThat(get("/healthz")).isEqualTo("ok\n");
        assertThat(get("/livez")).isEqualTo("ok\n");
    }

    @Test
    void servesTheFlowTableFillAndReadinessAsSeries() throws Exception {
        applier.apply(snapshot(backend("10.1.2.11")));
        server = MetricsServer.start(0, dataPlane, applier, drain);

        assertThat(get("/metrics")).contains("nodelb_conntrack_entries 1500.0")
                .contains("nodelb_conntrack_max_entries 2048.0")
                .contains("nodelb_conntrack_embryonic_entries 300.0")
                .contains("nodelb_conntrack_embryonic_max_entries 512.0")
                .contains("nodelb_ready 1.0");

        drain.drain();
        assertThat(get("/metrics")).as("draining: not ready, and says why in its own series")
                .contains("nodelb_ready 0.0").contains("nodelb_draining 1.0");
    }

    @Test
    void aDrainingNodeIsNotReadyButAliveAndSaysSinceWhen() throws Exception {
        applier.apply(snapshot(backend("10.1.2.11")));
        server = MetricsServer.start(0, dataPlane, applier, drain);
        assertThat(status("/readyz")).isEqualTo(200);

        drain.drain();

        assertThat(status("/readyz")).isEqualTo(503);
        assertThat(status("/livez")).isEqualTo(200);
        assertThat(get("/metrics")).contains("nodelb_draining 1.0");
        drain.undrain();
        assertThat(status("/readyz")).isEqualTo(200);
        assertThat(get("/metrics")).contains("nodelb_draining 0.0").contains("nodelb_draining_since_seconds 0.0");
    }

    @Test
    void readinessSaysWhichInterfaceIsNotServed() throws Exception {
        NodeSnapshot snapshot = snapshot(backend("10.1.2.11"));
        applier.apply(snapshot.toBuilder().setListeners(0,
                snapshot.getListeners(0).toBuilder().clearInterfaces().addInterfaces("gone0")).build());
        server = MetricsServer.start(0, dataPlane, applier, drain);

        assertThat(status("/readyz")).isEqualTo(503);
        assertThat(status("/livez")).isEqualTo(200);
        assertThat(get("/metrics")).contains("nodelb_ready 0.0").contains("nodelb_draining 0.0");
    }

    private int status(String path) throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        }
    }

    private int backendId(String address) {
        return applier.applied().backends().entrySet().stream()
                .filter(e -> e.getValue().address().equals(ip(address)))
                .map(Map.Entry::getKey).findFirst().orElseThrow();
    }

    private String get(String path) throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> response = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(200);
            return response.body();
        }
    }

    private static NodeSnapshot snapshot(Backend... backends) {
        TargetGroup group = TargetGroup.newBuilder().setName("default/web").setAlgorithm(Algorithm.MAGLEV)
                .addAllBackends(List.of(backends)).build();
        return NodeSnapshot.newBuilder().setNode("n1").addAllTargetGroups(List.of(group))
                .addListeners(listener("http4", "203.0.113.10"))
                .addListeners(listener("http6", "2001:db8:10::10"))
                .build();
    }

    private static Listener listener(String name, String vip) {
        return Listener.newBuilder().setName("default/web/" + name).setAddress(bytes(vip)).setPort(80)
                .setProtocol(Protocol.TCP).setNatMode(NatMode.DNAT).setTargetGroup("default/web")
                .addInterfaces("eth0").build();
    }

    private static Backend backend(String address) {
        return Backend.newBuilder().setAddress(bytes(address)).setPort(8080).setWeight(1)
                .setState(BackendState.ACTIVE).setOrigin("static").build();
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
}
