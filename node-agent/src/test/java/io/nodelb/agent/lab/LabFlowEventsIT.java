package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.LabConfig.withIdleTimeouts;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.testing.Privileged;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.logging.log4j.layout.template.json.util.JsonReader;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Flow events end to end: real TCP connections and UDP exchanges through the agent (DNAT and
 * FullNAT) on listeners with events on, read back from its JSON access log and its metrics.
 * Events are on by default (the listeners' flowEvents); one listener turns them off and writes
 * nothing. Last, the metrics reference (docs/metrics.md) against the scrape.
 */
@Privileged
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LabFlowEventsIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    private static final int TCP_CONNECTIONS = 10;
    private static final int FULLNAT_CONNECTIONS = 4;
    private static final int UDP_EXCHANGES = 6;
    /** Connections to the listener with flowEvents: false. */
    private static final int QUIET_CONNECTIONS = 3;
    private static final int METRICS_PORT = 19_100 + (int) (ProcessHandle.current().pid() % 400);
    private static final String CONFIG = file(
            targetGroup("web", 8080, weights("be1", 1, "be2", 1))
                    + "  healthCheck: {type: TCP, interval: 500ms, timeout: 400ms}\n",
            targetGroup("echo", 9000, weights("be1", 1, "be2", 1)),
            withIdleTimeouts(loadBalancer("lab", "DNAT", null,
                    listener("http", Lab.VIP_V4, 80, "TCP", "web"),
                    listener("echo", Lab.VIP_V4, 9000, "UDP", "echo"),
                    quiet(listener("quiet", Lab.VIP_V4, 83, "TCP", "web"))), "{udp: 1s}"),
            loadBalancer("labfn", "FullNAT", Lab.NODE_LAN_V4,
                    listener("http-fn", Lab.VIP_V4, 82, "TCP", "web")));

    private static Path accessLog;
    private static Agent agent;
    /** Records each CPU may write per second: low, so the flood spends it. */
    private static final int EVENTS_PER_SECOND = 500;
    private static final Duration FLOOD = Duration.ofSeconds(15);

    @BeforeAll
    static void startAgentWithEventsOn() throws Exception {
        accessLog = LAB.runDir().resolve("access.log");
        agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--access-log", accessLog.toString(), "--access-log-format", "json",
                "--conntrack-sweep-interval", "1", "--flow-events-per-second", Integer.toString(EVENTS_PER_SECOND));
        agent.awaitProgrammed(0);
    }

    private static String quiet(String listener) {
        return listener.substring(0, listener.length() - 1) + ", flowEvents: false}";
    }

    /** What a client did on one connection or exchange: its port, bytes sent and received (payload). */
    private record Exchange(String protocol, int vipPort, int clientPort, long sent, long received) {}

    private static Exchange tcp(int vipPort) throws Exception {
        return LAB.client().call(Duration.ofSeconds(30), () -> {
            try (Socket socket = new Socket()) {
                socket.setSoTimeout(5_000);
                socket.bind(new InetSocketAddress(address(Lab.CLIENT_V4), 0));
                socket.connect(new InetSocketAddress(address(Lab.VIP_V4), vipPort), 5_000);
                byte[] request = "GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII);
                socket.getOutputStream().write(request);
                InputStream in = socket.getInputStream();
                ByteArrayOutputStream got = new ByteArrayOutputStream();
                in.transferTo(got); // to the server's FIN; ours follows at close
                return new Exchange("TCP", vipPort, socket.getLocalPort(), request.length, got.size());
            }
        });
    }

    private static Exchange udp(int i) throws Exception {
        String payload = "ping " + i;
        Traffic.UdpAnswer answer = LAB.client().call(Duration.ofSeconds(30), () -> Traffic.udp(address(Lab.CLIENT_V4),
                new InetSocketAddress(address(Lab.VIP_V4), 9000), payload));
        return new Exchange("UDP", 9000, -1, payload.length(), answer.text().length());
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> lines() throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        if (!Files.exists(accessLog)) {
            return out;
        }
        for (String line : Files.readAllLines(accessLog)) {
            out.add((Map<String, Object>) JsonReader.read(line));
        }
        return out;
    }

    private static String scrape() throws Exception {
        return LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics");
    }

    private static double sum(String scrape, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + "(\\{[^}]*\\})? ([0-9.E+-]+)$").matcher(scrape);
        double total = 0;
        while (m.find()) {
            total += Double.parseDouble(m.group(2));
        }
        return total;
    }

    private static long number(Map<String, Object> line, String field) {
        return ((Number) line.get(field)).longValue();
    }

    @Test
    @Order(1)
    void everyFlowHasOneNewFlowAndOneEndWithItsTupleBackendAndBytes() throws Exception {
        List<Exchange> done = new ArrayList<>();
        for (int i = 0; i < TCP_CONNECTIONS; i++) {
            done.add(tcp(80));
        }
        for (int i = 0; i < FULLNAT_CONNECTIONS; i++) {
            done.add(tcp(82));
        }
        for (int i = 0; i < UDP_EXCHANGES; i++) {
            done.add(udp(i));
        }
        int flows = done.size();
        for (int i = 0; i < QUIET_CONNECTIONS; i++) {
            assertThat(tcp(83).received()).as("served without events").isPositive();
        }

        // UDP flows end idle: their 1 s timeout, then a sweep (every second).
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(250)).until(() ->
                lines().stream().filter(l -> "FLOW_END".equals(l.get("type"))).count() >= flows);
        Thread.sleep(1_500); // nothing more comes
        List<Map<String, Object>> lines = lines();
        List<Map<String, Object>> news = lines.stream().filter(l -> "NEW_FLOW".equals(l.get("type"))).toList();
        List<Map<String, Object>> ends = lines.stream().filter(l -> "FLOW_END".equals(l.get("type"))).toList();
        assertThat(news).as("NEW_FLOW records").hasSize(flows);
        assertThat(ends).as("FLOW_END records").hasSize(flows);
        assertThat(lines).as("no DROP, nothing from the quiet listener").hasSize(2 * flows);

        Set<String> backends = Set.of(Lab.backendV4(1) + ":8080", Lab.backendV4(2) + ":8080",
                Lab.backendV4(1) + ":9000", Lab.backendV4(2) + ":9000");
        Map<String, Map<String, Object>> endByClient = new HashMap<>();
        for (Map<String, Object> end : ends) {
            assertThat(endByClient.put(end.get("protocol") + " " + end.get("client"), end)).as("one end per flow").isNull();
            assertThat(end.get("node")).isEqualTo("lab-node");
            assertThat(backends).contains((String) end.get("backend"));
            assertThat(((Number) end.get("duration_seconds")).doubleValue()).isGreaterThanOrEqualTo(0);
        }
        for (Map<String, Object> n : news) {
            Map<String, Object> end = endByClient.get(n.get("protocol") + " " + n.get("client"));
            assertThat(end).as("the end of %s", n).isNotNull();
            assertThat(end.get("backend")).isEqualTo(n.get("backend"));
            assertThat(end.get("vip")).isEqualTo(n.get("vip"));
        }
        for (Exchange e : done) {
            if (e.protocol().equals("TCP")) {
                Map<String, Object> end = endByClient.get("TCP " + Lab.CLIENT_V4 + ":" + e.clientPort());
                assertThat(end).as("the end of TCP from port %d", e.clientPort()).isNotNull();
                assertThat(end.get("vip")).isEqualTo(Lab.VIP_V4 + ":" + e.vipPort());
                assertThat(end.get("end_reason")).isEqualTo("fin");
                assertThat(end.get("nat")).isEqualTo(e.vipPort() == 82 ? "fullnat" : "dnat");
                assertThat((String) end.get("listener")).endsWith(e.vipPort() == 82 ? "/labfn/http-fn" : "/lab/http");
                // IP bytes: the payload plus at least 40 bytes of headers per packet
                assertThat(number(end, "bytes_to_backend")).isGreaterThanOrEqualTo(e.sent() + 40 * number(end, "packets_to_backend"));
                assertThat(number(end, "bytes_to_client")).isGreaterThanOrEqualTo(e.received() + 40 * number(end, "packets_to_client"));
            }
        }
        List<Map<String, Object>> udpEnds = ends.stream().filter(l -> "UDP".equals(l.get("protocol"))).toList();
        assertThat(udpEnds).hasSize(UDP_EXCHANGES).allSatisfy(end -> {
            assertThat(end.get("end_reason")).isEqualTo("idle");
            assertThat(number(end, "packets_to_backend")).isEqualTo(1);
            assertThat(number(end, "packets_to_client")).isEqualTo(1);
        });
        Set<Long> udpBytes = new TreeSet<>();
        udpEnds.forEach(end -> udpBytes.add(number(end, "bytes_to_backend")));
        Set<Long> sentBytes = new TreeSet<>();
        done.stream().filter(e -> e.protocol().equals("UDP")).forEach(e -> sentBytes.add(28 + e.sent()));
        assertThat(udpBytes).as("IPv4 + UDP headers and the payload").isEqualTo(sentBytes);

        String scrape = scrape();
        assertThat(sum(scrape, "nodelb_backend_connection_duration_seconds_count")).as("histogram count")
                .isEqualTo(flows);
        assertThat(sum(scrape, "nodelb_flow_events_total")).isEqualTo(2 * flows);
        assertThat(sum(scrape, "nodelb_flow_events_lost_total")).isZero();
    }

    @Test
    @Order(2)
    void theActiveConnectionGaugesCountTheConnectionsHeldOpen() throws Exception {
        List<Traffic.HttpConnection> held = new ArrayList<>();
        try {
            for (int port : new int[] {80, 80, 80, 82, 82}) {
                held.add(LAB.client().call(Duration.ofSeconds(10), () -> Traffic.HttpConnection.open(
                        address(Lab.CLIENT_V4), new InetSocketAddress(address(Lab.VIP_V4), port))));
            }
            for (Traffic.HttpConnection c : held) {
                LAB.client().call(Duration.ofSeconds(10), () -> c.get("/"));
            }
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
                String scrape = scrape();
                assertThat(sum(scrape, "nodelb_backend_active_connections")).isEqualTo(held.size());
                assertThat(sum(scrape, "nodelb_fullnat_ports_in_use")).isEqualTo(2);
            });
        } finally {
            for (Traffic.HttpConnection c : held) {
                LAB.client().call(Duration.ofSeconds(10), () -> {
                    c.close();
                    return null;
                });
            }
        }
    }

    /** Family names of a scrape as docs/metrics.md names them (counters with _total). */
    static Set<String> scrapedMetrics(String scrape) {
        Set<String> out = new TreeSet<>();
        Matcher m = Pattern.compile("(?m)^# TYPE (\\S+) (\\S+)$").matcher(scrape);
        while (m.find()) {
            String name = m.group(1);
            out.add(m.group(2).equals("counter") && !name.endsWith("_total") ? name + "_total" : name);
        }
        return out;
    }

    /** The metrics of docs/metrics.md's tables, with their "present" column. */
    static Map<String, String> documentedMetrics() throws Exception {
        Map<String, String> out = new java.util.TreeMap<>();
        Matcher m = Pattern.compile("(?m)^\\| `(nodelb_\\w+)` \\| [^|]+ \\|[^|]*\\| ([^|]+) \\|")
                .matcher(Files.readString(LAB.top().resolve("docs/metrics.md")));
        while (m.find()) {
            out.put(m.group(1), m.group(2).strip());
        }
        return out;
    }

    private static long rssKb(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new AssertionError("no VmRSS for " + pid);
    }

    /** New connections as fast as one client thread opens them, each closed at once (the backend's SYN-ACK meets a RST). */
    private static long flood(Duration length) throws Exception {
        return LAB.client().call(length.plusSeconds(30), () -> {
            InetSocketAddress vip = new InetSocketAddress(address(Lab.VIP_V4), 80);
            long end = System.nanoTime() + length.toNanos();
            long opened = 0;
            while (System.nanoTime() < end) {
                try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open()) {
                    ch.configureBlocking(false);
                    ch.bind(new InetSocketAddress(address(Lab.CLIENT_V4), 0));
                    ch.connect(vip);
                    opened++;
                } catch (java.io.IOException e) {
                    Thread.onSpinWait(); // ports exhausted for a moment
                }
            }
            return opened;
        });
    }

    @Test
    @Order(3)
    void aBoundedSynFloodLosesRecordsOnlyCountedAndLeavesTheAgentBoundedAndServing() throws Exception {
        // The budget map is read at most once a second: let the earlier tests' records and reads settle.
        Thread.sleep(2_000);
        String before = scrape();
        long rssBefore = rssKb(agent.pid());

        long opened = flood(FLOOD);
        Thread.sleep(3_000); // the writer catches up
        String after = scrape();
        long rssAfter = rssKb(agent.pid());

        double written = sum(after, "nodelb_flow_events_written_total") - sum(before, "nodelb_flow_events_written_total");
        double read = sum(after, "nodelb_flow_events_total") - sum(before, "nodelb_flow_events_total");
        double queueFull = sum(after, "nodelb_flow_events_lost_total{reason=\"agent_queue_full\"}")
                - sum(before, "nodelb_flow_events_lost_total{reason=\"agent_queue_full\"}");
        double overBudget = sum(after, "nodelb_flow_events_lost_total{reason=\"over_budget\"}")
                - sum(before, "nodelb_flow_events_lost_total{reason=\"over_budget\"}");
        double newFlows = sum(after, "nodelb_backend_new_flows_total") - sum(before, "nodelb_backend_new_flows_total");
        System.out.printf("flood: %d connections opened in %s, %.0f new flows, %.0f records written, %.0f read,"
                        + " %.0f over budget, %.0f dropped by the agent; RSS %d -> %d KiB%n", opened, FLOOD, newFlows,
                written, read, overBudget, queueFull, rssBefore, rssAfter);

        assertThat(overBudget).as("records over the per-CPU budget, counted").isPositive();
        assertThat(read + queueFull).as("every record written was read or counted as dropped").isEqualTo(written);
        assertThat(written).as("at most the budget per CPU and second")
                .isLessThanOrEqualTo((double) EVENTS_PER_SECOND * Runtime.getRuntime().availableProcessors()
                        * (FLOOD.toSeconds() + 4));
        assertThat(rssAfter - rssBefore).as("RSS growth, KiB").isLessThan(200 * 1024);
        assertThat(LAB.client().call(Duration.ofSeconds(30), () -> Traffic.get(
                new InetSocketAddress(address(Lab.CLIENT_V4), 0), new InetSocketAddress(address(Lab.VIP_V4), 80), "/")))
                .as("a new legitimate connection after the flood").startsWith("be");
    }

    @Test
    @Order(4)
    void theMetricsReferenceListsExactlyWhatTheAgentServes() throws Exception {
        Map<String, String> documented = documentedMetrics();
        Set<String> scraped = scrapedMetrics(scrape());
        Set<String> expected = new HashSet<>(documented.keySet());
        expected.removeIf(name -> documented.get(name).equals("cluster mode"));
        // This lab has no stream listener; LabStreamIT scrapes those.
        expected.removeIf(name -> documented.get(name).equals("stream connection"));

        assertThat(scraped).as("metrics the agent serves that docs/metrics.md does not list")
                .isSubsetOf(documented.keySet());
        assertThat(scraped).as("metrics docs/metrics.md lists that the agent does not serve")
                .containsAll(expected);
        Set<String> cluster = new TreeSet<>(documented.keySet());
        cluster.removeAll(expected);
        cluster.removeIf(name -> documented.get(name).equals("stream connection"));
        assertThat(documented).as("stream-listener metrics, which LabStreamIT scrapes")
                .containsEntry("nodelb_stream_connections_total", "stream connection");
        assertThat(cluster).as("the cluster mode's, from ClusterMetrics").containsExactlyInAnyOrder(
                "nodelb_control_connected", "nodelb_control_refusing", "nodelb_control_acks_total",
                "nodelb_control_nacks_total", "nodelb_control_reconnects_total");
    }
}
