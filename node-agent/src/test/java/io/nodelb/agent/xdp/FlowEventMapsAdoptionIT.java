package io.nodelb.agent.xdp;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.RingBuffer;
import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.MapReadBack;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.testing.Privileged;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * The flow event maps (nlb_events, nlb_ev_budget) came without a layout change: an agent of this
 * layout from before them left a pin directory without them. That directory reads back, is
 * adopted with its flows (the two maps created and pinned beside the others) and is uninstalled.
 */
@Privileged
class FlowEventMapsAdoptionIT {

    private static final DesiredState.Limits LIMITS = LoadedDataPlane.LIMITS;

    @Test
    void aPinDirectoryWithoutTheFlowEventMapsIsReadAdoptedAndUninstalled() throws IOException {
        Path pinPath = Path.of("/sys/fs/bpf", "nodelb-test-" + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
        Path state = Files.createTempDirectory("nodelb-event-maps-");
        StandardListener l = StandardListener.tcp().findFirst().orElseThrow();
        Flow flow = l.flow(47001);
        try {
            Path dir;
            try (BpfDataPlane first = BpfDataPlane.load(pinPath, state, LIMITS, Map.of())) {
                new SnapshotApplier(first.maps(), LoadedDataPlane.HOST, LIMITS).apply(Snapshots.standard());
                assertThat(first.xdpProgram().testRun(flow.first()).retval()).isEqualTo(LoadedDataPlane.XDP_PASS);
                dir = first.pinDirectory();
            }
            // What an agent of this layout from before flow events leaves behind.
            Files.delete(dir.resolve(BpfDataPlane.EVENTS_MAP));
            Files.delete(dir.resolve(BpfDataPlane.EVENT_BUDGET_MAP));

            DesiredState read = MapReadBack.readPinned(dir, LIMITS.tableSize());
            assertThat(read.listeners()).hasSize(8);

            try (BpfDataPlane second = BpfDataPlane.load(pinPath, state, LIMITS, Map.of())) {
                assertThat(dir.resolve(BpfDataPlane.EVENTS_MAP)).exists();
                assertThat(dir.resolve(BpfDataPlane.EVENT_BUDGET_MAP)).exists();
                assertThat(conntrackEntries(second)).as("the flow was adopted").isEqualTo(2);

                // The new maps work: the programs write into what the agent reads.
                listenerEvents(second, l);
                List<Abi.Event> events = new ArrayList<>();
                try (RingBuffer ring = RingBuffer.open(second.map(BpfDataPlane.EVENTS_MAP),
                        r -> events.add(Abi.Event.readFrom(r)))) {
                    second.xdpProgram().testRun(l.flow(47002).first());
                    ring.consume();
                }
                assertThat(events).extracting(Abi.Event::sourcePort).containsExactly(47002);
                assertThat(second.eventBudget()).isEqualTo(new Abi.EventBudget(1, 0, 0));
                second.uninstall();
            }
            assertThat(pinPath).doesNotExist();
        } finally {
            removeLeftovers(pinPath);
            removeLeftovers(state);
        }
    }

    private static long conntrackEntries(BpfDataPlane dataPlane) {
        long[] count = {0};
        dataPlane.conntrackTables().forEach(table -> table.forEachKey(k -> count[0]++));
        return count[0];
    }

    private static void listenerEvents(BpfDataPlane dataPlane, StandardListener l) {
        var map = dataPlane.map("nlb_listeners");
        Abi.ListenerKey listenerKey = new Abi.ListenerKey(Snapshots.ip(l.vip()), l.port(), l.proto());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = map.allocateKey(arena);
            MemorySegment value = map.allocateValue(arena);
            listenerKey.writeTo(key);
            assertThat(map.lookup(key, value)).isTrue();
            Abi.Listener old = Abi.Listener.readFrom(value, listenerKey.family());
            new Abi.Listener(old.id(), old.group(), old.flags() | Abi.LISTENER_EVENTS, old.snatPortMin(),
                    old.snatPortMax(), old.snatAddress()).writeTo(value);
            map.update(key, value, 0);
        }
    }

    private static void removeLeftovers(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (var all = Files.walk(path)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
