package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.BackendDrainStatus;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.model.input.Durations;
import io.nodelb.api.v1alpha1.NodeConnections;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The BackendDrain state machine, pure: Draining until every node that carries the drained
 * backends reports no live connection to them, or the backends are gone from every snapshot
 * (Drained), or the timeout passes (TimedOut).
 *
 * <p>A count is only believed once the model reflects the cluster's TargetGroups, Services and
 * EndpointSlices: right after the operator starts, a drain can be looked at before the groups it
 * drains are compiled, and "nothing left to drain" would then be a lie that a final phase keeps.
 * Likewise a node's connections only count when its agent reported them for the snapshot it is
 * meant to run (in which the backends are DRAINING, so no new flow reaches them); see {@link
 * NodeCounts}.
 */
public final class DrainProgress {
  private DrainProgress() {}

  public static final String COMPLETE = "Complete";
  public static final String WAITING_FOR_NODE_REPORTS = "WaitingForNodeReports";
  public static final String CONNECTIONS_REMAINING = "ConnectionsRemaining";
  public static final String WAITING_FOR_MODEL = "WaitingForModel";
  /** How soon to look again while the model does not yet reflect the cluster. */
  public static final Duration MODEL_RECHECK = Duration.ofSeconds(1);

  /** The new status (empty: unchanged) and when to look again (empty: never). */
  public record Step(Optional<BackendDrainStatus> status, Optional<Duration> recheckAfter) {}

  /**
   * Live connections to a drain's backends on the nodes that carry them.
   *
   * @param reported per node whose agent reported on its current snapshot: connections left
   * @param unreported nodes whose agent did not (not connected, or still applying its snapshot)
   */
  public record NodeCounts(Map<String, Long> reported, Set<String> unreported) {
    public static final NodeCounts NONE = new NodeCounts(Map.of(), Set.of());

    public long total() {
      return reported.values().stream().mapToLong(Long::longValue).sum();
    }

    boolean allZero() {
      return unreported.isEmpty() && total() == 0;
    }
  }

  /**
   * @param modelReflectsCluster whether the model holds the cluster's current TargetGroups,
   *     Services and EndpointSlices ({@link ClusterModel#reflects}); if not, the count is not
   *     believed and no final phase is reached
   * @param backendsStillDraining backends DRAINING because of this drain in the model
   * @param counts what the nodes carrying those backends report
   */
  public static Step step(BackendDrain drain, boolean modelReflectsCluster, int backendsStillDraining,
      NodeCounts counts, Instant now) {
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
    Instant deadline = deadline(spec, Instant.parse(status.startTime));
    if (!modelReflectsCluster) {
      if (phase == DrainPhase.Draining) {
        return new Step(Optional.empty(), Optional.of(MODEL_RECHECK)); // keep what it says until the count is known
      }
      status.phase = DrainPhase.Draining;
      complete = Conditions.condition(COMPLETE, Conditions.FALSE, WAITING_FOR_MODEL,
          "Waiting until the operator has read the TargetGroups, Services and EndpointSlices that decide what"
              + " to drain.", status.observedGeneration);
      recheck = Optional.of(MODEL_RECHECK);
      copyCounts(previous, status);
    } else if (backendsStillDraining == 0) {
      status.phase = DrainPhase.Drained;
      status.finishTime = timestamp(now);
      complete = Conditions.condition(COMPLETE, Conditions.TRUE, "Drained",
          "The drained backend(s) are gone from every node's snapshot.", status.observedGeneration);
      setCounts(status, NodeCounts.NONE);
    } else if (counts.allZero()) {
      status.phase = DrainPhase.Drained;
      status.finishTime = timestamp(now);
      complete = Conditions.condition(COMPLETE, Conditions.TRUE, "Drained",
          "No connection left to the " + backendsStillDraining + " drained backend(s): every node that carries them ("
              + counts.reported().size() + ") reports zero.", status.observedGeneration);
      setCounts(status, counts);
    } else if (!now.isBefore(deadline)) {
      status.phase = DrainPhase.TimedOut;
      status.finishTime = timestamp(now);
      complete = Conditions.condition(COMPLETE, Conditions.TRUE, "TimedOut",
          "The timeout passed with " + backendsStillDraining + " backend(s) still draining"
              + connectionsText(counts) + "; their flows are cut.", status.observedGeneration);
      setCounts(status, counts);
    } else {
      status.phase = DrainPhase.Draining;
      boolean waiting = !counts.unreported().isEmpty();
      complete = Conditions.condition(COMPLETE, Conditions.FALSE, waiting ? WAITING_FOR_NODE_REPORTS : CONNECTIONS_REMAINING,
          backendsStillDraining + " backend(s) draining" + connectionsText(counts)
              + (waiting ? "; waiting for node reports from " + names(counts.unreported()) : "")
              + " (until " + timestamp(deadline) + ").", status.observedGeneration);
      recheck = Optional.of(Duration.between(now, deadline).plusMillis(100));
      setCounts(status, counts);
    }
    status.conditions = Conditions.merge(previous == null ? List.of() : previous.conditions, List.of(complete), now);
    boolean same = StatusAggregator.sameAs(previous, status);
    return new Step(same ? Optional.empty() : Optional.of(status), recheck);
  }

  /** When a drain that started at {@code start} times out. */
  static Instant deadline(BackendDrainSpec spec, Instant start) {
    return start.plus(Durations.parse(spec.timeout == null ? "5m" : spec.timeout));
  }

  /** Nodes with connections left (a node at zero is not listed), the total, and who has not reported. */
  private static void setCounts(BackendDrainStatus status, NodeCounts counts) {
    status.remaining = new ArrayList<>();
    new TreeMap<>(counts.reported()).forEach((node, connections) -> {
      if (connections > 0) {
        status.remaining.add(new NodeConnections(node, connections));
      }
    });
    status.totalRemaining = counts.total();
    status.unreportedNodes = new ArrayList<>(new TreeSet<>(counts.unreported()));
  }

  private static void copyCounts(BackendDrainStatus previous, BackendDrainStatus status) {
    if (previous != null) {
      status.remaining = previous.remaining;
      status.totalRemaining = previous.totalRemaining;
      status.unreportedNodes = previous.unreportedNodes;
    }
  }

  private static String connectionsText(NodeCounts counts) {
    if (counts.reported().isEmpty()) {
      return "";
    }
    long nodesWithFlows = counts.reported().values().stream().filter(c -> c > 0).count();
    return "; " + counts.total() + " connection(s) left on " + nodesWithFlows + " of " + counts.reported().size()
        + " reporting node(s)";
  }

  private static String names(Set<String> nodes) {
    List<String> sorted = new ArrayList<>(new TreeSet<>(nodes));
    return sorted.size() <= 5 ? String.join(", ", sorted)
        : String.join(", ", sorted.subList(0, 5)) + " and " + (sorted.size() - 5) + " more";
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
