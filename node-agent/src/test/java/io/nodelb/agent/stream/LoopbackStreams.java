package io.nodelb.agent.stream;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntUnaryOperator;

/** Stream listeners on loopback for unit tests: no BPF table, no address to add, one backend. */
final class LoopbackStreams {
    static final InetAddress LO = InetAddress.getLoopbackAddress();
    /** The group whose table holds the backend. */
    static final int GROUP = 1;

    private LoopbackStreams() {}

    /** A loopback port that was free a moment ago. */
    static int freePort() throws IOException {
        try (ServerSocket free = new ServerSocket(0, 1, LO)) {
            return free.getLocalPort();
        }
    }

    /** A listener on {@code port} of loopback whose own group is {@link #GROUP}. */
    static DesiredState.StreamListener listener(int port, boolean flowEvents, long idleTimeoutNs) {
        return new DesiredState.StreamListener("ns/lb/plain", LO, port, new DesiredState.GroupRef("g", GROUP),
                Map.of(), 0, 3, false, flowEvents, idleTimeoutNs);
    }

    /** The state with {@code listener} and one backend, {@code backendId} on loopback's {@code backendPort}. */
    static DesiredState state(DesiredState.StreamListener listener, int backendId, int backendPort) {
        var empty = DesiredState.empty();
        return new DesiredState(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(),
                Map.of(backendId, new Abi.Backend(LO, backendPort)), empty.ingressPorts(), empty.egressPorts(),
                Set.of(), Map.of(listener.name(), listener));
    }

    /** Listeners serving {@code state}, relayed in user space; every slot of {@link #GROUP} holds {@code backendId}. */
    static StreamListeners start(DesiredState state, int backendId, Consumer<Abi.Event> events) {
        StreamListeners listeners = new StreamListeners(() -> state,
                tables(group -> group == GROUP ? backendId : 0), LOCAL, null, () -> null, events);
        listeners.reconcile(state);
        return listeners;
    }

    /** Group tables whose every slot holds {@code backendOfGroup(group)} (0: none). */
    static StreamListeners.Tables tables(IntUnaryOperator backendOfGroup) {
        return new StreamListeners.Tables() {
            @Override
            public int backendAt(int group, int slot) {
                return backendOfGroup.applyAsInt(group);
            }

            @Override
            public int tableSize() {
                return 7;
            }
        };
    }

    /** Loopback is local already: nothing to add or release. */
    static final StreamListeners.LocalAddresses LOCAL = new StreamListeners.LocalAddresses() {
        @Override
        public boolean ensureLocal(InetAddress address) {
            return false;
        }

        @Override
        public void release(InetAddress address) {}
    };
}
