package io.nodelb.agent.events;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Names a record's ids from what is applied now: a listener id by the snapshot listener whose
 * address, port and protocol its map key has; a backend id by its key ({@code 10.0.0.2:8080}, as
 * the per-backend metrics name it). The tables are rebuilt only when the applied state changes.
 * A record of an id removed since is written without the name.
 */
public final class Names {

    private final Supplier<DesiredState> applied;
    private final Supplier<Optional<NodeSnapshot>> snapshot;
    private final String node;
    private DesiredState seen;
    private Map<Integer, String> listeners = Map.of();
    private Map<Integer, String> backends = Map.of();
    private Map<String, String> origins = Map.of();
    /** Wall clock minus CLOCK_MONOTONIC, in nanoseconds. */
    private long wallOffsetNs;
    private long offsetAt;

    public Names(Supplier<DesiredState> applied, Supplier<Optional<NodeSnapshot>> snapshot, String node) {
        this.applied = applied;
        this.snapshot = snapshot;
        this.node = node;
    }

    /** Names one record (the sink thread's; not thread-safe). */
    public FlowRecord name(Abi.Event event) {
        refresh();
        String backend = event.type() == Abi.EVENT_DROP ? null : backends.get(event.backendId());
        return new FlowRecord(event, wallClock(event.timeNs()), listeners.get(event.listenerId()), backend,
                backend == null ? null : origins.get(backend), node);
    }

    private void refresh() {
        DesiredState now = applied.get();
        if (now == seen) {
            return;
        }
        seen = now;
        Map<Integer, String> b = new HashMap<>();
        now.backends().forEach((id, backend) -> b.put(id, DesiredState.backendKey(backend.address(), backend.port())));
        backends = b;
        Map<String, String> o = new HashMap<>();
        snapshot.get().ifPresent(s -> s.getTargetGroupsList().forEach(group -> group.getBackendsList().forEach(be -> {
            try {
                InetAddress address = InetAddress.getByAddress(be.getAddress().toByteArray());
                if (!be.getOrigin().isEmpty()) {
                    o.putIfAbsent(DesiredState.backendKey(address, be.getPort()), be.getOrigin());
                }
            } catch (UnknownHostException e) {
                // not programmed either
            }
        })));
        origins = o;
        Map<Integer, String> l = new HashMap<>();
        var listenersOfSnapshot = snapshot.get().map(NodeSnapshot::getListenersList).orElse(java.util.List.of());
        now.listeners().forEach((key, listener) -> l.put(listener.id(), listenersOfSnapshot.stream()
                .filter(s -> matches(s, key)).map(Listener::getName).findFirst().orElse(null)));
        l.values().removeIf(java.util.Objects::isNull);
        // A stream listener's connections carry its id too (the agent writes their records).
        now.streams().values().forEach(s -> l.put(s.id(), s.name()));
        listeners = l;
    }

    private static boolean matches(Listener listener, Abi.ListenerKey key) {
        int proto = listener.getProtocol() == Protocol.UDP ? Abi.IPPROTO_UDP : Abi.IPPROTO_TCP;
        if (listener.getPort() != key.port() || proto != key.proto()) {
            return false;
        }
        if (listener.getAddress().isEmpty()) {
            return true; // every address of its interfaces
        }
        try {
            return InetAddress.getByAddress(listener.getAddress().toByteArray()).equals(key.address());
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** A CLOCK_MONOTONIC time (System.nanoTime() on Linux) on the wall clock; the offset is re-read every second. */
    Instant wallClock(long monotonicNs) {
        long nano = System.nanoTime();
        if (offsetAt == 0 || nano - offsetAt > 1_000_000_000L) {
            Instant wall = Instant.now();
            wallOffsetNs = wall.getEpochSecond() * 1_000_000_000L + wall.getNano() - System.nanoTime();
            offsetAt = nano;
        }
        long wallNs = monotonicNs + wallOffsetNs;
        return Instant.ofEpochSecond(Math.floorDiv(wallNs, 1_000_000_000L), Math.floorMod(wallNs, 1_000_000_000L));
    }
}
