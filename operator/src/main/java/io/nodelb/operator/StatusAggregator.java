package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.nodelb.api.v1alpha1.EndpointCounts;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerStatus;
import io.nodelb.api.v1alpha1.NodeFailure;
import io.nodelb.api.v1alpha1.NodesStatus;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupStatus;
import io.nodelb.model.compiler.CompiledGroup;
import io.nodelb.model.compiler.Problem;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The one place that turns compiled outcomes into status: standard conditions (Accepted,
 * ResolvedRefs, Programmed, Ready) and counts. Returns empty when the status would not change, so
 * reconcilers answer "no update".
 */
public final class StatusAggregator {
  private StatusAggregator() {}

  public static final String ACCEPTED = "Accepted";
  public static final String RESOLVED_REFS = "ResolvedRefs";
  public static final String PROGRAMMED = "Programmed";
  public static final String READY = "Ready";
  /** Programmed=Unknown while connected agents have not answered yet (Gateway API's reason for the same). */
  public static final String PENDING = "Pending";
  public static final String NODES_FAILING = "NodesFailing";
  public static final String NO_MATCHING_NODES = "NoMatchingNodes";

  /** What a missing or invalid TargetGroup costs a LoadBalancer; the rest of it is programmed. */
  static final String UNPROGRAMMED_REFS = "; listeners and routes whose TargetGroup is missing or invalid are not programmed";
  private static final Set<String> GROUP_REASONS = Set.of(Problem.TARGET_GROUP_NOT_FOUND, Problem.TARGET_GROUP_INVALID);
  private static final Set<String> FAMILY_REASONS = Set.of(Problem.NO_BACKEND_OF_FAMILY, Problem.NO_ENDPOINT_OF_FAMILY);
  private static final KubernetesSerialization JSON = new KubernetesSerialization();
  private static final Set<String> REF_REASONS = Set.of(Problem.TARGET_GROUP_NOT_FOUND, Problem.TARGET_GROUP_INVALID,
      Problem.SERVICE_NOT_FOUND, Problem.SERVICE_PORT_NOT_FOUND);

  /** What the agents say about one node of a LoadBalancer. */
  public record NodeAnswer(String node, SnapshotStore.Answer answer, String error) {}

  public static Optional<LoadBalancerStatus> loadBalancer(LoadBalancer lb, List<Problem> problems,
      List<NodeAnswer> nodes, Instant now) {
    Long generation = lb.getMetadata().getGeneration();
    // Not accepted: the spec is invalid, or a listener collides with another LoadBalancer's on a node.
    List<Problem> invalid = problems.stream().filter(p -> "LoadBalancer".equals(p.kind())
        && (Problem.INVALID.equals(p.reason()) || Problem.UNSUPPORTED.equals(p.reason())
        || Problem.LISTENER_CONFLICT.equals(p.reason()))).toList();
    List<Problem> refs = problems.stream().filter(p -> REF_REASONS.contains(p.reason())).toList();

    List<Condition> conditions = new ArrayList<>();
    conditions.add(invalid.isEmpty()
        ? Conditions.condition(ACCEPTED, Conditions.TRUE, ACCEPTED, "The spec is valid.", generation)
        : Conditions.condition(ACCEPTED, Conditions.FALSE, invalid.getFirst().reason(), describe(invalid), generation));
    conditions.add(refs.isEmpty()
        ? Conditions.condition(RESOLVED_REFS, Conditions.TRUE, RESOLVED_REFS, "Every TargetGroup and Service exists.", generation)
        : Conditions.condition(RESOLVED_REFS, Conditions.FALSE, refs.getFirst().reason(),
            describe(refs) + (refs.stream().anyMatch(p -> GROUP_REASONS.contains(p.reason())) ? UNPROGRAMMED_REFS : ""),
            generation));

    // A node is failing when its agent refused the version or no agent is connected to take it.
    List<NodeAnswer> failing = nodes.stream().filter(n -> n.answer() == SnapshotStore.Answer.NACKED
        || n.answer() == SnapshotStore.Answer.NOT_CONNECTED).toList();
    long programmed = nodes.stream().filter(n -> n.answer() == SnapshotStore.Answer.ACKED).count();
    Condition programmedCondition;
    if (!invalid.isEmpty()) {
      programmedCondition = Conditions.condition(PROGRAMMED, Conditions.FALSE, invalid.getFirst().reason(),
          "Not (fully) programmed: " + invalid.getFirst().message(), generation);
    } else if (nodes.isEmpty()) {
      programmedCondition = Conditions.condition(PROGRAMMED, Conditions.FALSE, NO_MATCHING_NODES,
          "No node matches nodeSelector " + (lb.getSpec().nodeSelector == null ? "{}" : lb.getSpec().nodeSelector) + ".",
          generation);
    } else if (!failing.isEmpty()) {
      programmedCondition = Conditions.condition(PROGRAMMED, Conditions.FALSE, NODES_FAILING,
          failing.size() + " of " + nodes.size() + " node(s) not programmed: "
              + failing.stream().map(f -> f.node() + ": " + f.error()).collect(Collectors.joining("; ")), generation);
    } else if (programmed == nodes.size()) {
      programmedCondition = Conditions.condition(PROGRAMMED, Conditions.TRUE, PROGRAMMED,
          "All " + nodes.size() + " node(s) applied the snapshot.", generation);
    } else {
      programmedCondition = Conditions.condition(PROGRAMMED, Conditions.UNKNOWN, PENDING,
          "Waiting for " + (nodes.size() - programmed) + " of " + nodes.size()
              + " node agent(s) to acknowledge their snapshot.", generation);
    }
    conditions.add(programmedCondition);
    Condition notReady = conditions.stream().filter(c -> !Conditions.TRUE.equals(c.getStatus())).findFirst().orElse(null);
    // A listener whose group has no backend of its address's family loses every connection.
    List<Problem> unserved = problems.stream().filter(p -> FAMILY_REASONS.contains(p.reason())).toList();
    conditions.add(notReady != null
        ? Conditions.condition(READY, Conditions.FALSE, notReady.getReason(), notReady.getType() + ": " + notReady.getMessage(),
            generation)
        : !unserved.isEmpty()
        ? Conditions.condition(READY, Conditions.FALSE, unserved.getFirst().reason(), describe(unserved), generation)
        : Conditions.condition(READY, Conditions.TRUE, READY, "Traffic is served on every selected node.", generation));

    LoadBalancerStatus previous = lb.getStatus();
    LoadBalancerStatus status = new LoadBalancerStatus();
    status.conditions = Conditions.merge(previous == null ? List.of() : previous.conditions, conditions, now);
    status.nodes = new NodesStatus();
    status.nodes.desired = nodes.size();
    status.nodes.programmed = (int) programmed;
    status.nodes.failing = failing.stream().map(f -> new NodeFailure(f.node(), f.error())).toList();
    status.listeners = listenerSummary(lb);
    status.observedGeneration = generation;
    return sameAs(previous, status) ? Optional.empty() : Optional.of(status);
  }

