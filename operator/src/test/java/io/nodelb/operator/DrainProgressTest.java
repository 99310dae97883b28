package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.BackendRef;
import io.nodelb.api.v1alpha1.DrainPhase;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class DrainProgressTest {
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

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
    DrainProgress.Step step = DrainProgress.step(drain("45s"), true, 2, T0);

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
    drain.setStatus(DrainProgress.step(drain, true, 2, T0).status().orElseThrow());

    assertThat(DrainProgress.step(drain, true, 2, T0.plusSeconds(10)).status()).as("nothing changed").isEmpty();
    assertThat(DrainProgress.step(drain, true, 0, T0.plusSeconds(10)).status().orElseThrow().phase).isEqualTo(DrainPhase.Drained);
    var timedOut = DrainProgress.step(drain, true, 1, T0.plusSeconds(45)).status().orElseThrow();
    assertThat(timedOut.phase).isEqualTo(DrainPhase.TimedOut);
    assertThat(timedOut.finishTime).isEqualTo(T0.plusSeconds(45).toString());
  }

  @Test
  void finalPhasesStayFinal() {
    BackendDrain drain = drain("45s");
    drain.setStatus(DrainProgress.step(drain, true, 0, T0).status().orElseThrow());

    assertThat(DrainProgress.step(drain, true, 3, T0.plusSeconds(1)).status()).isEmpty();
  }

  @Test
  void nothingLeftIsNotBelievedBeforeTheModelReflectsTheCluster() {
    BackendDrain drain = drain("45s");
    DrainProgress.Step first = DrainProgress.step(drain, false, 0, T0);

    var status = first.status().orElseThrow();
    assertThat(status.phase).as("not Drained: the groups it drains may not be compiled yet").isEqualTo(DrainPhase.Draining);
    assertThat(status.conditions.getFirst().getReason()).isEqualTo(DrainProgress.WAITING_FOR_MODEL);
    assertThat(first.recheckAfter()).hasValue(DrainProgress.MODEL_RECHECK);

    drain.setStatus(status);
    assertThat(DrainProgress.step(drain, false, 0, T0.plusSeconds(1)).status()).as("still unknown: unchanged").isEmpty();
    var counted = DrainProgress.step(drain, true, 1, T0.plusSeconds(2)).status().orElseThrow();
    assertThat(counted.phase).isEqualTo(DrainPhase.Draining);
    assertThat(counted.conditions.getFirst().getReason()).isEqualTo(DrainProgress.WAITING_FOR_NODE_REPORTS);
    assertThat(counted.startTime).isEqualTo(T0.toString());
    drain.setStatus(counted);
    assertThat(DrainProgress.step(drain, true, 0, T0.plusSeconds(3)).status().orElseThrow().phase).isEqualTo(DrainPhase.Drained);
  }

  @Test
  void noFinalPhaseWhileTheModelLagsEvenPastTheDeadline() {
    BackendDrain drain = drain("45s");
    drain.setStatus(DrainProgress.step(drain, true, 1, T0).status().orElseThrow());

    DrainProgress.Step lagging = DrainProgress.step(drain, false, 0, T0.plusSeconds(50));
    assertThat(lagging.status()).as("stays Draining as it was").isEmpty();
    assertThat(lagging.recheckAfter()).hasValue(DrainProgress.MODEL_RECHECK);
    assertThat(DrainProgress.step(drain, true, 1, T0.plusSeconds(50)).status().orElseThrow().phase)
        .isEqualTo(DrainPhase.TimedOut);
  }
}
