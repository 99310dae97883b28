package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.DesiredState.GroupRef;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * How the relay loops open a connection (no splice, loopback, no BPF): a ClientHello split over
 * segments routed by its name, the PROXY header before the client's first byte, a first byte that
 * is not TLS sent to the listener's own group, and the connections closed before a backend: too
 * large, silent, closed by the client, backend refusing; each counted with its outcome.
 */
class StreamOpeningTest {
    private static final InetAddress LO = LoopbackStreams.LO;
    private static final GroupRef FALLBACK = new GroupRef("fallback", 1);
    private static final GroupRef API = new GroupRef("api", 2);
    private static final int FALLBACK_BACKEND = 11;
    private static final int API_BACKEND = 12;

    private final SimpleMeterRegistry metrics = new SimpleMeterRegistry();
    private ServerSocket fallback;
    private ServerSocket api;
    private StreamListeners listeners;
    private int port;

    @BeforeEach
    void start() throws IOException {
        fallback = new ServerSocket(0, 8, LO);
        api = new ServerSocket(0, 8, LO);
        api.setSoTimeout(5_000);
        fallback.setSoTimeout(5_000);
    }

    @AfterEach
    void stop() throws IOException {
        if (listeners != null) {
            listeners.close();
        }
        fallback.close();
        api.close();
    }

    /** A listener routing api.example.com to the api group, the rest to the fallback group. */
    private void listen(int proxyProtocol, int apiPort) throws IOException {
        port = LoopbackStreams.freePort();
        var state = state(proxyProtocol, apiPort, Map.of("api.example.com", API));
        StreamListeners.Tables tables = LoopbackStreams.tables(
                group -> group == API.id() ? API_BACKEND : group == FALLBACK.id() ? FALLBACK_BACKEND : 0);
        listeners = new StreamListeners(() -> state, tables, LoopbackStreams.LOCAL, metrics, () -> null, null);
        listeners.reconcile(state);
    }

    /** The state with the listener on {@link #port} with these routes, and the two backends. */
    private DesiredState state(int proxyProtocol, int apiPort, Map<String, GroupRef> routes) {
        var listener = new DesiredState.StreamListener("ns/lb/tls", LO, port, FALLBACK, routes, proxyProtocol, 3,
                false, false, 0);
        var empty = DesiredState.empty();
        return new DesiredState(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(),
                Map.of(FALLBACK_BACKEND, new Abi.Backend(LO, fallback.getLocalPort()), API_BACKEND,
                        new Abi.Backend(LO, apiPort)),
                empty.ingressPorts(), empty.egressPorts(), Set.of(), Map.of(listener.name(), listener));
    }

    private double count(String group, String outcome) {
        var counter = metrics.find("nodelb_stream_connections").tag("group", group).tag("outcome", outcome).counter();
        return counter == null ? 0 : counter.count();
    }

    private void awaitCount(String group, String outcome) {
        await().atMost(Duration.ofSeconds(10)).until(() -> count(group, outcome) == 1);
    }

    @Test
    void aClientHelloSplitOverSegmentsReachesItsGroupAfterTheProxyHeader() throws Exception {
        listen(1, api.getLocalPort());
        byte[] hello = ClientHelloTest.jdkHello("api.example.com");
        try (Socket client = new Socket(LO, port)) {
            client.setTcpNoDelay(true);
            int third = hello.length / 3;
            for (int[] part : new int[][] {{0, 3}, {3, third}, {third, hello.length}}) {
                client.getOutputStream().write(Arrays.copyOfRange(hello, part[0], part[1]));
                client.getOutputStream().flush();
                Thread.sleep(50);
            }
            client.getOutputStream().write("after".getBytes(StandardCharsets.US_ASCII));
            try (Socket served = api.accept()) {
                String header = "PROXY TCP4 127.0.0.1 127.0.0.1 " + client.getLocalPort() + " " + port + "\r\n";
                InputStream in = served.getInputStream();
                assertThat(new String(in.readNBytes(header.length()), StandardCharsets.US_ASCII)).isEqualTo(header);
                assertThat(in.readNBytes(hello.length)).isEqualTo(hello);
                assertThat(new String(in.readNBytes(5), StandardCharsets.US_ASCII)).isEqualTo("after");
                served.getOutputStream().write("answer".getBytes(StandardCharsets.US_ASCII));
                assertThat(new String(client.getInputStream().readNBytes(6), StandardCharsets.US_ASCII))
                        .isEqualTo("answer");
            }
        }
        assertThat(count("api", "sni")).isEqualTo(1);
    }

