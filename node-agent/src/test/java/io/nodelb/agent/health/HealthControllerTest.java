package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.nodelb.agent.dataplane.WeightOverlay;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.HealthCheck;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The controller against real listeners on loopback: TCP checks take a closed port out, the
 * others share its weight, all down fails open, and a listener that comes back ramps in.
 */
class HealthControllerTest {
    private final List<ServerSocket> servers = new ArrayList<>();
    private final List<WeightOverlay> written = new CopyOnWriteArrayList<>();
    private HealthController controller;

    @AfterEach
    void close() throws IOException {
        if (controller != null) {
            controller.close();
        }
        for (ServerSocket s : servers) {
            s.close();
        }
    }

    private ServerSocket listen(int port) throws IOException {
        ServerSocket s = new ServerSocket();
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        servers.add(s);
        // Accept and close, as a server does: an unaccepted backlog would fill up and time checks out.
        Thread.ofVirtual().start(() -> {
            while (!s.isClosed()) {
                try {
                    s.accept().close();
                } catch (IOException e) {
                    return;
                }
            }
        });
        return s;
    }

    private static Backend backend(int port, int weight) {
        return Backend.newBuilder().setAddress(ByteString.copyFrom(InetAddress.getLoopbackAddress().getAddress()))
                .setPort(port).setWeight(weight).setState(BackendState.ACTIVE).build();
    }

    private Map<String, Integer> latest() {
        return written.isEmpty() ? Map.of() : written.getLast().byGroup().get("default/web");
    }

    @Test
    void checksMoveWeightsFailOpenAndRampBack() throws Exception {
        ServerSocket a = listen(0);
        ServerSocket b = listen(0);
        int portA = a.getLocalPort();
        int portB = b.getLocalPort();
        NodeSnapshot snapshot = NodeSnapshot.newBuilder().setVersion("v1").addTargetGroups(TargetGroup.newBuilder()
                .setName("default/web").addBackends(backend(portA, 3)).addBackends(backend(portB, 1))
                .setRampUpSeconds(2)
                .setHealthCheck(HealthCheck.newBuilder().setType(HealthCheck.Type.TCP).setIntervalMillis(50)
                        .setTimeoutMillis(40).setHealthyThreshold(1).setUnhealthyThreshold(2))).build();
        controller = new HealthController(() -> Optional.of(snapshot), w -> {
            written.add(w);
            return 0;
        }, Map::of, PassiveSignals.NONE, null).start();
        String keyA = "127.0.0.1:" + portA;
        String keyB = "127.0.0.1:" + portB;

        Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> Map.of(keyA, 3, keyB, 1).equals(latest()));

