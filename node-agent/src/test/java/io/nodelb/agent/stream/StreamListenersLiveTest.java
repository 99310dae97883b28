package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A relayed stream connection counts for its backend while it lives (least-connections, maxConnections, drains). */
class StreamListenersLiveTest {
    private static final int BACKEND_ID = 9;

    @Test
    void aConnectionCountsForItsBackendUntilItEnds() throws Exception {
        InetAddress lo = LoopbackStreams.LO;
        try (ServerSocket backend = new ServerSocket(0, 8, lo)) {
            int port = LoopbackStreams.freePort();
            var state = LoopbackStreams.state(LoopbackStreams.listener(port, false, 0), BACKEND_ID, backend.getLocalPort());
            try (StreamListeners listeners = LoopbackStreams.start(state, BACKEND_ID, null)) {
                assertThat(listeners.liveByBackend()).isEmpty();
                try (Socket client = new Socket(lo, port)) {
                    client.getOutputStream().write("hello\n".getBytes());
                    try (Socket served = backend.accept()) {
                        InputStream in = served.getInputStream();
                        assertThat(in.readNBytes(6)).isEqualTo("hello\n".getBytes());
                        assertThat(listeners.liveByBackend()).containsExactly(Map.entry(BACKEND_ID, 1L));
                        client.shutdownOutput();
                        served.shutdownOutput();
                        assertThat(in.read()).isEqualTo(-1);
                    }
                }
                await().atMost(Duration.ofSeconds(5)).until(() -> listeners.liveByBackend().isEmpty());
            }
        }
    }

    @Test
    void aListenerRemovedFreesItsPortAndComesBackWhenAddedAgain() throws Exception {
        InetAddress lo = LoopbackStreams.LO;
        try (ServerSocket backend = new ServerSocket(0, 8, lo)) {
            int port = LoopbackStreams.freePort();
            var state = LoopbackStreams.state(LoopbackStreams.listener(port, false, 0), BACKEND_ID, backend.getLocalPort());
            try (StreamListeners listeners = LoopbackStreams.start(state, BACKEND_ID, null)) {
                listeners.reconcile(io.nodelb.agent.dataplane.DesiredState.empty());
                // Every loop stops polling the socket, the last one closes it: then the port is free.
                await().atMost(Duration.ofSeconds(5)).until(() -> bindable(port));
                listeners.reconcile(state);
                try (Socket client = new Socket(lo, port)) {
                    client.getOutputStream().write("again\n".getBytes());
                    try (Socket served = backend.accept()) {
                        assertThat(served.getInputStream().readNBytes(6)).isEqualTo("again\n".getBytes());
                    }
                }
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> bindable(port));
        }
    }

    private static boolean bindable(int port) {
        try (ServerSocket probe = new ServerSocket(port, 1, LoopbackStreams.LO)) {
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
