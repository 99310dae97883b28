package io.nodelb.agent.stream;

import io.micrometer.core.instrument.MeterRegistry;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;

/**
 * Keeps the stream listeners in step with the snapshot programmed, whatever programmed it (a file,
 * the operator, an adoption at start): it looks every {@link #POLL} for another applied version.
 * The sockets belong to this process: when the agent stops, its stream connections end (the XDP
 * path's flows do not).
 */
public final class StreamService implements AutoCloseable {
    static final Duration POLL = Duration.ofMillis(250);

    private final SnapshotApplier applier;
    private final StreamListeners listeners;
    private final Thread poller;
    private volatile boolean stopped;

    private StreamService(SnapshotApplier applier, StreamListeners listeners) {
        this.applier = applier;
        this.listeners = listeners;
        this.poller = Thread.ofVirtual().name("stream-listeners").unstarted(this::run);
    }

    public static StreamService start(BpfDataPlane dataPlane, SnapshotApplier applier, MeterRegistry metrics,
            java.nio.file.Path stateDir, boolean splice, java.util.function.Consumer<io.nodelb.agent.bpf.Abi.Event> events)
            throws java.io.IOException {
        BpfMap tables = dataPlane.map("nlb_tables");
        int size = dataPlane.limits().tableSize();
        StreamListeners.Tables read = new StreamListeners.Tables() {
            @Override
            public int backendAt(int group, int slot) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
                    MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
                    key.set(ValueLayout.JAVA_INT, 0, group * size + slot);
                    return tables.lookup(key, value) ? value.get(ValueLayout.JAVA_INT, 0) : 0;
                }
            }

            @Override
            public int tableSize() {
                return size;
            }
        };
        StreamService service = new StreamService(applier,
                new StreamListeners(applier::applied, read, new LoopbackAddresses(stateDir), metrics,
                        splice ? Splice::load : () -> null,
                        events));
        service.poller.start();
        return service;
    }

    private void run() {
        String seen = null;
        while (!stopped) {
            try {
                String version = applier.appliedVersion();
                if (!version.equals(seen)) {
                    listeners.reconcile(streamsOf(applier.applied(), applier.appliedSnapshot().orElse(null)));
                    seen = version;
                }
                Thread.sleep(POLL);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                System.getLogger(StreamService.class.getName()).log(System.Logger.Level.WARNING,
                        "stream listeners: " + e.getMessage());
                try {
                    Thread.sleep(POLL);
                } catch (InterruptedException i) {
                    return;
                }
            }
        }
    }

    /**
     * The applied state's stream listeners; after an adoption the maps read back carry none, so the
     * adopted snapshot is planned again (with the same ids, hence the same group tables).
     */
    private DesiredState streamsOf(DesiredState applied, NodeSnapshot snapshot) {
        boolean hasStreams = snapshot != null && snapshot.getListenersList().stream().anyMatch(l ->
                l.getSniRoutesCount() > 0 || l.getProxyProtocolValue() != 0);
        if (!applied.streams().isEmpty() || !hasStreams) {
            return applied;
        }
        return applier.plan(snapshot);
    }

    /** Live stream connections by backend id. */
    public java.util.Map<Integer, Long> liveByBackend() {
        return listeners.liveByBackend();
    }

    @Override
    public void close() {
        stopped = true;
        poller.interrupt();
        listeners.close();
    }
}