        b.close();
        Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> Map.of(keyA, 300, keyB, 0).equals(latest()));
        assertThat(controller.failOpenGroups()).isEmpty();
        assertThat(controller.status()).filteredOn(s -> s.port() == portB).singleElement()
                .satisfies(s -> assertThat(s.healthy()).isFalse())
                .satisfies(s -> assertThat(s.reason()).startsWith("connect:"));

        a.close();
        Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> controller.failOpenGroups().equals(List.of("default/web")));
        assertThat(latest()).as("fail open: the configured weights").isEqualTo(Map.of(keyA, 3, keyB, 1));

        listen(portB);
        Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> Map.of(keyA, 0, keyB, 25).equals(latest()));
        assertThat(controller.failOpenGroups()).isEmpty();
        Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> Map.of(keyA, 0, keyB, 100).equals(latest()));
        List<Integer> ramp = written.stream().map(w -> w.byGroup().get("default/web").get(keyB)).toList();
        assertThat(ramp.subList(ramp.lastIndexOf(25), ramp.size())).as("be B's weights while it ramps back")
                .containsExactly(25, 50, 75, 100);
    }

    @Test
    void passiveSignalsOfTheDataPlaneOpenABreaker() {
        NodeSnapshot snapshot = NodeSnapshot.newBuilder().setVersion("v1").addTargetGroups(TargetGroup.newBuilder()
                .setName("default/web").addBackends(backend(8081, 1)).addBackends(backend(8082, 1))
                .setCircuitBreaker(io.nodelb.dataplane.v1alpha1.CircuitBreaker.newBuilder().setConsecutiveFailures(3)
                        .setOpenSeconds(30).setHalfOpenSuccesses(1))).build();
        java.util.concurrent.atomic.AtomicLong resets = new java.util.concurrent.atomic.AtomicLong();
        controller = new HealthController(() -> Optional.of(snapshot), w -> {
            written.add(w);
            return 0;
        }, Map::of, () -> Map.of("127.0.0.1:8081", new PassiveSignals.Counts(10, resets.get())), null);
        long s = 1_000_000_000L;
        controller.step(0);
        assertThat(latest()).isEqualTo(Map.of("127.0.0.1:8081", 1, "127.0.0.1:8082", 1));
        resets.set(3);
        controller.step(s / 2);
        assertThat(latest()).as("signals are read at most once a second").containsEntry("127.0.0.1:8081", 1);
        controller.step(s);
        assertThat(latest()).isEqualTo(Map.of("127.0.0.1:8081", 0, "127.0.0.1:8082", 100));
        assertThat(controller.status()).filteredOn(b -> b.port() == 8081).singleElement()
                .satisfies(b -> assertThat(b.breaker()).isEqualTo(Breaker.State.OPEN));
    }

    @Test
    void backendsOutWhenTheAgentStartedStayOutUntilAPassingCheck() throws Exception {
        int portUp = listen(0).getLocalPort();
        int portOther = listen(0).getLocalPort();
        int portDown;
        try (ServerSocket gone = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            portDown = gone.getLocalPort();
        }
        NodeSnapshot snapshot = NodeSnapshot.newBuilder().setVersion("v1")
                .addTargetGroups(TargetGroup.newBuilder().setName("default/web").addBackends(backend(portUp, 1))
                        .addBackends(backend(portDown, 1)).addBackends(backend(portOther, 1))
                        .setHealthCheck(HealthCheck.newBuilder().setType(HealthCheck.Type.TCP).setIntervalMillis(300)
                                .setTimeoutMillis(200).setHealthyThreshold(3).setUnhealthyThreshold(3)))
                .addTargetGroups(TargetGroup.newBuilder().setName("default/unchecked").addBackends(backend(portDown, 1))
                        .setCircuitBreaker(io.nodelb.dataplane.v1alpha1.CircuitBreaker.newBuilder()
                                .setConsecutiveFailures(3).setOpenSeconds(30).setHalfOpenSuccesses(1))).build();
        String keyUp = "127.0.0.1:" + portUp;
        String keyDown = "127.0.0.1:" + portDown;
        controller = new HealthController(() -> Optional.of(snapshot), w -> {
            written.add(w);
            return 0;
        }, Map::of, PassiveSignals.NONE, null).seedOut(java.util.Set.of(keyUp, keyDown));
        controller.step(0);
        assertThat(latest()).as("before any check: both seeded backends out, the other keeps its weight")
                .containsEntry(keyUp, 0).containsEntry(keyDown, 0);
        assertThat(latest().get("127.0.0.1:" + portOther)).isPositive();
        assertThat(written.getLast().byGroup().get("default/unchecked")).as("no checks there: seeds do not apply")
                .containsEntry(keyDown, 1);
        controller.start();
        Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> latest().get(keyUp) > 0);
        assertThat(latest()).as("one passing check is enough (healthyThreshold 3 is for a failed backend)")
                .containsEntry(keyDown, 0);
        assertThat(controller.status()).filteredOn(b -> b.port() == portDown && b.group().equals("default/web"))
                .singleElement().satisfies(b -> assertThat(b.healthy()).isFalse());
    }
}
