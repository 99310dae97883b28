package io.nodelb.agent.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.lifecycle.Drain;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Prometheus metrics of the data plane on {@code :port/metrics}: counters per
 * backend and per packet verdict, read from the per-CPU maps at scrape time.
 */
public final class MetricsServer implements AutoCloseable {

    private final HttpServer server;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final DataPlane dataPlane;
    private final SnapshotApplier applier;
    private final Drain drain;
    private final Map<Integer, List<Meter>> backendMeters = new HashMap<>();
    private volatile long[] verdicts = new long[Abi.STAT_MAX];
    private volatile long[] echoes = new long[Abi.Echo.values().length];

    private MetricsServer(int port, DataPlane dataPlane, SnapshotApplier applier, Drain drain) throws IOException {
        this.dataPlane = dataPlane;
        this.applier = applier;
        this.drain = drain;
        Gauge.builder("nodelb_draining", drain, d -> d.draining() ? 1 : 0)
                .description("1 while the node drains: readiness answers 503, flows are still served").register(registry);
        Gauge.builder("nodelb_draining_since_seconds", drain,
                        d -> d.since().map(t -> t.toEpochMilli() / 1000.0).orElse(0.0))
                .description("When the drain started (Unix time); 0 while not draining").register(registry);
        for (Abi.Stat stat : Abi.Stat.values()) {
            FunctionCounter.builder("nodelb_packets", this, m -> m.verdicts[stat.value()])
                    .description("Packets seen by the data plane, by verdict")
                    .tag("verdict", stat.name().toLowerCase(java.util.Locale.ROOT)).register(registry);
        }
        for (Abi.Echo echo : Abi.Echo.values()) {
            FunctionCounter.builder("nodelb_icmp_echo_requests", this, m -> m.echoes[echo.value()])
                    .description("Echo requests to VIPs that the XDP program answered or dropped, as their"
                            + " LoadBalancer's icmpEcho says (since this agent loaded its program)")
                    .tag("action", echo == Abi.Echo.REPLIED ? "reply" : "drop").register(registry);
        }
        Gauge.builder("nodelb_ready", this, m -> m.readinessProblems().isEmpty() ? 1 : 0)
                .description("1 while /readyz answers 200: every programmed interface served by this agent's"
                        + " programs and the node not draining").register(registry);
        Gauge.builder("nodelb_conntrack_entries", dataPlane, DataPlane::conntrackEntries)
                .description("Entries in the flow table (a forward and a reply entry per translated flow),"
                        + " counted at most 30 s before the scrape")
                .register(registry);
        Gauge.builder("nodelb_conntrack_max_entries", dataPlane, DataPlane::conntrackCapacity)
                .description("The most entries the flow table holds; when full, the least recently used are evicted")
                .register(registry);
        Gauge.builder("nodelb_conntrack_embryonic_entries", dataPlane, DataPlane::embryonicEntries)
                .description("Entries of TCP flows whose backend has not answered yet, kept apart from the flow table"
                        + " (not included in nodelb_conntrack_entries)")
                .register(registry);
        Gauge.builder("nodelb_conntrack_embryonic_max_entries", dataPlane, DataPlane::embryonicCapacity)
                .description("The most entries of unanswered flows kept; when full, a new one evicts the least"
                        + " recently used of them, never an answered flow's")
                .register(registry);
        Gauge.builder("nodelb_listeners", applier, a -> a.applied().listenerCount())
                .description("Listeners programmed on this node").register(registry);
        Gauge.builder("nodelb_backends", applier, a -> a.applied().backends().size())
                .description("Backends programmed on this node").register(registry);
        server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/metrics", this::scrape);
        // Liveness: the process answers. Readiness (and the older /healthz): the data plane
        // serves what was programmed, with this agent's code.
        server.createContext("/livez", ex -> respond(ex, 200, "ok\n"));
        server.createContext("/readyz", this::ready);
        server.createContext("/healthz", this::ready);
        server.start();
    }

    public static MetricsServer start(int port, DataPlane dataPlane, SnapshotApplier applier, Drain drain)
            throws IOException {
        return new MetricsServer(port, dataPlane, applier, drain);
    }

    private synchronized void scrape(HttpExchange exchange) throws IOException {
        long[] stats = dataPlane.packetStats();
        verdicts = stats;
        echoes = dataPlane.echoStats();
        syncBackends(applier.applied().backends());
        respond(exchange, 200, registry.scrape());
    }

    /** One set of counters per programmed backend; meters of removed backends go away. */
    private void syncBackends(Map<Integer, Abi.Backend> backends) {
        backendMeters.entrySet().removeIf(e -> {
            if (backends.containsKey(e.getKey())) {
                return false;
            }
            e.getValue().forEach(registry::remove);
            return true;
        });
        backends.forEach((id, b) -> backendMeters.computeIfAbsent(id, i -> {
            String name = DesiredState.backendKey(b.address(), b.port());
            List<Meter> meters = new ArrayList<>();
            meters.add(counter("nodelb_backend_packets", "Packets sent to the backend", name, i, DataPlane.BackendCounters::packets));
            meters.add(counter("nodelb_backend_bytes", "Bytes sent to the backend", name, i, DataPlane.BackendCounters::bytes));
            meters.add(counter("nodelb_backend_new_flows", "Flows the backend was selected for", name, i, DataPlane.BackendCounters::newFlows));
            meters.add(counter("nodelb_backend_reply_packets", "Packets from the backend to clients", name, i, DataPlane.BackendCounters::replyPackets));
            meters.add(counter("nodelb_backend_reply_bytes", "Bytes from the backend to clients", name, i, DataPlane.BackendCounters::replyBytes));
            meters.add(counter("nodelb_backend_resets", "Flows the backend reset after it had seen them open", name, i, DataPlane.BackendCounters::resets));
            meters.add(counter("nodelb_backend_unanswered_syns", "Flows whose SYN was retransmitted before the backend answered", name, i, DataPlane.BackendCounters::unansweredSyns));
            return meters;
        }));
    }

    private Meter counter(String metric, String description, String backend, int id,
                          ToDoubleFunction<DataPlane.BackendCounters> field) {
        return FunctionCounter.builder(metric, dataPlane, dp -> field.applyAsDouble(dp.backendCounters(id)))
                .description(description).tag("backend", backend).register(registry);
    }

    private List<String> readinessProblems() {
        List<String> problems = new ArrayList<>(dataPlane.problems(applier.applied().interfaces()));
        drain.reason().ifPresent(problems::add);
        return problems;
    }

    private void ready(HttpExchange exchange) throws IOException {
        List<String> problems = readinessProblems();
        respond(exchange, problems.isEmpty() ? 200 : 503,
                problems.isEmpty() ? "ok\n" : String.join("\n", problems) + "\n");
    }

    private static void respond(HttpExchange exchange, int status, String body) throws IOException {
        PlainText.respond(exchange, status, body);
    }

    /** Where other parts of the agent register their meters, scraped with these. */
    public MeterRegistry registry() {
        return registry;
    }

    /** The port it listens on (useful when started on port 0). */
    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        registry.close();
    }
}