  public static Optional<TargetGroupStatus> targetGroup(TargetGroup tg, CompiledGroup compiled, Instant now) {
    return targetGroup(tg, compiled, ClusterModel.GroupHealth.NONE, now);
  }

  /** With what the nodes' agents report of the group's backends (health checks, breakers, fail open). */
  public static Optional<TargetGroupStatus> targetGroup(TargetGroup tg, CompiledGroup compiled,
      ClusterModel.GroupHealth health, Instant now) {
    Long generation = tg.getMetadata().getGeneration();
    List<Problem> problems = compiled == null ? List.of() : compiled.problems();
    List<Problem> invalid = problems.stream()
        .filter(p -> Problem.INVALID.equals(p.reason()) || Problem.UNSUPPORTED.equals(p.reason())).toList();
    List<Problem> refs = problems.stream().filter(p -> REF_REASONS.contains(p.reason())).toList();
    List<Condition> conditions = List.of(
        invalid.isEmpty()
            ? Conditions.condition(ACCEPTED, Conditions.TRUE, ACCEPTED, "The spec is valid.", generation)
            : Conditions.condition(ACCEPTED, Conditions.FALSE, Problem.INVALID, describe(invalid), generation),
        refs.isEmpty()
            ? Conditions.condition(RESOLVED_REFS, Conditions.TRUE, RESOLVED_REFS, "Every Service and port exists.", generation)
            : Conditions.condition(RESOLVED_REFS, Conditions.FALSE, refs.getFirst().reason(), describe(refs), generation));
    TargetGroupStatus previous = tg.getStatus();
    TargetGroupStatus status = new TargetGroupStatus();
    status.conditions = Conditions.merge(previous == null ? List.of() : previous.conditions, conditions, now);
    CompiledGroup.EndpointTally counts = compiled == null ? new CompiledGroup.EndpointTally(0, 0, 0, 0) : compiled.counts();
    status.endpoints = new EndpointCounts(counts.ready(), counts.servingTerminating(), counts.terminating(),
        counts.staticBackends());
    status.backends = health.backends().isEmpty() ? null : health.backends();
    status.failingOpenOn = health.failingOpen().isEmpty() ? null : health.failingOpen();
    status.observedGeneration = generation;
    return sameAs(previous, status) ? Optional.empty() : Optional.of(status);
  }

  static String describe(List<Problem> problems) {
    return problems.stream().map(p -> p.field() + ": " + p.message()).collect(Collectors.joining("; "));
  }

  /** "10.1.1.1:80/TCP,[2001:db8::7]:443/TCP,*:8080/TCP" for kubectl get. */
  static String listenerSummary(LoadBalancer lb) {
    if (lb.getSpec() == null || lb.getSpec().listeners == null) {
      return "";
    }
    List<String> parts = new ArrayList<>();
    for (ListenerSpec l : lb.getSpec().listeners) {
      String address = l.address == null ? "*" : l.address.contains(":") ? "[" + l.address + "]" : l.address;
      parts.add(address + ":" + l.port + "/" + l.protocol);
    }
    return String.join(",", parts);
  }

  static boolean sameAs(Object previous, Object next) {
    return previous != null && Objects.equals(JSON.asJson(previous), JSON.asJson(next));
  }
}
