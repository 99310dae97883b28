package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.LabConfig.withIdleTimeouts;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.testing.Privileged;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.logging.log4j.layout.template.json.util.JsonReader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Flow events and idle timeouts of stream listeners (PROXY protocol v1, spliced in the kernel),
 * with real connections: each connection has exactly one NEW_FLOW and one FLOW_END line in the
 * JSON access log with its client tuple, VIP, backend and the payload bytes the client sent and
 * received (what the backend received is those plus the PROXY header, checked byte for byte on
 * the backend); a listener with {@code flowEvents: false} writes none; the duration histogram
 * counts the ended connections; a silent connection is closed at its LoadBalancer's
 * {@code idleTimeouts.tcpEstablished}, counted, ended {@code idle}, and counted in the backend's
 * active connections while it lived.
 */
@Privileged
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LabStreamEventsIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    private static final int PORT = 9300;
    private static final int QUIET_PORT = 9301;
    private static final int IDLE_PORT = 9302;
    private static final int CONNECTIONS = 6;
    private static final Duration IDLE = Duration.ofSeconds(3);
    private static final int METRICS_PORT = 19_500 + (int) (ProcessHandle.current().pid() % 90);
    private static final String CONFIG = file(
            targetGroup("g1", PORT, Map.of("be1", 1)),
            targetGroup("g2", PORT, Map.of("be2", 1)),
            targetGroup("g3", PORT, Map.of("be3", 1)),
            loadBalancer("lab", "DNAT", null,
                    "{name: plain, address: \"" + Lab.VIP_V4 + "\", port: " + PORT + ", targetGroup: g1, proxyProtocol: V1}",
                    "{name: quiet, address: \"" + Lab.VIP_V4 + "\", port: " + QUIET_PORT
                            + ", targetGroup: g2, proxyProtocol: V1, flowEvents: false}"),
            withIdleTimeouts(loadBalancer("labidle", "FullNAT", Lab.NODE_LAN_V4,
                    "{name: idle, address: \"" + Lab.VIP_V4 + "\", port: " + IDLE_PORT
                            + ", targetGroup: g3, proxyProtocol: V1}"), "{tcpEstablished: " + IDLE.toSeconds() + "s}"));

    /** What a backend saw of one connection: the PROXY header line and the bytes after it. */
    private record Seen(String header, long payload) {}

    /** By the client port the PROXY header names. */
    private static final Map<Integer, Seen> seen = new ConcurrentHashMap<>();
    private static RawBackends backends;
    private static Path accessLog;
    private static Agent agent;

    @BeforeAll
    static void startBackendsAndAgent() throws Exception {
        backends = RawBackends.start(LAB, 3, PORT, 64, LabStreamEventsIT::serve);
        accessLog = LAB.runDir().resolve("stream-access.log");
        agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--access-log", accessLog.toString(), "--access-log-format", "json", "--conntrack-sweep-interval", "1",
                "--stream-splice");
        agent.awaitProgrammed(0);
        for (int port : new int[] {PORT, QUIET_PORT, IDLE_PORT}) {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).until(() ->
                    LAB.exec(LAB.node(), "ss", "-Htln", "sport = :" + port).contains(":" + port));
        }
    }

    @AfterAll
    static void stopBackends() throws Exception {
        if (backends != null) {
            backends.close();
        }
    }

    /**
     * The backend: the PROXY v1 line, then {@code SEND n\n} (answers n bytes, half-closes, reads to
     * the end) or {@code HOLD\n} (reads to the end, sends nothing).
     */
    private static void serve(Socket socket) throws IOException {
        InputStream in = socket.getInputStream();
        String header = RawBackends.line(in);
        String request = RawBackends.line(in);
        long payload = request.length();
        if (request.startsWith("SEND ")) {
            int n = Integer.parseInt(request.substring(5).strip());
            socket.getOutputStream().write(new byte[n]);
            socket.shutdownOutput();
        }
        payload += in.transferTo(java.io.OutputStream.nullOutputStream());
        seen.put(Integer.parseInt(header.split(" ")[4]), new Seen(header, payload));
    }

    private record Exchange(int clientPort, long sent, long received, Duration took) {}

    private static Exchange exchange(int port, String request) throws Exception {
        return LAB.client().call(Duration.ofSeconds(30), () -> {
            try (Socket socket = new Socket()) {
                socket.setSoTimeout(15_000);
                socket.bind(new InetSocketAddress(address(Lab.CLIENT_V4), 0));
                socket.connect(new InetSocketAddress(address(Lab.VIP_V4), port), 5_000);
                byte[] bytes = request.getBytes(StandardCharsets.US_ASCII);
                long start = System.nanoTime();
                socket.getOutputStream().write(bytes);
                ByteArrayOutputStream got = new ByteArrayOutputStream();
                try {
                    socket.getInputStream().transferTo(got); // to the end of stream; our FIN follows at close
                } catch (java.net.SocketException reset) {
                    // the idle close is abortive
                }
                return new Exchange(socket.getLocalPort(), bytes.length, got.size(),
                        Duration.ofNanos(System.nanoTime() - start));
            }
        });
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> lines() throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        if (Files.exists(accessLog)) {
            for (String line : Files.readAllLines(accessLog)) {
                out.add((Map<String, Object>) JsonReader.read(line));
            }
        }
        return out;
    }

    private static String scrape() throws Exception {
        return LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics");
    }

    /** The sum of a metric's series whose labels contain {@code labels}. */
    private static double sum(String scrape, String metric, String labels) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(metric) + "\\{([^}]*)\\} ([0-9.E+-]+)$").matcher(scrape);
        double total = 0;
        while (m.find()) {
            if (m.group(1).contains(labels)) {
                total += Double.parseDouble(m.group(2));
            }
        }
        return total;
    }

    private static long number(Map<String, Object> line, String field) {
        return ((Number) line.get(field)).longValue();
    }

    @Test
    @Order(1)
    void eachConnectionHasOneNewFlowAndOneEndWithItsTupleBackendAndBytes() throws Exception {
        List<Exchange> done = new ArrayList<>();
        for (int i = 0; i < CONNECTIONS; i++) {
            done.add(exchange(PORT, "SEND " + (1000 + 200 * i) + "\n"));
        }
        for (int i = 0; i < 3; i++) {
            assertThat(exchange(QUIET_PORT, "SEND 100\n").received()).as("served without events").isEqualTo(100);
        }
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).until(() ->
                lines().stream().filter(l -> "FLOW_END".equals(l.get("type"))).count() >= CONNECTIONS);
        Thread.sleep(1_000); // nothing more comes
        List<Map<String, Object>> lines = lines();
        assertThat(lines).as("a NEW_FLOW and a FLOW_END per connection, nothing from the quiet listener")
                .hasSize(2 * CONNECTIONS);
        Map<String, Map<String, Object>> newByClient = new HashMap<>();
        Map<String, Map<String, Object>> endByClient = new HashMap<>();
        for (Map<String, Object> l : lines) {
            var byClient = "NEW_FLOW".equals(l.get("type")) ? newByClient : endByClient;
            assertThat(byClient.put((String) l.get("client"), l)).as("one of each per connection: %s", l).isNull();
        }
        String backend = Lab.backendV4(1) + ":" + PORT;
        for (Exchange e : done) {
            String client = Lab.CLIENT_V4 + ":" + e.clientPort();
            Map<String, Object> start = newByClient.get(client);
            Map<String, Object> end = endByClient.get(client);
            assertThat(start).as("NEW_FLOW of %s", client).isNotNull();
            assertThat(end).as("FLOW_END of %s", client).isNotNull();
            for (Map<String, Object> l : List.of(start, end)) {
                assertThat(l.get("protocol")).isEqualTo("TCP");
                assertThat(l.get("vip")).isEqualTo(Lab.VIP_V4 + ":" + PORT);
                assertThat(l.get("backend")).isEqualTo(backend);
                assertThat(l.get("nat")).isEqualTo("dnat");
                assertThat((String) l.get("listener")).endsWith("/lab/plain");
                assertThat(l.get("node")).isEqualTo("lab-node");
            }
            assertThat(((Number) end.get("duration_seconds")).doubleValue()).isBetween(0.0, 10.0);
            // Payload bytes at the client's socket: what the client sent and received, exactly.
            assertThat(number(end, "bytes_to_backend")).as("bytes the client sent").isEqualTo(e.sent());
            assertThat(number(end, "bytes_to_client")).as("bytes the client received").isEqualTo(e.received());
            assertThat(number(end, "packets_to_backend")).isPositive();
            assertThat(number(end, "packets_to_client")).isPositive();
            // The backend received the PROXY header and then exactly those bytes.
            Seen s = seen.get(e.clientPort());
            assertThat(s).as("the backend's view of %s", client).isNotNull();
            assertThat(s.header()).isEqualTo("PROXY TCP4 " + Lab.CLIENT_V4 + " " + Lab.VIP_V4 + " " + e.clientPort()
                    + " " + PORT + "\r\n");
            assertThat(s.payload()).isEqualTo(number(end, "bytes_to_backend"));
            assertThat(e.received()).as("bytes the client received").isEqualTo(1000 + 200L * done.indexOf(e));
            assertThat(end.get("end_reason")).as("%s", end).isEqualTo("fin");
        }
        String scrape = scrape();
        assertThat(sum(scrape, "nodelb_backend_connection_duration_seconds_count", "backend=\"" + backend + "\""))
                .as("durations recorded").isEqualTo(CONNECTIONS);
        assertThat(sum(scrape, "nodelb_backend_connection_duration_seconds_count",
                "backend=\"" + Lab.backendV4(2) + ":" + PORT + "\"")).as("none from the quiet listener").isZero();
        assertThat(sum(scrape, "nodelb_stream_user_space_bytes_total", "")).as("spliced, not relayed")
                .isLessThan(CONNECTIONS * 100);
    }

    @Test
    @Order(2)
    void aSilentConnectionIsClosedAtTheIdleTimeoutCountedAndEndedIdle() throws Exception {
        String backend = Lab.backendV4(3) + ":" + PORT;
        var held = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return exchange(IDLE_PORT, "HOLD\n");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        // Live, it counts among the backend's active connections (the gauges follow the 1 s sweep).
        await().atMost(IDLE.minusMillis(500)).pollInterval(Duration.ofMillis(100)).until(() ->
                sum(scrape(), "nodelb_backend_active_connections", "backend=\"" + backend + "\"") == 1);
        Exchange e = held.get(20, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(e.received()).isZero();
        assertThat(e.took()).as("closed at the idle timeout, within a check interval")
                .isBetween(IDLE.minusMillis(100), IDLE.plusSeconds(2));
        await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(100)).until(() ->
                lines().stream().anyMatch(l -> "FLOW_END".equals(l.get("type"))
                        && (Lab.CLIENT_V4 + ":" + e.clientPort()).equals(l.get("client"))));
        Map<String, Object> end = lines().stream().filter(l -> "FLOW_END".equals(l.get("type"))
                && (Lab.CLIENT_V4 + ":" + e.clientPort()).equals(l.get("client"))).findFirst().orElseThrow();
        assertThat(end.get("end_reason")).isEqualTo("idle");
        assertThat(end.get("nat")).as("the listener's natMode").isEqualTo("fullnat");
        assertThat(end.get("backend")).isEqualTo(backend);
        assertThat(number(end, "bytes_to_backend")).isEqualTo(e.sent());
        assertThat(number(end, "bytes_to_client")).isZero();
        await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            String scrape = scrape();
            assertThat(sum(scrape, "nodelb_stream_idle_closed_total", "listener=\"")).isEqualTo(1);
            assertThat(sum(scrape, "nodelb_backend_active_connections", "backend=\"" + backend + "\"")).isZero();
            assertThat(sum(scrape, "nodelb_backend_connection_duration_seconds_count", "backend=\"" + backend + "\""))
                    .isEqualTo(1);
        });
    }
}
