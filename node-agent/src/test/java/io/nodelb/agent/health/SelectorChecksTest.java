package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.nodelb.dataplane.v1alpha1.HealthCheck;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The selector's checks say what {@link Probe#run} says, for TCP and HTTP, on their schedule. */
class SelectorChecksTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private final SelectorChecks checks = new SelectorChecks();
    private final List<Probe.Result> results = new CopyOnWriteArrayList<>();
    private final AtomicReference<String> hostSeen = new AtomicReference<>();
    private volatile int status = 200;
    private HttpServer server;

    @AfterEach
    void stop() {
        checks.close();
        if (server != null) {
            server.stop(0);
        }
    }

    private int serve() throws Exception {
        server = HttpServer.create(new InetSocketAddress(LOOPBACK, 0), 0);
        server.createContext("/healthz", exchange -> {
            hostSeen.set(exchange.getRequestHeaders().getFirst("Host"));
            exchange.sendResponseHeaders(status, -1);
            exchange.close();
        });
        server.start();
        return server.getAddress().getPort();
    }

    private static HealthCheck.Builder check(HealthCheck.Type type) {
        return HealthCheck.newBuilder().setType(type).setIntervalMillis(50).setTimeoutMillis(300).setPath("/healthz");
    }

    private Probe.Result next() {
        int seen = results.size();
        Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> results.size() > seen + 1);
        return results.getLast();
    }

    @Test
    void httpStatusHostAndSource() throws Exception {
        int port = serve();
        Probe probe = new Probe(check(HealthCheck.Type.HTTP).setExpectedCodes("200-299").setHost("web.example").build());
        SelectorChecks.Job job = checks.start(probe, LOOPBACK, port, () -> LOOPBACK, results::add);
        assertThat(next()).satisfies(r -> assertThat(r.ok()).isTrue()).satisfies(r -> assertThat(r.reason()).isEqualTo("ok"));
        assertThat(hostSeen.get()).isEqualTo("web.example");
        status = 503;
        assertThat(next().reason()).isEqualTo("HTTP 503");
        job.cancel();
        Thread.sleep(200);
        int after = results.size();
        Thread.sleep(300);
        assertThat(results).as("no checks once cancelled").hasSize(after);
    }

    @Test
    void tcpConnectsRefusedAndTimesOut() throws Exception {
        ServerSocket listening = new ServerSocket(0, 1, LOOPBACK);
        int port = listening.getLocalPort();
        SelectorChecks.Job job = checks.start(new Probe(check(HealthCheck.Type.TCP).build()), LOOPBACK, port,
                () -> null, results::add);
        assertThat(next().ok()).as("the kernel accepts into the backlog").isTrue();
        job.cancel();
        listening.close();
        results.clear();
        SelectorChecks.Job refused = checks.start(new Probe(check(HealthCheck.Type.TCP).build()), LOOPBACK, port,
                () -> null, results::add);
        assertThat(next()).satisfies(r -> assertThat(r.ok()).isFalse())
                .satisfies(r -> assertThat(r.reason()).startsWith("connect:").contains("refused"));

        refused.cancel();
        Thread.sleep(100);

        // An HTTP server that accepts and never answers: the check times out.
        try (ServerSocket silent = new ServerSocket(0, 50, LOOPBACK)) {
            results.clear();
            checks.start(new Probe(check(HealthCheck.Type.HTTP).build()), LOOPBACK, silent.getLocalPort(), () -> null,
                    results::add);
            Probe.Result r = next();
            assertThat(r.ok()).isFalse();
            assertThat(r.reason()).isEqualTo("connect: Read timed out");
            assertThat(r.nanos()).isGreaterThanOrEqualTo(Duration.ofMillis(300).toNanos());
        }
    }

    @Test
    void ipv6TargetsAndNoSocketLeftOpen() throws Exception {
        InetAddress v6 = InetAddress.getByName("::1");
        long before = openFiles();
        List<Probe.Result> seen = new CopyOnWriteArrayList<>();
        try (ServerSocket listening = new ServerSocket(0, 1000, v6); SelectorChecks own = new SelectorChecks()) {
            SelectorChecks.Job job = own.start(new Probe(check(HealthCheck.Type.TCP).build()), v6,
                    listening.getLocalPort(), () -> v6, seen::add);
            Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> seen.size() >= 3);
            assertThat(seen).allSatisfy(r -> assertThat(r.reason()).isEqualTo("ok"));
            job.cancel();
            // A check that times out leaves nothing open either.
            own.start(new Probe(check(HealthCheck.Type.HTTP).build()), v6, listening.getLocalPort(), () -> null,
                    seen::add);
            Awaitility.await().atMost(Duration.ofSeconds(5))
                    .until(() -> seen.getLast().reason().equals("connect: Read timed out"));
        }
        Awaitility.await().atMost(Duration.ofSeconds(2)).until(() -> openFiles() <= before);
    }

    private static long openFiles() throws java.io.IOException {
        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
