package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Node;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerStatus;
import io.nodelb.model.compiler.ObjectKey;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Feeds a LoadBalancer and the Nodes into the model and writes its status. The finalizer takes the
 * LoadBalancer out of every node's snapshot before the object goes away.
 */
@ControllerConfiguration(name = "loadbalancer", finalizerName = LoadBalancerReconciler.FINALIZER)
public final class LoadBalancerReconciler implements Reconciler<LoadBalancer>, Cleaner<LoadBalancer> {
  public static final String FINALIZER = "nodelb.io/snapshots";

  private final ClusterModel model;
  private final EventRecorder events;
  private final SimpleInboundEventSource<LoadBalancer> modelEvents = new SimpleInboundEventSource<>("model");
  private InformerEventSource<Node, LoadBalancer> nodes;

  public LoadBalancerReconciler(ClusterModel model, EventRecorder events) {
    this.model = model;
    this.events = events;
    model.addListener(changes -> changes.loadBalancers().forEach(
        k -> modelEvents.propagateEvent(TargetGroupReconciler.resourceId(k))));
  }

  @Override
  public List<EventSource<?, LoadBalancer>> prepareEventSources(EventSourceContext<LoadBalancer> context) {
    nodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(Node.class, LoadBalancer.class)
        .withName("nodes")
        // Nodes change every few seconds (heartbeats); only labels and annotations matter here.
        .withOnUpdateFilter((Node fresh, Node old) -> !Objects.equals(fresh.getMetadata().getLabels(), old.getMetadata().getLabels())
            || !Objects.equals(fresh.getMetadata().getAnnotations(), old.getMetadata().getAnnotations()))
        .withSecondaryToPrimaryMapper((Node n) -> context.getPrimaryCache().list()
            .map(ResourceID::fromResource).collect(Collectors.toSet()))
        // The reconcile lists the Nodes itself. Without this mapper JOSDK would keep an index of every
        // LoadBalancer's secondary Nodes: every Node for every LoadBalancer (5,000,000 entries at
        // 10,000 LoadBalancers on 500 nodes).
        .withPrimaryToSecondaryMapper((LoadBalancer lb) -> Set.of())
        .build(), context);
    model.observeLoadBalancers(() -> context.getPrimaryCache().list().toList());
    return List.of(nodes, modelEvents);
  }

  @Override
  public UpdateControl<LoadBalancer> reconcile(LoadBalancer lb, Context<LoadBalancer> context) {
    ObjectKey key = KubernetesInputs.key(lb);
    model.putLoadBalancer(lb, nodes.list(n -> true).toList());
    var problems = model.read(c -> c.problemsOf(key));
    List<SnapshotStore.NodeState> states = new ArrayList<>();
    var answers = model.read(c -> c.nodesOf(key)).stream()
        .map(node -> {
          SnapshotStore.NodeState state = model.answerOn(key, node);
          states.add(state);
          return new StatusAggregator.NodeAnswer(node, state.answer(), state.error());
        })
        .toList();
    LoadBalancerStatus previous = lb.getStatus();
    Instant now = Instant.now();
    UpdateControl<LoadBalancer> control = StatusAggregator.loadBalancer(lb, problems, answers, now)
        .map(status -> {
          recordTransitions(lb, previous == null ? List.of() : previous.conditions, status.conditions);
          lb.setStatus(status);
          return UpdateControl.patchStatus(lb);
        })
        .orElseGet(UpdateControl::noUpdate);
    // An agent that has not connected yet is Pending until the term's connect grace ends; then look again.
    states.stream().map(SnapshotStore.NodeState::graceEnds).filter(Objects::nonNull).min(Instant::compareTo)
        .ifPresent(end -> control.rescheduleAfter(Duration.between(now, end).plusMillis(100)));
    return control;
  }

  private void recordTransitions(LoadBalancer lb, List<Condition> before, List<Condition> after) {
    for (Condition c : Conditions.transitions(before, after)) {
      String message = c.getType() + "=" + c.getStatus() + ": " + c.getMessage();
      if (Conditions.TRUE.equals(c.getStatus())) {
        events.normal(lb, c.getReason(), message);
      } else {
        events.warning(lb, c.getReason(), message);
      }
    }
  }

  @Override
  public DeleteControl cleanup(LoadBalancer lb, Context<LoadBalancer> context) {
    model.removeLoadBalancer(KubernetesInputs.key(lb));
    events.normal(lb, "Removed", "Removed from every node's snapshot.");
    return DeleteControl.defaultDelete();
  }
}
