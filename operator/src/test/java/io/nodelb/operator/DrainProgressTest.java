package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.BackendRef;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.NodeConnections;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DrainProgressTest {
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  /** The one node that carries the drained backend has not reported yet. */
  private static final DrainProgress.NodeCounts WAITING = new DrainProgress.NodeCounts(Map.of(), Set.of("n1"));

  private static BackendDrain drain(String timeout) {
    BackendDrain drain = new BackendDrain();
    drain.getMetadata().setName("d");
    drain.getMetadata().setGeneration(1L);
    drain.setSpec(new BackendDrainSpec());
    drain.getSpec().backend = new BackendRef("2001:db8::5", 8080);
    drain.getSpec().timeout = timeout;
    return drain;
  }

  @Test
  void drainingWaitsForNodeReportsAndRechecksAtTheDeadline() {
    DrainProgress.Step step = DrainProgress.step(drain("45s"), true, 2, WAITING, T0);

    var status = step.status().orElseThrow();
    assertThat(status.phase).isEqualTo(DrainPhase.Draining);
    assertThat(status.target).isEqualTo("backend/[2001:db8::5]:8080");
    assertThat(status.startTime).isEqualTo(T0.toString());
    assertThat(status.conditions.getFirst().getReason()).isEqualTo("WaitingForNodeReports");
    assertThat(status.conditions.getFirst().getMessage()).contains("waiting for node reports");
    assertThat(step.recheckAfter()).hasValueSatisfying(d -> assertThat(d).isBetween(Duration.ofSeconds(45), Duration.ofSeconds(46)));
  }

  @Test
  void goneFromEverySnapshotIsDrainedAndTheTimeoutIsTimedOut() {
    BackendDrain drain = drain("45s");
    drain.setStatus(DrainProgress.step(drain, true, 2, WAITING, T0).status().orElseThrow());

    assertThat(DrainProgress.step(drain, true, 2, WAITING, T0.plusSeconds(10)).status()).as("nothing changed").isEmpty();
    assertThat(DrainProgress.step(drain, true, 0, WAITING, T0.plusSeconds(10)).status().orElseThrow().phase).isEqualTo(DrainPhase.Drained);
    var timedOut = DrainProgress.step(drain, true, 1, WAITING, T0.plusSeconds(45)).status().orElseThrow();
    assertThat(timedOut.phase).isEqualTo(DrainPhase.TimedOut);
    assertThat(timedOut.finishTime).isEqualTo(T0.plusSeconds(45).toString());
  }

  @Test
  void finalPhasesStayFinal() {
    BackendDrain drain = drain("45s");
    drain.setStatus(DrainProgress.step(drain, true, 0, WAITING, T0).status().orElseThrow());

    assertThat(DrainProgress.step(drain, true, 3, WAITING, T0.plusSeconds(1)).status()).isEmpty();
  }

  @Test
  void nothingLeftIsNotBelievedBeforeTheModelReflectsTheCluster() {
    BackendDrain drain = drain("45s");
    DrainProgress.Step first = DrainProgress.step(drain, false, 0, WAITING, T0);

    var status = first.status().orElseThrow();
    assertThat(status.phase).as("not Drained: the groups it drains may not be compiled yet").isEqualTo(DrainPhase.Draining);
    assertThat(status.conditions.getFirst().getReason()).isEqualTo(DrainProgress.WAITING_FOR_MODEL);
    assertThat(first.recheckAfter()).hasValue(DrainProgress.MODEL_RECHECK);

    drain.setStatus(status);
    assertThat(DrainProgress.step(drain, false, 0, WAITING, T0.plusSeconds(1)).status()).as("still unknown: unchanged").isEmpty();
    var counted = DrainProgress.step(drain, true, 1, WAITING, T0.plusSeconds(2)).status().orElseThrow();
    assertThat(counted.phase).isEqualTo(DrainPhase.Draining);
    assertThat(counted.conditions.getFirst().getReason()).isEqualTo(DrainProgress.WAITING_FOR_NODE_REPORTS);
    assertThat(counted.startTime).isEqualTo(T0.toString());
    drain.setStatus(counted);
    assertThat(DrainProgress.step(drain, true, 0, WAITING, T0.plusSeconds(3)).status().orElseThrow().phase).isEqualTo(DrainPhase.Drained);
  }

  @Test
  void noFinalPhaseWhileTheModelLagsEvenPastTheDeadline() {
    BackendDrain drain = drain("45s");
    drain.setStatus(DrainProgress.step(drain, true, 1, WAITING, T0).status().orElseThrow());

    DrainProgress.Step lagging = DrainProgress.step(drain, false, 0, WAITING, T0.plusSeconds(50));
    assertThat(lagging.status()).as("stays Draining as it was").isEmpty();
    assertThat(lagging.recheckAfter()).hasValue(DrainProgress.MODEL_RECHECK);
    assertThat(DrainProgress.step(drain, true, 1, WAITING, T0.plusSeconds(50)).status().orElseThrow().phase)
        .isEqualTo(DrainPhase.TimedOut);
  }

  @Test
  void nodeReportsBecomeRemainingConnectionsAndZeroEverywhereIsDrained() {
    BackendDrain drain = drain("45s");
    drain.setStatus(DrainProgress.step(drain, true, 1, WAITING, T0).status().orElseThrow());

    var partly = new DrainProgress.NodeCounts(Map.of("n1", 7L, "n2", 0L), Set.of("n3"));
    var waiting = DrainProgress.step(drain, true, 1, partly, T0.plusSeconds(5)).status().orElseThrow();
    assertThat(waiting.phase).isEqualTo(DrainPhase.Draining);
    assertThat(waiting.remaining).containsExactly(new NodeConnections("n1", 7));
    assertThat(waiting.totalRemaining).isEqualTo(7);
    assertThat(waiting.unreportedNodes).containsExactly("n3");
    assertThat(waiting.conditions.getFirst().getReason()).isEqualTo(DrainProgress.WAITING_FOR_NODE_REPORTS);
    assertThat(waiting.conditions.getFirst().getMessage())
        .contains("7 connection(s) left on 1 of 2 reporting node(s)").contains("waiting for node reports from n3");
    drain.setStatus(waiting);
    assertThat(DrainProgress.step(drain, true, 1, partly, T0.plusSeconds(6)).status()).as("same reports: no write").isEmpty();

    var reported = new DrainProgress.NodeCounts(Map.of("n1", 2L, "n2", 0L, "n3", 1L), Set.of());
    var remaining = DrainProgress.step(drain, true, 1, reported, T0.plusSeconds(10)).status().orElseThrow();
    assertThat(remaining.conditions.getFirst().getReason()).isEqualTo(DrainProgress.CONNECTIONS_REMAINING);
    assertThat(remaining.totalRemaining).isEqualTo(3);
    assertThat(remaining.unreportedNodes).isEmpty();
    drain.setStatus(remaining);

    var zero = new DrainProgress.NodeCounts(Map.of("n1", 0L, "n2", 0L, "n3", 0L), Set.of());
    var drained = DrainProgress.step(drain, true, 1, zero, T0.plusSeconds(20)).status().orElseThrow();
    assertThat(drained.phase).as("the backend is still in the snapshots, but no flow is left").isEqualTo(DrainPhase.Drained);
    assertThat(drained.totalRemaining).isZero();
    assertThat(drained.remaining).isEmpty();
    assertThat(drained.conditions.getFirst().getMessage()).contains("every node that carries them (3) reports zero");
  }

  @Test
  void zeroFromSomeNodesIsNotDrainedWhileOthersHaveNotReported() {
    BackendDrain drain = drain("45s");
    var some = new DrainProgress.NodeCounts(Map.of("n1", 0L), Set.of("n2"));
    assertThat(DrainProgress.step(drain, true, 1, some, T0).status().orElseThrow().phase).isEqualTo(DrainPhase.Draining);
  }

  @Test
  void theTimeoutKeepsTheLastCountsAndTheyStayWhileTheModelLags() {
    BackendDrain drain = drain("45s");
    var counts = new DrainProgress.NodeCounts(Map.of("n1", 4L), Set.of());
    drain.setStatus(DrainProgress.step(drain, true, 1, counts, T0).status().orElseThrow());

    assertThat(DrainProgress.step(drain, false, 0, DrainProgress.NodeCounts.NONE, T0.plusSeconds(1)).status())
        .as("a lagging model changes nothing, counts included").isEmpty();
    var timedOut = DrainProgress.step(drain, true, 1, counts, T0.plusSeconds(45)).status().orElseThrow();
    assertThat(timedOut.phase).isEqualTo(DrainPhase.TimedOut);
    assertThat(timedOut.totalRemaining).isEqualTo(4);
    assertThat(timedOut.conditions.getFirst().getMessage()).contains("4 connection(s) left");
  }
}
