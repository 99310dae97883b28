package io.nodelb.agent.lab;

import static io.nodelb.agent.lab.LabConfig.file;
import static io.nodelb.agent.lab.LabConfig.listener;
import static io.nodelb.agent.lab.LabConfig.loadBalancer;
import static io.nodelb.agent.lab.LabConfig.targetGroup;
import static io.nodelb.agent.lab.Shares.weights;
import static io.nodelb.agent.lab.Traffic.address;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A backend removed from its group (gone, not drained) while its clients are connected, with its
 * server still running: the open TCP connections to it fail with a reset within a second of their
 * next request instead of hanging, the other backends' connections carry on, and a UDP client
 * that keeps its port reaches a live backend with its next datagram.
 */
@Privileged
class LabRemovedBackendIT {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    private static final int OPEN_CONNECTIONS = 12;
    private static final Duration FAST_FAILURE = Duration.ofSeconds(1);
    private static final Map<String, Integer> ALL = weights("be1", 1, "be2", 1, "be3", 1);
    private static final InetSocketAddress HTTP = new InetSocketAddress(address(Lab.VIP_V4), 80);
    private static final InetSocketAddress ECHO = new InetSocketAddress(address(Lab.VIP_V4), 9000);

    private static Agent agent;

    private static String config(Map<String, Integer> web, Map<String, Integer> echo) {
        return file(targetGroup("web", 8080, web), targetGroup("echo", 9000, echo),
                loadBalancer("lab", "DNAT", null,
                        listener("http", Lab.VIP_V4, 80, "TCP", "web"),
                        listener("echo", Lab.VIP_V4, 9000, "UDP", "echo")));
    }

    private static Map<String, Integer> without(String backend) {
        Map<String, Integer> left = new TreeMap<>(ALL);
        left.remove(backend);
        return left;
    }

    @BeforeAll
    static void startAgent() throws Exception {
        agent = LAB.startAgent(config(ALL, ALL));
    }

    @BeforeEach
    void everyBackendBack() throws Exception {
        agent.program(config(ALL, ALL));
    }

    @Test
    void openConnectionsToARemovedBackendAreResetAtTheirNextRequestAndTheOthersCarryOn() throws Exception {
        List<Traffic.HttpConnection> open = new ArrayList<>();
        try {
            List<String> backends = new ArrayList<>();
            for (int i = 0; i < OPEN_CONNECTIONS; i++) {
                Traffic.HttpConnection c = LAB.client().call(() -> Traffic.HttpConnection.open(address(Lab.CLIENT_V4), HTTP));
                open.add(c);
                backends.add(LAB.client().call(() -> c.get("/")));
            }
            String removed = backends.getFirst();

            agent.program(config(without(removed), ALL));

            for (int i = 0; i < OPEN_CONNECTIONS; i++) {
                Traffic.HttpConnection c = open.get(i);
                if (!backends.get(i).equals(removed)) {
                    assertThat(LAB.client().call(() -> c.get("/"))).as("connection %s, on a backend still there",
                            c.localAddress()).isEqualTo(backends.get(i));
                    continue;
                }
                long start = System.nanoTime();
                String outcome = LAB.client().call(() -> {
                    try {
                        return "answered by " + c.get("/");
                    } catch (SocketTimeoutException e) {
                        return "no answer in " + Traffic.TIMEOUT + " (a black hole)";
                    } catch (IOException e) {
                        return "failed: " + e.getMessage();
                    }
                });
                Duration took = Duration.ofNanos(System.nanoTime() - start);
                assertThat(outcome).as("connection %s to removed %s", c.localAddress(), removed)
                        .isEqualTo("failed: Connection reset");
                assertThat(took).as("time to the reset").isLessThan(FAST_FAILURE);
            }
            Map<String, Integer> fresh = LAB.client().call(Duration.ofSeconds(30),
                    () -> Traffic.countTcp(address(Lab.CLIENT_V4), HTTP, 60));
            assertThat(fresh).as("new connections").doesNotContainKey(removed);
        } finally {
            for (Traffic.HttpConnection c : open) {
                c.close();
            }
        }
    }

    @Test
    void aUdpClientOfARemovedBackendReachesALiveOneWithItsNextDatagram() throws Exception {
        LAB.client().call(Duration.ofSeconds(30), () -> {
            try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(address(Lab.CLIENT_V4), 0))) {
                socket.setSoTimeout((int) Traffic.TIMEOUT.toMillis());
                String first = exchange(socket, "1");
                assertThat(exchange(socket, "2")).as("the same port, again").isEqualTo(first);

                agent.program(config(ALL, without(first)));

                String next = exchange(socket, "3");
                assertThat(next).as("next datagram from %s after %s was removed", socket.getLocalSocketAddress(), first)
                        .isNotEqualTo(first).isIn(without(first).keySet());
                assertThat(exchange(socket, "4")).as("and it stays there").isEqualTo(next);
            }
            return null;
        });
    }

    /** Sends one datagram to the echo VIP and returns the name of the backend that answered (from the VIP). */
    private static String exchange(DatagramSocket socket, String payload) throws IOException {
        byte[] bytes = payload.getBytes(StandardCharsets.US_ASCII);
        socket.send(new DatagramPacket(bytes, bytes.length, ECHO));
        byte[] buffer = new byte[512];
        DatagramPacket answer = new DatagramPacket(buffer, buffer.length);
        socket.receive(answer);
        assertThat(answer.getSocketAddress()).as("source of the answer").isEqualTo(ECHO);
        return new String(buffer, 0, answer.getLength(), StandardCharsets.US_ASCII).strip();
    }
}