    @Test
    void aClientHelloLargerThanTheFirstBufferIsReadWholeAndRouted() throws Exception {
        listen(0, api.getLocalPort());
        // 6 KB of padding, as a post-quantum key share makes a browser's: past the 2 KiB read first.
        byte[] hello = ClientHelloTest.hello(ClientHelloTest.extension(21, new byte[6000]),
                ClientHelloTest.sni("api.example.com"));
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write(hello);
            try (Socket served = api.accept()) {
                assertThat(served.getInputStream().readNBytes(hello.length)).isEqualTo(hello);
            }
        }
        assertThat(count("api", "sni")).isEqualTo(1);
    }

    @Test
    void aRouteChangedOnTheBoundListenerTakesEffectForTheNextConnection() throws Exception {
        listen(0, api.getLocalPort());
        byte[] hello = ClientHelloTest.jdkHello("api.example.com");
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write(hello);
            try (Socket served = api.accept()) {
                assertThat(served.getInputStream().readNBytes(hello.length)).isEqualTo(hello);
            }
        }
        // Same address and port (no rebind): the name now routes to the fallback group.
        listeners.reconcile(state(0, api.getLocalPort(), Map.of("api.example.com", FALLBACK)));
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write(hello);
            try (Socket served = fallback.accept()) {
                assertThat(served.getInputStream().readNBytes(hello.length)).isEqualTo(hello);
            }
        }
        assertThat(count("api", "sni")).isEqualTo(1);
        assertThat(count("fallback", "sni")).isEqualTo(1);
    }

    @Test
    void aFirstByteThatIsNotTlsGoesToTheListenersOwnGroup() throws Exception {
        listen(0, api.getLocalPort());
        byte[] request = "GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write(request);
            try (Socket served = fallback.accept()) {
                assertThat(served.getInputStream().readNBytes(request.length)).isEqualTo(request);
            }
        }
        assertThat(count("fallback", "default")).isEqualTo(1);
    }

    @Test
    void anOversizedClientHelloIsClosedAtOnce() throws Exception {
        listen(0, api.getLocalPort());
        // A handshake record announcing a ClientHello of 20,000 bytes, and 16 KiB of it.
        byte[] header = {22, 3, 1, 0x40, 0x00, 1, 0, 0x4e, 0x20};
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write(header);
            client.getOutputStream().write(new byte[16_000]);
            client.setSoTimeout(2_000);
            assertThat(readToEnd(client)).isTrue();
        }
        awaitCount("", "too_large");
    }

    @Test
    void aSilentClientIsClosedAfterTheHelloWait() throws Exception {
        listen(0, api.getLocalPort());
        try (Socket client = new Socket(LO, port)) {
            long start = System.nanoTime();
            client.setSoTimeout(10_000);
            assertThat(readToEnd(client)).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - start))
                    .isBetween(StreamListeners.HELLO_WAIT.minusMillis(500), StreamListeners.HELLO_WAIT.plusSeconds(2));
        }
        awaitCount("", "timeout");
    }

    @Test
    void aClientThatClosesBeforeItsHelloIsCountedClosed() throws Exception {
        listen(0, api.getLocalPort());
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write(new byte[] {22, 3, 1});
            client.shutdownOutput();
            client.setSoTimeout(5_000);
            assertThat(readToEnd(client)).isTrue();
        }
        awaitCount("", "closed");
    }

    @Test
    void aBackendThatRefusesIsCountedConnectFailed() throws Exception {
        listen(0, LoopbackStreams.freePort()); // nothing listens on the api backend's port
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write(ClientHelloTest.jdkHello("api.example.com"));
            client.setSoTimeout(5_000);
            assertThat(readToEnd(client)).isTrue();
        }
        awaitCount("api", "connect_failed");
    }

    /** Reads until the agent closes: true if it did (an end of stream or a reset) before the read timeout. */
    private static boolean readToEnd(Socket client) throws IOException {
        try {
            client.getInputStream().transferTo(new ByteArrayOutputStream());
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }
}
