package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The control channel's state as Prometheus series, read at each scrape. */
class ClusterMetricsTest {

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final AtomicReference<ControlChannel.State> state = new AtomicReference<>(
            new ControlChannel.State(false, "connection refused", "", "", 0, 0, 3, false));

    @Test
    void everyScrapeReadsTheChannelAsItIsThen() {
        ClusterMetrics.register(registry, state::get);

        assertThat(registry.scrape()).contains("nodelb_control_connected 0.0")
                .contains("nodelb_control_refusing 0.0")
                .contains("nodelb_control_reconnects_total 3.0");

        state.set(new ControlChannel.State(true, "", "v2", "v1", 4, 2, 3, true));

        assertThat(registry.scrape()).contains("nodelb_control_connected 1.0")
                .contains("nodelb_control_refusing 1.0")
                .contains("nodelb_control_acks_total 4.0")
                .contains("nodelb_control_nacks_total 2.0");
    }

    @Test
    void theSeriesOutliveAGarbageCollection() {
        ClusterMetrics.register(registry, () -> new ControlChannel.State(true, "", "", "", 7, 0, 0, false));

        System.gc();

        assertThat(registry.scrape()).as("meters whose object was collected would read NaN")
                .contains("nodelb_control_connected 1.0").contains("nodelb_control_acks_total 7.0");
    }
}
