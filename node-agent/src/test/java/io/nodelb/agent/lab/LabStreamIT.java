package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.Privileged;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Stream listeners with real clients: TLS routed by server name to the group each name maps to
 * (exact, wildcard, the default for no name and for an unmatched name), with openssl s_server
 * backends that present a certificate named after their backend; a ClientHello split over
 * segments, an oversized one, a first byte that is not TLS and a silent client, each with its
 * documented outcome; and the PROXY protocol v1 and v2, IPv4 and IPv6, to HAProxy configured with
 * accept-proxy, which answers with the client address and port it was told, and, for TLS routed by
 * name, logs the server name the v2 header carried (PP2_TYPE_AUTHORITY). An 8 MiB download goes
 * through the sockmap splice without a byte through the agent.
 */
@Privileged
class LabStreamIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    private static final int TLS_PORT = 8443;
    private static final int HAPROXY_PORT = 9100;
    /** HAProxy in TCP mode with accept-proxy in front of be1's TLS server: it logs the v2 header's authority. */
    private static final int HAPROXY_TLS_PORT = 9200;
    private static final int METRICS_PORT = 19_900 + (int) (ProcessHandle.current().pid() % 90);
    private static final String CONFIG = file(
            targetGroup("api", TLS_PORT, Map.of("be1", 1)),
            targetGroup("web", TLS_PORT, Map.of("be2", 1)),
            targetGroup("fallback", TLS_PORT, Map.of("be3", 1)),
            targetGroup("hap", HAPROXY_PORT, Map.of("be1", 1)),
            targetGroup("hap-tls", HAPROXY_TLS_PORT, Map.of("be1", 1)),
            loadBalancer("lab", "DNAT", null,
                    "{name: tls, address: \"" + Lab.VIP_V4 + "\", port: 443, targetGroup: fallback, tls: {sniRoutes: ["
                            + "{serverNames: [api.example.com], targetGroup: api},"
                            + " {serverNames: [\"*.example.com\"], targetGroup: web}]}}",
                    proxied("v1", Lab.VIP_V4, 8001, "V1"), proxied("v1-6", Lab.VIP_V6, 8001, "V1"),
                    proxied("v2", Lab.VIP_V4, 8002, "V2"), proxied("v2-6", Lab.VIP_V6, 8002, "V2"),
                    "{name: tls-v2, address: \"" + Lab.VIP_V4 + "\", port: 8444, targetGroup: hap-tls, proxyProtocol: V2,"
                            + " tls: {sniRoutes: [{serverNames: [api.example.com], targetGroup: hap-tls}]}}"));

    private static final List<Process> servers = new ArrayList<>();
    /** A download large enough that a relay through the agent would show in its byte counter. */
    private static final int BIG = 8 * 1024 * 1024;

    private static String proxied(String name, String vip, int port, String version) {
        return "{name: " + name + ", address: \"" + vip + "\", port: " + port + ", targetGroup: hap, proxyProtocol: "
                + version + "}";
    }

    @BeforeAll
    static void startServersAndAgent() throws Exception {
        Path dir = LAB.runDir().resolve("stream");
        Files.createDirectories(dir);
        byte[] big = new byte[BIG];
        new java.util.Random(7).nextBytes(big);
        Files.write(dir.resolve("big.bin"), big);
        for (int k = 1; k <= 3; k++) {
            Path key = dir.resolve("be" + k + ".key");
            Path cert = dir.resolve("be" + k + ".pem");
            Command.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=be" + k, "-keyout", key.toString(), "-out", cert.toString());
            // TLS 1.2: the certificate, and the backend's name in it, crosses in clear.
            // -WWW: serves the files of its directory (big.bin) over HTTP/1.0.
            servers.add(background(dir.resolve("be" + k + ".log"), "ip", "netns", "exec", LAB.backend(k), "openssl",
                    "s_server", "-quiet", "-tls1_2", "-WWW", "-accept", Integer.toString(TLS_PORT), "-cert",
                    cert.toString(), "-key", key.toString()));
        }
        Path haproxy = dir.resolve("haproxy.cfg");
        Files.writeString(haproxy, """
                global
                  log stdout format raw local0
                defaults
                  mode http
                  log global
                  timeout connect 5s
                  timeout client 10s
                  timeout server 10s
                frontend fe
                  bind :::%d v4v6 accept-proxy
                  log-format "client %%[src] %%[src_port] id %%[fc_pp_unique_id,hex]"
                  http-request return status 200 content-type text/plain lf-string "%%[src] %%[src_port]"
                frontend tlsfe
                  mode tcp
                  bind :::%d v4v6 accept-proxy
                  log-format "tls client %%[src] %%[src_port] authority %%[fc_pp_authority]"
                  default_backend be1tls
                backend be1tls
                  mode tcp
                  server be1 %s:%d
                """.formatted(HAPROXY_PORT, HAPROXY_TLS_PORT, Lab.backendV4(1), TLS_PORT));
        servers.add(background(dir.resolve("haproxy.log"), "ip", "netns", "exec", LAB.backend(1), "haproxy", "-db",
                "-f", haproxy.toString()));
        for (int k = 1; k <= 3; k++) {
            awaitListening(LAB.backend(k), TLS_PORT);
        }
        awaitListening(LAB.backend(1), HAPROXY_PORT);
        awaitListening(LAB.backend(1), HAPROXY_TLS_PORT);
        Agent agent = LAB.launchAgent(CONFIG, LAB.pinPath(), "--metrics-port", Integer.toString(METRICS_PORT),
                "--stream-splice");
        agent.awaitProgrammed(0);
        // The stream listeners follow the applied version within a poll.
        awaitListening(LAB.node(), 443);
        awaitListening(LAB.node(), 8002);
    }

    @AfterAll
    static void stopServers() throws InterruptedException {
        for (Process p : servers) {
            p.destroy();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private static Process background(Path log, String... command) throws IOException {
        return new ProcessBuilder(command).directory(log.getParent().toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static void awaitListening(String namespace, int port) {
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).until(() ->
                LAB.exec(namespace, "ss", "-Htln", "sport = :" + port).contains(":" + port));
    }

    /** openssl s_client from the client: the subject of the certificate the backend presented. */
    private static String subjectFor(String... serverName) throws Exception {
        return subjectAt(443, serverName);
    }

    private static String subjectAt(int port, String... serverName) throws Exception {
        List<String> command = new ArrayList<>(List.of("timeout", "5", "openssl", "s_client", "-connect",
                Lab.VIP_V4 + ":" + port));
        command.addAll(serverName.length == 0 ? List.of("-noservername") : List.of("-servername", serverName[0]));
        var result = Command.result(Duration.ofSeconds(10), concat(List.of("ip", "netns", "exec", LAB.namespace("client")),
                command));
        return result.stdout().lines().filter(l -> l.startsWith("subject=")).findFirst().orElse(result.toString());
    }

    private static String[] concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all.toArray(String[]::new);
    }

    @Test
    void eachServerNameReachesItsGroupAndTheRestTheDefault() throws Exception {
        assertThat(subjectFor("api.example.com")).isEqualTo("subject=CN = be1");
        assertThat(subjectFor("API.Example.com")).isEqualTo("subject=CN = be1");
        assertThat(subjectFor("www.example.com")).isEqualTo("subject=CN = be2");
        assertThat(subjectFor("a.b.example.com")).isEqualTo("subject=CN = be2");
        assertThat(subjectFor("example.com")).isEqualTo("subject=CN = be3");
        assertThat(subjectFor("www.example.org")).isEqualTo("subject=CN = be3");
        assertThat(subjectFor()).isEqualTo("subject=CN = be3");
    }

    private static double scrapeValue(String series) throws Exception {
        String metrics = LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics");
        return metrics.lines().filter(l -> l.startsWith(series + " ")).mapToDouble(l -> Double.parseDouble(
                l.substring(series.length() + 1).strip())).findFirst().orElseThrow(() -> new AssertionError(
                series + " not in the scrape"));
    }

    @Test
    void aLargeDownloadIsSplicedInTheKernelNotCopiedByTheAgent() throws Exception {
        double before = scrapeValue("nodelb_stream_user_space_bytes_total");
        var result = Command.result(Duration.ofSeconds(30), "ip", "netns", "exec", LAB.namespace("client"), "curl",
                "-sk", "--max-time", "20", "--resolve", "big.example.com:443:" + Lab.VIP_V4,
                "https://big.example.com/big.bin", "-o", "/dev/null", "-w", "%{size_download} %{speed_download}");
        String[] got = result.stdout().strip().split(" ");
        assertThat(got[0]).as("bytes downloaded: %s", result).isEqualTo(Integer.toString(BIG));
        double copied = scrapeValue("nodelb_stream_user_space_bytes_total") - before;
        System.out.printf("spliced download: %d bytes at %.1f MB/s, %.0f bytes through the agent%n", BIG,
                Double.parseDouble(got[1]) / 1e6, copied);
        assertThat(copied).as("bytes the agent copied itself").isLessThan(BIG / 100.0);
    }

    @Test
    void theV2HeaderCarriesTheServerNameAsItsAuthority() throws Exception {
        assertThat(subjectAt(8444, "api.example.com")).isEqualTo("subject=CN = be1");
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200)).untilAsserted(() ->
                assertThat(Files.readString(LAB.runDir().resolve("stream/haproxy.log")))
                        .containsPattern("tls client " + java.util.regex.Pattern.quote(Lab.CLIENT_V4)
                                + " \\d+ authority api\\.example\\.com"));
    }

    /** The JDK's own first flight with this server name. */
    private static byte[] clientHello(String serverName) throws Exception {
        SSLEngine engine = SSLContext.getDefault().createSSLEngine("lab", 443);
        engine.setUseClientMode(true);
        SSLParameters p = engine.getSSLParameters();
        p.setServerNames(List.of(new SNIHostName(serverName)));
        engine.setSSLParameters(p);
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.beginHandshake();
        engine.wrap(ByteBuffer.allocate(0), out);
        return Arrays.copyOf(out.array(), out.position());
    }

    private record Answer(String text, boolean closed, long millis) {}

    /**
     * Connects from the client, sends {@code chunks} (each its own segment, 200 ms apart), then
     * reads until the answer holds {@code until}, the connection closes, or 10 s pass.
     */
    private static Answer exchange(String until, byte[]... chunks) throws Exception {
        return LAB.client().call(Duration.ofSeconds(30), () -> {
            try (Socket s = new Socket()) {
                s.setTcpNoDelay(true);
                s.bind(new InetSocketAddress(address(Lab.CLIENT_V4), 0));
                s.connect(new InetSocketAddress(address(Lab.VIP_V4), 443), 5_000);
                for (int i = 0; i < chunks.length; i++) {
                    if (i > 0) {
                        Thread.sleep(200);
                    }
                    s.getOutputStream().write(chunks[i]);
                    s.getOutputStream().flush();
                }
                long start = System.nanoTime();
                s.setSoTimeout(10_000);
                ByteArrayOutputStream got = new ByteArrayOutputStream();
                InputStream in = s.getInputStream();
                byte[] buffer = new byte[4096];
                boolean closed = false;
                try {
                    while (!got.toString(StandardCharsets.ISO_8859_1).contains(until)) {
                        int n = in.read(buffer);
                        if (n < 0) {
                            closed = true;
                            break;
                        }
                        got.write(buffer, 0, n);
                    }
                } catch (SocketTimeoutException e) {
                    // neither: said below
                } catch (IOException e) {
                    closed = true; // a reset
                }
                return new Answer(got.toString(StandardCharsets.ISO_8859_1), closed,
                        Duration.ofNanos(System.nanoTime() - start).toMillis());
            }
        });
    }

    @Test
    void aClientHelloSplitOverSegmentsIsRoutedByItsName() throws Exception {
        byte[] hello = clientHello("api.example.com");
        int third = hello.length / 3;
        Answer answer = exchange("be1", Arrays.copyOfRange(hello, 0, 3), Arrays.copyOfRange(hello, 3, third),
                Arrays.copyOfRange(hello, third, 2 * third), Arrays.copyOfRange(hello, 2 * third, hello.length));
        assertThat(answer.text()).as("the backend's certificate").contains("be1");
    }

    @Test
    void anOversizedClientHelloIsClosedAtOnce() throws Exception {
        // A handshake record announcing a ClientHello of 20,000 bytes, and 16 KiB of it.
        byte[] header = {22, 3, 1, 0x40, 0x00, 1, 0, 0x4e, 0x20};
        Answer answer = exchange("never", header, new byte[16_000]);
        assertThat(answer.closed()).isTrue();
        assertThat(answer.text()).isEmpty();
        assertThat(answer.millis()).isLessThan(2_000);
        awaitCount("outcome=\"too_large\"");
    }

    @Test
    void aFirstByteThatIsNotTlsGoesToTheDefaultGroup() throws Exception {
        // be3 speaks TLS 1.2: it answers plain text with an alert record (21) or a close.
        Answer answer = exchange("\u0015", "GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        assertThat(answer.text().isEmpty() ? answer.closed() : answer.text().startsWith("\u0015")).isTrue();
        awaitCount("group=\"default/fallback\",listener=\"default/lab/tls\",outcome=\"default\"");
    }

    @Test
    void aSilentClientIsClosedAfterTheHelloWait() throws Exception {
        Answer answer = exchange("never");
        assertThat(answer.closed()).as("closed by the agent").isTrue();
        assertThat(answer.millis()).isBetween(4_000L, 7_000L);
        awaitCount("outcome=\"timeout\"");
    }

    private static void awaitCount(String labels) {
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(250)).untilAsserted(() ->
                assertThat(LAB.exec(LAB.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + METRICS_PORT + "/metrics"))
                        .containsPattern("(?m)^nodelb_stream_connections_total\\{[^}]*"
                                + java.util.regex.Pattern.quote(labels) + "[^}]*\\} [1-9]"));
    }

    /** An HTTP request through a PROXY-protocol listener: HAProxy answers with the source it was told. */
    private static String[] proxiedRequest(String client, String vip, int port) throws Exception {
        return LAB.client().call(Duration.ofSeconds(20), () -> {
            try (Socket s = new Socket()) {
                s.setSoTimeout(5_000);
                s.bind(new InetSocketAddress(address(client), 0));
                s.connect(new InetSocketAddress(address(vip), port), 5_000);
                s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
                String body = response.substring(response.indexOf("\r\n\r\n") + 4).strip();
                return new String[] {body, s.getLocalAddress().getHostAddress() + " " + s.getLocalPort()};
            }
        });
    }

    @Test
    void haproxyBehindV1AndV2SeesTheRealClientOverIpv4AndIpv6() throws Exception {
        // Repeated: HAProxy answers and closes at once, the race of a short reply with its end of stream.
        for (int i = 0; i < 25; i++) {
            for (int port : new int[] {8001, 8002}) {
                String[] v4 = proxiedRequest(Lab.CLIENT_V4, Lab.VIP_V4, port);
                assertThat(v4[0]).as("port %d, IPv4, request %d", port, i).isEqualTo(v4[1]);
                String[] v6 = proxiedRequest(Lab.CLIENT_V6, Lab.VIP_V6, port);
                assertThat(v6[0]).as("port %d, IPv6, request %d", port, i)
                        .isEqualTo(v6[1].replace("fd00:1:0:0:0:0:0:2", "fd00:1::2"));
            }
        }
        // HAProxy's log: a unique id only with v2.
        String log = Files.readString(LAB.runDir().resolve("stream/haproxy.log"));
        assertThat(log).containsPattern("client " + java.util.regex.Pattern.quote(Lab.CLIENT_V4) + " \\d+ id [0-9A-F]{32}");
    }
}
