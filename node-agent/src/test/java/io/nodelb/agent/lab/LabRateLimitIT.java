package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.testing.Privileged;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A listener's rate limit with real TCP clients: one client address over its budget has its new
 * connections refused (the SYN dropped, connect times out) while a second address is served, and the
 * connection it opened before keeps working. The refusals are counted (drop_rate_limited) and written
 * as DROP records to the access log.
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
    private static final String CONFIG = file(
            targetGroup("web", 8080, weights("be1", 1, "be2", 1)),
            loadBalancer("lab", "DNAT", null, limited(listener("http", Lab.VIP_V4, 80, "TCP", "web"))));

    private static Path accessLog;

    @BeforeAll
    static void startAgent() throws Exception {
        accessLog = LAB.runDir().resolve("access.log");
        Agent agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--access-log", accessLog.toString(), "--access-log-format", "json");
        agent.awaitProgrammed(0);
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
}
