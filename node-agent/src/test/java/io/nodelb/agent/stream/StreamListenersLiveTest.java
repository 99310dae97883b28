package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** A relayed stream connection counts for its backend while it lives (least-connections, maxConnections, drains). */
class StreamListenersLiveTest {
    private static final int BACKEND_ID = 9;

    @Test
    void aConnectionCountsForItsBackendUntilItEnds() throws Exception {
        InetAddress lo = InetAddress.getLoopbackAddress();
        try (ServerSocket backend = new ServerSocket(0, 8, lo)) {
            int port;
            try (ServerSocket free = new ServerSocket(0, 1, lo)) {
                port = free.getLocalPort();
            }
            var listener = new DesiredState.StreamListener("ns/lb/plain", lo, port, new DesiredState.GroupRef("g", 1),
                    Map.of(), 0, 3, false, false, 0);
            var empty = DesiredState.empty();
            var state = new DesiredState(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(),
                    Map.of(BACKEND_ID, new Abi.Backend(lo, backend.getLocalPort())), empty.ingressPorts(),
                    empty.egressPorts(), Set.of(), Map.of(listener.name(), listener));
            StreamListeners.Tables tables = new StreamListeners.Tables() {
                @Override
                public int backendAt(int group, int slot) {
                    return group == 1 ? BACKEND_ID : 0;
                }

                @Override
                public int tableSize() {
                    return 7;
                }
            };
            StreamListeners.LocalAddresses local = new StreamListeners.LocalAddresses() {
                @Override
                public boolean ensureLocal(InetAddress address) {
                    return false; // loopback is local already
                }

                @Override
                public void release(InetAddress address) {}
            };
            try (StreamListeners listeners = new StreamListeners(() -> state, tables, local, null, () -> null)) {
                listeners.reconcile(state);
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
}
