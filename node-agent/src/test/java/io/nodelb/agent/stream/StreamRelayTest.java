package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.bpf.Abi;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The relay loops on loopback (no BPF): many connections copying both ways at once through small
 * socket buffers, so writes stop half-way and each direction must wait and resume; ends of stream
 * passed on in order; a silent connection closed by the idle check is ended once, with its event.
 */
class StreamRelayTest {
    private static final int BACKEND_ID = 4;
    private static final InetAddress LO = LoopbackStreams.LO;

    private ServerSocket backend;
    private StreamListeners listeners;
    private int port;
    private final ConcurrentLinkedQueue<Abi.Event> events = new ConcurrentLinkedQueue<>();
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    @BeforeEach
    void start() throws IOException {
        backend = new ServerSocket(0, 64, LO);
        threads.submit(this::echoBackend);
    }

    @AfterEach
    void stop() throws IOException {
        if (listeners != null) {
            listeners.close();
        }
        backend.close();
        threads.shutdownNow();
    }

    private void listen(long idleTimeoutNs) throws IOException {
        port = LoopbackStreams.freePort();
        var state = LoopbackStreams.state(LoopbackStreams.listener(port, true, idleTimeoutNs), BACKEND_ID,
                backend.getLocalPort());
        listeners = LoopbackStreams.start(state, BACKEND_ID, events::add);
    }

    /** Echoes each connection, with a small receive buffer, then half-closes after the client's end. */
    private Void echoBackend() throws IOException {
        backend.setReceiveBufferSize(8 * 1024); // inherited by the accepted sockets
        while (!backend.isClosed()) {
            Socket s = backend.accept();
            threads.submit(() -> {
                try (s) {
                    s.setSendBufferSize(8 * 1024);
                    s.getInputStream().transferTo(s.getOutputStream());
                    s.shutdownOutput();
                }
                return null;
            });
        }
        return null;
    }

    @Test
    void manyConnectionsEchoTheirBytesBothWaysAtOnceThroughFullBuffers() throws Exception {
        listen(0);
        int connections = 24;
        int bytes = 3 * 1024 * 1024 + 4321; // not a multiple of any buffer
        List<Future<byte[][]>> results = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            long seed = i;
            results.add(threads.submit(() -> exchange(seed, bytes)));
        }
        for (Future<byte[][]> f : results) {
            byte[][] sentAndEchoed = f.get(60, TimeUnit.SECONDS);
            assertThat(sentAndEchoed[1]).as("the echo of what was sent").isEqualTo(sentAndEchoed[0]);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> listeners.liveByBackend().isEmpty());
        await().atMost(Duration.ofSeconds(5)).until(() -> ends().size() == connections);
        for (Abi.Event end : ends()) {
            assertThat(end.reason()).as("ended by FINs both ways").isEqualTo(Abi.END_FIN);
        }
    }

    /** Sends {@code bytes} (a reader slow to start, to fill the relay's side), reads the echo to its end. */
    private byte[][] exchange(long seed, int bytes) throws Exception {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        data[0] = 'x'; // not TLS: the listener's own group
        try (Socket client = new Socket()) {
            client.setReceiveBufferSize(8 * 1024);
            client.connect(new java.net.InetSocketAddress(LO, port));
            Future<?> writer = threads.submit(() -> {
                OutputStream out = client.getOutputStream();
                for (int off = 0; off < data.length; off += 50_000) {
                    out.write(data, off, Math.min(50_000, data.length - off));
                }
                client.shutdownOutput();
                return null;
            });
            Thread.sleep(200);
            InputStream in = client.getInputStream();
            MessageDigest echoed = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[7000];
            long total = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                echoed.update(buffer, 0, n);
                total += n;
            }
            writer.get(10, TimeUnit.SECONDS);
            assertThat(total).isEqualTo(bytes);
            return new byte[][] {MessageDigest.getInstance("SHA-256").digest(data), echoed.digest()};
        }
    }

    @Test
    void aSilentRelayedConnectionIsClosedAtItsIdleTimeoutAndEndedOnce() throws Exception {
        listen(Duration.ofMillis(600).toNanos());
        try (Socket client = new Socket(LO, port)) {
            client.getOutputStream().write("ping\n".getBytes());
            InputStream in = client.getInputStream();
            assertThat(new String(in.readNBytes(5))).isEqualTo("ping\n");
            assertThat(listeners.liveByBackend()).containsExactly(Map.entry(BACKEND_ID, 1L));
            client.setSoTimeout(5000);
            long started = System.nanoTime();
            int next;
            try {
                next = in.read();
            } catch (java.net.SocketException reset) {
                next = -1; // closed with a RST: the same end here
            }
            assertThat(next).isEqualTo(-1);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(3));
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> listeners.liveByBackend().isEmpty());
        Thread.sleep(300); // a second end would come by now
        assertThat(ends()).singleElement().satisfies(end -> {
            assertThat(end.reason()).isEqualTo(Abi.END_IDLE);
            assertThat(end.bytes()).isEqualTo(5);
            assertThat(end.replyBytes()).isEqualTo(5);
        });
    }

    private List<Abi.Event> ends() {
        return events.stream().filter(e -> e.type() == Abi.EVENT_FLOW_END).toList();
    }
}
