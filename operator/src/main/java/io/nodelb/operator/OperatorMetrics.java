package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.operator.channel.ChannelCounters;
import io.nodelb.operator.channel.SnapshotServer;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * The operator's own series (reconciles come from JOSDK's micrometer-support). State is read at
 * scrape time from what the operator holds (informer caches, the snapshot store, the channel's
 * counters), so there is no bookkeeping to drift. A follower's caches and store are empty: its
 * gauges say 0 and {@code nodelb_operator_leader} 0, so alerts take the max over replicas.
 */
public final class OperatorMetrics {
  /** A drain still Draining this long after its timeout has not been moved to TimedOut: stuck. */
  static final Duration OVERDUE_AFTER = Duration.ofMinutes(1);

  private OperatorMetrics() {}

  static void register(MeterRegistry registry, NodelbOperator operator) {
    ClusterModel model = operator.model();
    SnapshotStore store = operator.snapshots();
    Gauge.builder("nodelb.operator.leader", operator, o -> o.leading() ? 1 : 0)
        .description("1 while this replica leads (serves snapshots, runs the reconcilers)").register(registry);
    Gauge.builder("nodelb.operator.loadbalancers", model, m -> m.cachedLoadBalancers().size())
        .description("LoadBalancers the operator holds").register(registry);
    Gauge.builder("nodelb.operator.loadbalancers.not.programmed", model,
            m -> m.cachedLoadBalancers().stream().filter(lb -> !programmed(lb)).count())
        .description("LoadBalancers whose Programmed condition is not True (a node NACKed, has no agent, or has"
            + " not answered yet; kubectl get lb -A)").register(registry);
    for (DrainPhase phase : DrainPhase.values()) {
      Gauge.builder("nodelb.operator.backenddrains", model,
              m -> m.cachedDrains().stream().filter(d -> d.getStatus() != null && d.getStatus().phase == phase).count())
          .tag("phase", phase.name())
          .description("BackendDrains per phase").register(registry);
    }
    Gauge.builder("nodelb.operator.backenddrains.overdue", model,
            m -> m.cachedDrains().stream().filter(d -> overdue(d, Instant.now())).count())
        .description("BackendDrains still Draining more than a minute past their timeout (stuck: the operator"
            + " cannot judge them, e.g. its model does not reflect the cluster)").register(registry);
    for (SnapshotStore.Answer answer : SnapshotStore.Answer.values()) {
      Gauge.builder("nodelb.operator.nodes", store,
              s -> s.versions().keySet().stream().filter(n -> s.state(n).answer() == answer).count())
          .tag("answer", answer.name().toLowerCase(Locale.ROOT))
          .description("Nodes with a snapshot, by what their agent says about its current version").register(registry);
    }
    if (operator.hasSnapshotServer()) {
      SnapshotServer server = operator.snapshotServer();
      ChannelCounters counters = server.counters();
      Gauge.builder("nodelb.operator.agents.connected", server, s -> s.connectedNodes().size())
          .description("Agents with an open stream to this replica").register(registry);
      FunctionCounter.builder("nodelb.operator.snapshots.sent", counters, ChannelCounters::snapshotsSent)
          .description("Snapshots sent to agents").register(registry);
      counters.onNewNode(node -> {
        FunctionCounter.builder("nodelb.operator.node.acks", counters, c -> c.acks(node)).tag("node", node)
            .description("Snapshots the node's agent applied (ACK)").register(registry);
        FunctionCounter.builder("nodelb.operator.node.nacks", counters, c -> c.nacks(node)).tag("node", node)
            .description("Snapshots the node's agent refused (NACK)").register(registry);
        Gauge.builder("nodelb.operator.node.refusing", store,
                s -> s.state(node).answer() == SnapshotStore.Answer.NACKED ? 1 : 0).tag("node", node)
            .description("1 while the node's agent refuses the node's current snapshot (it keeps the previous one)")
            .register(registry);
      });
    }
  }

  static boolean programmed(LoadBalancer lb) {
    Condition c = lb.getStatus() == null ? null : Conditions.find(lb.getStatus().conditions, StatusAggregator.PROGRAMMED);
    return c != null && Conditions.TRUE.equals(c.getStatus());
  }

  static boolean overdue(BackendDrain drain, Instant now) {
    var status = drain.getStatus();
    if (status == null || status.phase != DrainPhase.Draining || status.startTime == null || drain.getSpec() == null) {
      return false;
    }
    try {
      return now.isAfter(DrainProgress.deadline(drain.getSpec(), Instant.parse(status.startTime)).plus(OVERDUE_AFTER));
    } catch (RuntimeException e) {
      return false; // a status or timeout we cannot read is the reconciler's to report
    }
  }
}
