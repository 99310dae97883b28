package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.testing.Privileged;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.logging.log4j.layout.template.json.util.JsonReader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A stream listener (PROXY protocol v1, and one without a header) on real connections, spliced or
 * relayed as the subclass starts the agent, every answer checked by length and hash: long answers
 * to clients that only read (the backend's FIN must not reset the client: a bare FIN stays with its
 * socket), answers to slow readers (the agent waits on a full socket), and half-closed uploads (the
 * client's FIN comes first, then the whole answer must still arrive). None waits for the
 * end-of-stream bound.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class LabStreamAnswers {
    private static final int PORT = 9350;
    /** A stream listener of the same group without a PROXY header: the backend gets the client's bytes first. */
    private static final int PLAIN_PORT = 9351;
    private static final Duration EACH = Duration.ofSeconds(10);
    private static final String CONFIG = file(
            targetGroup("splice", PORT, Map.of("be1", 1, "be2", 1, "be3", 1)),
            loadBalancer("lab", "DNAT", null,
                    "{name: spliced, address: \"" + Lab.VIP_V4 + "\", port: " + PORT
                            + ", targetGroup: splice, proxyProtocol: V1}",
                    // A stream listener by its SNI routes; the uploads' first byte is not TLS: the default group.
                    "{name: plain, address: \"" + Lab.VIP_V4 + "\", port: " + PLAIN_PORT + ", targetGroup: splice,"
                            + " tls: {sniRoutes: [{serverNames: [plain.example.com], targetGroup: splice}]}}"));

    private RawBackends backends;
    private java.nio.file.Path accessLog;
    private final ExecutorService clients = Executors.newFixedThreadPool(12);
    private final Lab lab;
    private final int metricsPort;
    private final List<String> copyOptions;

    /**
     * @param lab the subclass's lab (its own extension)
     * @param metricsPorts where its agent's metrics port is chosen from (90 ports, by this process)
     * @param copyOptions the agent's options that say how it copies
     */
    LabStreamAnswers(Lab lab, int metricsPorts, String... copyOptions) {
        this.lab = lab;
        this.metricsPort = metricsPorts + (int) (ProcessHandle.current().pid() % 90);
        this.copyOptions = List.of(copyOptions);
    }

    /** Checks the bytes the agent copied itself while {@code answered} bytes were answered. */
    abstract void checkCopied(double copied, long answered);

    @BeforeAll
    void startBackendsAndAgent() throws Exception {
        backends = RawBackends.start(lab, 3, PORT, 256, LabStreamAnswers::serve);
        accessLog = lab.runDir().resolve("stream-access.log");
        List<String> options = new ArrayList<>(List.of("--metrics-port", Integer.toString(metricsPort),
                "--access-log", accessLog.toString(), "--access-log-format", "json"));
        options.addAll(copyOptions);
        Agent agent = lab.launchAgent(CONFIG, lab.pinPath(), options.toArray(String[]::new));
        agent.awaitProgrammed(0);
        for (int port : new int[] {PORT, PLAIN_PORT}) {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).until(() ->
                    lab.exec(lab.node(), "ss", "-Htln", "sport = :" + port).contains(":" + port));
        }
    }

    @AfterAll
    void stopBackends() throws Exception {
        clients.shutdownNow();
        if (backends != null) {
            backends.close();
        }
    }

    /**
     * The backend, after the PROXY line if there is one: {@code GET n seed} answers n bytes of the seed's stream,
     * half-closes and reads to the end; {@code PUT} reads to the end, then answers
     * {@code OK <length> <sha-256>\n} and echoes what it read.
     */
    private static void serve(Socket socket) throws IOException, InterruptedException {
        InputStream in = socket.getInputStream();
        OutputStream out = socket.getOutputStream();
        String first = RawBackends.line(in);
        String[] request = (first.startsWith("PROXY ") ? RawBackends.line(in) : first).strip().split(" ");
        if (request[0].equals("GET")) {
            out.write(bytes(Integer.parseInt(request[1]), Long.parseLong(request[2])));
            if (request.length > 3) {
                Thread.sleep(Long.parseLong(request[3])); // the FIN in a segment of its own
            }
            socket.shutdownOutput();
            in.transferTo(OutputStream.nullOutputStream());
        } else {
            byte[] got = in.readAllBytes();
            out.write(("OK " + got.length + " " + sha256(got) + "\n").getBytes(StandardCharsets.US_ASCII));
            out.write(got);
        }
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A socket of the client namespace connected to the VIP; {@code receiveBuffer} 0: the default. */
    private Socket connect(int receiveBuffer) throws Exception {
        return connect(PORT, receiveBuffer);
    }

    private Socket connect(int port, int receiveBuffer) throws Exception {
        return lab.client().call(() -> {
            Socket s = new Socket();
            if (receiveBuffer > 0) {
                s.setReceiveBufferSize(receiveBuffer);
            }
            s.bind(new InetSocketAddress(address(Lab.CLIENT_V4), 0));
            s.connect(new InetSocketAddress(address(Lab.VIP_V4), port), 5_000);
            s.setSoTimeout((int) EACH.toMillis());
            return s;
        });
    }

    /** What a client read to the end of stream, and how long the exchange took. */
    private record Answer(byte[] bytes, Duration took, int port) {}

    /**
     * {@code GET n seed}, then only reads (its own FIN after the end of stream); {@code pause}
     * between reads of {@code chunk} bytes makes a slow reader.
     */
    private Answer download(String request, int n, int receiveBuffer, int chunk, long pauseMs) throws Exception {
        try (Socket s = connect(receiveBuffer)) {
            long start = System.nanoTime();
            s.getOutputStream().write((request + "\n").getBytes(StandardCharsets.US_ASCII));
            ByteArrayOutputStream got = new ByteArrayOutputStream(n);
            byte[] buffer = new byte[chunk];
            InputStream in = s.getInputStream();
            for (int r; (r = in.read(buffer)) >= 0; ) {
                got.write(buffer, 0, r);
                if (pauseMs > 0) {
                    Thread.sleep(pauseMs);
                }
            }
            return new Answer(got.toByteArray(), Duration.ofNanos(System.nanoTime() - start), s.getLocalPort());
        }
    }

    /** {@code PUT}, the upload, a half-close; then the whole answer. */
    private Answer upload(byte[] data) throws Exception {
        return upload(PORT, data, 0);
    }

    /** {@code pauseMs} after the request line: the agent has opened the connection before the data comes. */
    private Answer upload(int port, byte[] data, long pauseMs) throws Exception {
        try (Socket s = connect(port, 0)) {
            long start = System.nanoTime();
            OutputStream out = s.getOutputStream();
            out.write("PUT\n".getBytes(StandardCharsets.US_ASCII));
            if (pauseMs > 0) {
                out.flush();
                Thread.sleep(pauseMs);
            }
            out.write(data);
            s.shutdownOutput();
            byte[] got = s.getInputStream().readAllBytes();
            return new Answer(got, Duration.ofNanos(System.nanoTime() - start), s.getLocalPort());
        }
    }

    private <T> List<T> all(List<java.util.concurrent.Callable<T>> work) throws Exception {
        List<Future<T>> futures = new ArrayList<>();
        work.forEach(w -> futures.add(clients.submit(w)));
        List<T> out = new ArrayList<>();
        for (Future<T> f : futures) {
            out.add(f.get(60, TimeUnit.SECONDS));
        }
        return out;
    }

    private double userSpaceBytes() throws Exception {
        String scrape = lab.exec(lab.node(), "curl", "-s", "-m", "5", "http://127.0.0.1:" + metricsPort + "/metrics");
        Matcher m = Pattern.compile("(?m)^nodelb_stream_user_space_bytes_total(?:\\{[^}]*\\})? ([0-9.E+-]+)$")
                .matcher(scrape);
        assertThat(m.find()).as("nodelb_stream_user_space_bytes_total in %s", scrape).isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void longAnswersReachReadOnlyClientsWhole() throws Exception {
        double before = userSpaceBytes();
        List<java.util.concurrent.Callable<long[]>> work = new ArrayList<>();
        long expected = 0;
        for (int i = 0; i < 120; i++) {
            int n = 200_000 + 7_919 * i;
            long seed = i;
            expected += n;
            work.add(() -> {
                Answer a = download("GET " + n + " " + seed, n, 0, 64 * 1024, 0);
                assertThat(a.bytes().length).as("answer %d's length", seed).isEqualTo(n);
                assertThat(sha256(a.bytes())).as("answer %d", seed).isEqualTo(sha256(bytes(n, seed)));
                assertThat(a.took()).as("answer %d in time", seed).isLessThan(EACH);
                return new long[] {n};
            });
        }
        assertThat(all(work)).hasSize(120);
        checkCopied(userSpaceBytes() - before, expected);
    }

    @Test
    void anAnswerWhoseFinComesAloneEndsCleanlyWithExactCounters() throws Exception {
        List<java.util.concurrent.Callable<Answer>> work = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            int n = 1_000 + 10 * i;
            long seed = 3_000 + i;
            work.add(() -> {
                Answer a = download("GET " + n + " " + seed + " 30", n, 0, 4096, 0);
                assertThat(a.bytes()).as("answer %d", seed).isEqualTo(bytes(n, seed));
                assertThat(a.took()).as("answer %d in time", seed).isLessThan(EACH);
                return a;
            });
        }
        List<Answer> answers = all(work);
        // Each ended with a FIN both ways, its bytes counted without the FINs.
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            Map<String, Map<String, Object>> ends = new java.util.HashMap<>();
            for (String line : java.nio.file.Files.readAllLines(accessLog)) {
                @SuppressWarnings("unchecked")
                Map<String, Object> l = (Map<String, Object>) JsonReader.read(line);
                if ("FLOW_END".equals(l.get("type"))) {
                    ends.put((String) l.get("client"), l);
                }
            }
            for (Answer a : answers) {
                Map<String, Object> end = ends.get(Lab.CLIENT_V4 + ":" + a.port());
                assertThat(end).as("FLOW_END of port %d", a.port()).isNotNull();
                assertThat(end.get("end_reason")).as("%s", end).isEqualTo("fin");
                assertThat(((Number) end.get("bytes_to_client")).longValue()).as("%s", end).isEqualTo(a.bytes().length);
                String request = "GET " + a.bytes().length + " " + (3_000 + (a.bytes().length - 1_000) / 10) + " 30\n";
                assertThat(((Number) end.get("bytes_to_backend")).longValue()).as("%s", end).isEqualTo(request.length());
            }
        });
    }

    @Test
    void slowReadersGetTheWholeAnswer() throws Exception {
        List<java.util.concurrent.Callable<Integer>> work = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            int n = 256 * 1024 + 1_000 * i;
            long seed = 1_000 + i;
            work.add(() -> {
                Answer a = download("GET " + n + " " + seed, n, 4096, 4096, 2);
                assertThat(a.bytes().length).as("slow answer %d's length", seed).isEqualTo(n);
                assertThat(sha256(a.bytes())).as("slow answer %d", seed).isEqualTo(sha256(bytes(n, seed)));
                return n;
            });
        }
        assertThat(all(work)).hasSize(20);
    }

    @Test
    void halfClosedUploadsGetTheWholeAnswer() throws Exception {
        List<java.util.concurrent.Callable<Integer>> work = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            long seed = 2_000 + i;
            work.add(() -> {
                byte[] data = bytes(1024 * 1024, seed);
                Answer a = upload(data);
                byte[] head = ("OK " + data.length + " " + sha256(data) + "\n").getBytes(StandardCharsets.US_ASCII);
                assertThat(a.bytes().length).as("upload %d's answer length", seed).isEqualTo(head.length + data.length);
                assertThat(java.util.Arrays.copyOf(a.bytes(), head.length)).as("upload %d: the backend's hash", seed)
                        .isEqualTo(head);
                assertThat(java.util.Arrays.copyOfRange(a.bytes(), head.length, a.bytes().length))
                        .as("upload %d echoed", seed).isEqualTo(data);
                assertThat(a.took()).as("upload %d in time", seed).isLessThan(EACH);
                return data.length;
            });
        }
        assertThat(all(work)).hasSize(30);
    }

    /**
     * Without a PROXY header the opening the backend gets is the client's first bytes themselves:
     * its end of stream still reaches the backend at once, not after the end-of-stream bound (30 s),
     * whether it comes after the connection was opened (the data after a pause) or before (all sent
     * at once, the FIN too: spliced, that direction stays with the agent, as a sockmap takes only
     * established sockets).
     */
    @Test
    void halfClosedUploadsWithoutAProxyHeaderGetTheWholeAnswer() throws Exception {
        for (int i = 0; i < 4; i++) {
            byte[] data = bytes(64 * 1024, 4_000 + i);
            Answer a = upload(PLAIN_PORT, data, i % 2 == 0 ? 0 : 300);
            byte[] head = ("OK " + data.length + " " + sha256(data) + "\n").getBytes(StandardCharsets.US_ASCII);
            assertThat(java.util.Arrays.copyOf(a.bytes(), head.length)).as("upload %d: the backend's hash", i)
                    .isEqualTo(head);
            assertThat(a.bytes().length).as("upload %d's answer length", i).isEqualTo(head.length + data.length);
            assertThat(a.took()).as("upload %d in time", i).isLessThan(EACH);
        }
    }
}
