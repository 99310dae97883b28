package io.nodelb.agent.events;

import static io.nodelb.agent.events.Events.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.PortFilter;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FlowMetricsTest {

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private long queueDrops = 3;
    private final FlowMetrics metrics = new FlowMetrics(registry, () -> new Abi.EventBudget(100, 7, 2),
            () -> queueDrops, 4535, () -> new double[] {512, 2048});

    @AfterEach
    void close() {
        registry.close();
    }

    private static DesiredState withBackends(String... addresses) {
        Map<Integer, Abi.Backend> backends = new java.util.HashMap<>();
        for (int i = 0; i < addresses.length; i++) {
            backends.put(i + 7, new Abi.Backend(ip(addresses[i]), 8080));
        }
        return new DesiredState(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), backends, new PortFilter(),
                new PortFilter(), Set.of());
    }

    private static FlowRecord end(String backendKey, long durationNs) {
        return new FlowRecord(Events.end(40000, Abi.END_FIN, durationNs), Instant.now(), "l", backendKey, null, "n");
    }

    @Test
    void durationsGoToTheBackendsHistogramInSecondsWithPrometheusBuckets() {
        metrics.update(withBackends("10.2.0.1", "10.2.0.2"), Map.of(7, 4L), Map.of(ip("10.0.0.1"), 2L));
        metrics.accept(end("10.2.0.1:8080", 3_000_000L), false); // 3 ms
        metrics.accept(end("10.2.0.1:8080", 2_000_000_000L), false); // 2 s
        metrics.accept(end(null, 1_000_000_000L), false); // a backend removed since: no series
        metrics.accept(Events.named(Events.newFlow(40001)), true);

        String scrape = registry.scrape();
        assertThat(scrape)
                .contains("nodelb_backend_connection_duration_seconds_count{backend=\"10.2.0.1:8080\"} 2")
                .contains("nodelb_backend_connection_duration_seconds_bucket{backend=\"10.2.0.1:8080\",le=\"0.005\"} 1")
                .contains("nodelb_backend_connection_duration_seconds_bucket{backend=\"10.2.0.1:8080\",le=\"2.5\"} 2")
                .doesNotContain("nodelb_backend_connection_duration_seconds_count{backend=\"10.2.0.2:8080\"}")
                .contains("nodelb_flow_events_total{type=\"flow_end\"} 3")
                .contains("nodelb_flow_events_total{type=\"new_flow\"} 1")
                .contains("nodelb_backend_active_connections{backend=\"10.2.0.1:8080\"} 4")
                .contains("nodelb_backend_active_connections{backend=\"10.2.0.2:8080\"} 0")
                .contains("nodelb_fullnat_ports_in_use{snat_address=\"10.0.0.1\"} 2")
                .contains("nodelb_fullnat_port_range_size 4535")
                .contains("nodelb_conntrack_fill_ratio 0.25")
                .contains("nodelb_flow_events_written_total 100")
                .contains("nodelb_flow_events_lost_total{reason=\"over_budget\"} 7")
                .contains("nodelb_flow_events_lost_total{reason=\"ring_full\"} 2")
                .contains("nodelb_flow_events_lost_total{reason=\"agent_queue_full\"} 3");
    }

    @Test
    void aRemovedBackendsSeriesGo() {
        metrics.update(withBackends("10.2.0.1"), Map.of(), Map.of(ip("10.0.0.1"), 1L));
        metrics.accept(end("10.2.0.1:8080", 1_000_000L), true);
        assertThat(registry.scrape()).contains("backend=\"10.2.0.1:8080\"").contains("snat_address");

        metrics.update(withBackends("10.2.0.9"), Map.of(), Map.of());

        assertThat(registry.scrape()).doesNotContain("10.2.0.1:8080").doesNotContain("snat_address")
                .contains("nodelb_backend_active_connections{backend=\"10.2.0.9:8080\"} 0");
    }
}
