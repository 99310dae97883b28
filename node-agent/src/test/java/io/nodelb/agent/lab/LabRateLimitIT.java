package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.testing.NetnsThread;
import io.nodelb.agent.testing.Privileged;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A listener's rate limit with real TCP clients: one client address over its budget has its new
 * connections refused (the SYN dropped, connect times out) while a second address is served, and the
 * connection it opened before keeps working. The refusals are counted (drop_rate_limited) and written
 * as DROP records to the access log. A TargetGroup's backendRateLimit with a burst of SYNs sent at
 * once: each backend takes at most its burst of them, the others are refused (drop_backend_limited).
 */
@Privileged
class LabRateLimitIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(2);

    /** One new connection a second, three at once: the client's fourth within a second is refused. */
    private static final int BURST = 3;
    /** Shorter than the first SYN retransmission (1 s), by which time the bucket has a token again. */
    private static final int REFUSED_CONNECT_MS = 500;
    private static final int METRICS_PORT = 19_500 + (int) (ProcessHandle.current().pid() % 400);
    /** The backends' port in the group with a backendRateLimit: its own servers, so its own backend ids. */
    private static final int LIMITED_PORT = 8081;
    private static final List<NetnsThread> NAMESPACES = new ArrayList<>();
    private static final List<LabServer> SERVERS = new ArrayList<>();
    private static final String CONFIG = file(
            targetGroup("web", 8080, weights("be1", 1, "be2", 1)),
            targetGroup("limited", LIMITED_PORT, weights("be1", 1, "be2", 1)).replace("spec:\n",
                    "spec:\n  backendRateLimit: {newConnectionsPerSecond: 1, burst: " + BURST + "}\n"),
            loadBalancer("lab", "DNAT", null, limited(listener("http", Lab.VIP_V4, 80, "TCP", "web")),
                    listener("limited", Lab.VIP_V4, 81, "TCP", "limited")));
    /** SYNs sent at once to the listener of the limited group: far more than two backends' bursts. */
    private static final int SYNS = 16;

    private static Path accessLog;

    @BeforeAll
    static void startAgent() throws Exception {
        for (int k = 1; k <= 2; k++) {
            NetnsThread ns = NetnsThread.enter(LAB.backend(k));
            NAMESPACES.add(ns);
            SERVERS.add(LabServer.start(ns, LIMITED_PORT, "be" + k));
        }
        accessLog = LAB.runDir().resolve("access.log");
        Agent agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--access-log", accessLog.toString(), "--access-log-format", "json");
        agent.awaitProgrammed(0);
    }

    @AfterAll
    static void stopServers() throws Exception {
        for (LabServer s : SERVERS) {
            s.close();
        }
        for (NetnsThread ns : NAMESPACES) {
            ns.close();
        }
    }

    private static String limited(String listener) {
        return listener.substring(0, listener.length() - 1)
                + ", rateLimit: {newConnectionsPerSecond: 1, burst: " + BURST + "}}";
    }

    private static Socket connect(String client, int timeoutMs) throws IOException {
        Socket socket = new Socket();
        try {
            socket.setSoTimeout(5_000);
            socket.bind(new InetSocketAddress(address(client), 0));
            socket.connect(new InetSocketAddress(address(Lab.VIP_V4), 80), timeoutMs);
            return socket;
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }

    /** One HTTP request on an open connection; the bytes of the answer. */
    private static int request(Socket socket) throws IOException {
        socket.getOutputStream().write("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII));
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        socket.getInputStream().transferTo(got);
        return got.size();
    }

    @Test
    void aClientOverItsBudgetIsRefusedWhileAnotherIsServedAndItsOpenConnectionWorks() throws Exception {
        record Outcome(int opened, boolean refused, int served, int answeredOnOpen) {}
        Outcome outcome = LAB.client().call(Duration.ofSeconds(60), () -> {
            try (Socket held = connect(Lab.CLIENT_V4, 5_000)) {
                int opened = 1;
                for (int i = 1; i < BURST; i++) {
                    try (Socket s = connect(Lab.CLIENT_V4, 5_000)) {
                        opened++;
                    }
                }
                boolean refused;
                try (Socket s = connect(Lab.CLIENT_V4, REFUSED_CONNECT_MS)) {
                    refused = false;
                } catch (IOException expected) {
                    refused = true;
                }
                int served;
                try (Socket other = connect(Lab.SECOND_CLIENT_V4, 5_000)) {
                    served = request(other);
                }
                return new Outcome(opened, refused, served, request(held));
            }
        });
        assertThat(outcome.opened()).as("connections within the burst").isEqualTo(BURST);
        assertThat(outcome.refused()).as("the connection over the budget is refused").isTrue();
        assertThat(outcome.served()).as("bytes the second client got").isPositive();
        assertThat(outcome.answeredOnOpen()).as("bytes on the connection opened before").isPositive();

        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
            assertThat(LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics"))
                    .containsPattern("(?m)^nodelb_packets_total\\{[^}]*verdict=\"drop_rate_limited\"[^}]*\\} [1-9]");
            assertThat(Files.exists(accessLog) ? Files.readString(accessLog) : "")
                    .containsPattern("\"drop_reason\"\\s*:\\s*\"drop_rate_limited\"")
                    .containsPattern("\"client\"\\s*:\\s*\"" + java.util.regex.Pattern.quote(Lab.CLIENT_V4) + ":");
        });
    }

    @Test
    void aBackendOverItsBudgetRefusesNewConnectionsWhileTheOtherIsServed() throws Exception {
        record Outcome(Map<String, Integer> servedBy, int refused) {}
        Outcome outcome = LAB.client().call(Duration.ofSeconds(60), () -> {
            List<SocketChannel> channels = new ArrayList<>();
            try (Selector selector = Selector.open()) {
                // Every SYN leaves within a few milliseconds: the buckets refill 1/s, a few thousandths of a token.
                for (int i = 0; i < SYNS; i++) {
                    SocketChannel c = SocketChannel.open();
                    channels.add(c);
                    c.bind(new InetSocketAddress(address(Lab.CLIENT_V4), 0));
                    c.configureBlocking(false);
                    c.connect(new InetSocketAddress(address(Lab.VIP_V4), 81));
                    c.register(selector, SelectionKey.OP_CONNECT);
                }
                // Before the first SYN retransmission (1 s), when the refused would find a token again.
                long deadline = System.nanoTime() + Duration.ofMillis(REFUSED_CONNECT_MS).toNanos();
                long left;
                while ((left = deadline - System.nanoTime()) > 0) {
                    selector.select(Math.max(1, left / 1_000_000));
                    for (SelectionKey key : selector.selectedKeys()) {
                        ((SocketChannel) key.channel()).finishConnect();
                        key.cancel();
                    }
                    selector.selectedKeys().clear();
                }
                Map<String, Integer> servedBy = new TreeMap<>();
                int refused = 0;
                for (SocketChannel c : channels) {
                    if (!c.isConnected()) {
                        refused++;
                        continue;
                    }
                    c.configureBlocking(true);
                    try (Socket s = c.socket()) {
                        s.setSoTimeout(5_000);
                        s.getOutputStream().write("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
                                .getBytes(StandardCharsets.US_ASCII));
                        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
                        servedBy.merge(answer.substring(answer.lastIndexOf("\r\n\r\n") + 4).strip(), 1, Integer::sum);
                    }
                }
                return new Outcome(servedBy, refused);
            } finally {
                for (SocketChannel c : channels) {
                    c.close();
                }
            }
        });
        // Maglev spreads 16 source ports over both backends (all on one: a chance of 2 in 65,536).
        assertThat(outcome.servedBy()).as("connections served by each backend").containsOnlyKeys("be1", "be2")
                .allSatisfy((backend, n) -> assertThat(n).as(backend).isBetween(1, BURST));
        assertThat(outcome.refused()).as("connections refused").isEqualTo(
                SYNS - outcome.servedBy().values().stream().mapToInt(Integer::intValue).sum())
                .isGreaterThanOrEqualTo(SYNS - 2 * BURST);
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> assertThat(
                LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics"))
                .containsPattern("(?m)^nodelb_packets_total\\{[^}]*verdict=\"drop_backend_limited\"[^}]*\\} [1-9]"));
    }
}
