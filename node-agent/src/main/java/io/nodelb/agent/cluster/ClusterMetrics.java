package io.nodelb.agent.cluster;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The control channel in Prometheus terms, read from {@link ControlChannel#state()} at scrape
 * time: whether the stream to the operator is open, and whether this node refuses the
 * operator's snapshot (the node the LoadBalancers list under {@code nodes.failing}).
 */
public final class ClusterMetrics {

    private ClusterMetrics() {}

    public static void register(MeterRegistry registry, Supplier<ControlChannel.State> state) {
        gauge(registry, "nodelb_control_connected", "1 while the stream to the operator is open", state,
                s -> s.connected() ? 1 : 0);
        gauge(registry, "nodelb_control_refusing", "1 while the last snapshot from the operator could not be"
                + " programmed on this node (Nacked; the previous version stays programmed); an Ack ends it", state,
                s -> s.refusing() ? 1 : 0);
        counter(registry, "nodelb_control_acks", "Snapshots acknowledged (programmed, or already programmed)", state,
                ControlChannel.State::acks);
        counter(registry, "nodelb_control_nacks", "Snapshots refused or superseded before they were applied", state,
                ControlChannel.State::nacks);
        counter(registry, "nodelb_control_reconnects", "Dials to the operator after the first", state,
                ControlChannel.State::reconnects);
    }

    private static void gauge(MeterRegistry registry, String name, String description,
                              Supplier<ControlChannel.State> state, ToDoubleFunction<ControlChannel.State> value) {
        // Strong references: the supplier is a method reference nothing else holds.
        Gauge.builder(name, state, s -> value.applyAsDouble(s.get())).description(description).strongReference(true)
                .register(registry);
    }

    private static void counter(MeterRegistry registry, String name, String description,
                                Supplier<ControlChannel.State> state, ToDoubleFunction<ControlChannel.State> value) {
        // A counter holds its object weakly; the gauges above hold the same supplier strongly.
        FunctionCounter.builder(name, state, s -> value.applyAsDouble(s.get())).description(description)
                .register(registry);
    }
}
