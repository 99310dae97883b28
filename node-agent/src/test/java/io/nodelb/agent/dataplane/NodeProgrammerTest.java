package io.nodelb.agent.dataplane;

import static io.nodelb.agent.dataplane.SnapshotApplierTest.backend;
import static io.nodelb.agent.dataplane.SnapshotApplierTest.group;
import static io.nodelb.agent.dataplane.SnapshotApplierTest.ip;
import static io.nodelb.agent.dataplane.SnapshotApplierTest.snapshot;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The node's own weights go through the one programmer: tables change, the version does not. */
class NodeProgrammerTest {
    private static final int TABLE = 251;
    private static final DesiredState.Limits LIMITS = new DesiredState.Limits(TABLE, 64, 16, 256, 61000, 61999);
    private static final DesiredState.Host HOST = name -> name.equals("eth0") ? List.of(ip("192.0.2.1")) : null;
    private static final String B2 = "10.0.0.2:8080";
    private static final String B3 = "10.0.0.3:8080";

    private final InMemoryMaps maps = new InMemoryMaps(TABLE);

    private NodeProgrammer programmer(SnapshotApplier applier) {
        return new NodeProgrammer(new FakeDataPlane(maps), applier);
    }

    private static NodeSnapshot v(String version, int weight3) {
        return snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, weight3)))
                .toBuilder().setVersion(version).build();
    }

    private int idOf(SnapshotApplier applier, String address) {
        return applier.applied().backends().entrySet().stream()
                .filter(e -> e.getValue().address().equals(ip(address))).findFirst().orElseThrow().getKey();
    }

    private int[] table() {
        return maps.tables.values().iterator().next();
    }

    @Test
    void reweighRewritesOnlyTheTableAndKeepsTheVersion() {
        SnapshotApplier applier = new SnapshotApplier(maps, HOST, LIMITS);
        NodeProgrammer programmer = programmer(applier);
        programmer.program(v("v1", 1));
        int b3 = idOf(applier, "10.0.0.3");
        maps.log.clear();

        assertThat(programmer.reweigh(new WeightOverlay(Map.of("default/web", Map.of(B2, 100, B3, 0))))).isPositive();

        assertThat(maps.log).allMatch(w -> w.startsWith("putTableSlots") || w.startsWith("putGroup"));
        assertThat(Arrays.stream(table()).noneMatch(id -> id == b3)).as("10.0.0.3 out of the table").isTrue();
        assertThat(applier.appliedVersion()).isEqualTo("v1");
        maps.log.clear();
        assertThat(programmer.program(v("v1", 1))).as("the same version again, same weights").isZero();
        assertThat(maps.log).isEmpty();

        // A new snapshot keeps the node's judgement of the backends it still has.
        programmer.program(v("v2", 2));
        assertThat(applier.appliedVersion()).isEqualTo("v2");
        assertThat(Arrays.stream(table()).noneMatch(id -> id == b3)).isTrue();

        programmer.reweigh(WeightOverlay.NONE);
        assertThat(Arrays.stream(table()).filter(id -> id == b3).count()).as("back, at weight 2 of 3")
                .isBetween(TABLE / 2L, TABLE * 3L / 4);
    }

    @Test
    void aRestartDoesNotTakeTheSavedSnapshotForTheMapsWhileOtherWeightsAreProgrammed(@TempDir Path state) {
        SnapshotApplier first = SnapshotApplier.adopting(maps, HOST, LIMITS, DesiredState.empty(), state);
        NodeProgrammer programmer = programmer(first);
        programmer.program(v("v1", 1));
        programmer.reweigh(new WeightOverlay(Map.of("default/web", Map.of(B2, 100, B3, 0))));

        SnapshotApplier restarted = SnapshotApplier.adopting(maps, HOST, LIMITS, first.applied(), state);
        assertThat(restarted.appliedVersion()).as("the maps do not hold v1's plan").isEmpty();
        assertThat(programmer(restarted).program(v("v1", 1))).as("programmed again").isPositive();

        SnapshotApplier again = SnapshotApplier.adopting(maps, HOST, LIMITS, restarted.applied(), state);
        assertThat(again.appliedVersion()).as("configured weights: the saved snapshot stands for the maps")
                .isEqualTo("v1");
    }

    /** Attaching is the kernel's part; the maps are in memory. */
    private record FakeDataPlane(InMemoryMaps maps) implements DataPlane {
        @Override public void attach(Set<String> interfaces) {}
        @Override public BackendCounters backendCounters(int backendId) { return null; } // never asked here
        @Override public long[] packetStats() { return new long[0]; }
        @Override public long conntrackEntries() { return 0; }
        @Override public long conntrackCapacity() { return 0; }
        @Override public List<String> problems(Set<String> interfaces) { return List.of(); }
        @Override public void close() {}
    }
}
