package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.BackendDrainStatus;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.Durations;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;

/**
 * The BackendDrain state machine, pure: Draining until the drained backends are gone from every
 * snapshot (Drained) or the timeout passes (TimedOut). Agents will also report live connections;
 * until they do, the drain waits for node reports.
 */
public final class DrainProgress {
  private DrainProgress() {}

  public static final String COMPLETE = "Complete";
  public static final String WAITING_FOR_NODE_REPORTS = "WaitingForNodeReports";

  /** The new status (empty: unchanged) and when to look again (empty: never). */
  public record Step(Optional<BackendDrainStatus> status, Optional<Duration> recheckAfter) {}

  public static Step step(BackendDrain drain, int backendsStillDraining, Instant now) {
    BackendDrainStatus previous = drain.getStatus();
    BackendDrainSpec spec = drain.getSpec();
    BackendDrainStatus status = new BackendDrainStatus();
    status.target = target(spec);
    status.observedGeneration = drain.getMetadata().getGeneration();
    status.startTime = previous != null && previous.startTime != null ? previous.startTime : timestamp(now);
    DrainPhase phase = previous == null ? null : previous.phase;
    Optional<Duration> recheck = Optional.empty();
    Condition complete;
    if (phase == DrainPhase.Drained || phase == DrainPhase.TimedOut || phase == DrainPhase.Cancelled) {
      return new Step(Optional.empty(), Optional.empty()); // final
    }
    Instant deadline = Instant.parse(status.startTime).plus(Durations.parse(spec.timeout == null ? "5m" : spec.timeout));
    if (backendsStillDraining == 0) {
      status.phase = DrainPhase.Drained;
      status.finishTime = timestamp(now);
      complete = Conditions.condition(COMPLETE, Conditions.TRUE, "Drained",
          "The drained backend(s) are gone from every node's snapshot.", status.observedGeneration);
    } else if (!now.isBefore(deadline)) {
      status.phase = DrainPhase.TimedOut;
      status.finishTime = timestamp(now);
      complete = Conditions.condition(COMPLETE, Conditions.TRUE, "TimedOut",
          "The timeout passed with " + backendsStillDraining + " backend(s) still draining; their flows are cut.",
          status.observedGeneration);
    } else {
      status.phase = DrainPhase.Draining;
      complete = Conditions.condition(COMPLETE, Conditions.FALSE, WAITING_FOR_NODE_REPORTS,
          backendsStillDraining + " backend(s) draining; waiting for node reports of their remaining connections"
              + " (until " + timestamp(deadline) + ").", status.observedGeneration);
      recheck = Optional.of(Duration.between(now, deadline).plusMillis(100));
    }
    status.conditions = Conditions.merge(previous == null ? List.of() : previous.conditions, List.of(complete), now);
    status.remaining = previous == null ? List.of() : previous.remaining;
    boolean same = StatusAggregator.sameAs(previous, status);
    return new Step(same ? Optional.empty() : Optional.of(status), recheck);
  }

  static String target(BackendDrainSpec spec) {
    if (spec.pod != null) {
      return "pod/" + spec.pod.name;
    }
    if (spec.node != null) {
      return "node/" + spec.node.name;
    }
    if (spec.backend != null) {
      String address = spec.backend.address != null && spec.backend.address.contains(":")
          ? "[" + spec.backend.address + "]" : spec.backend.address;
      return "backend/" + address + ":" + spec.backend.port;
    }
    return "";
  }

  private static String timestamp(Instant instant) {
    return instant.truncatedTo(ChronoUnit.SECONDS).toString();
  }
}
