package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainStatus;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.model.compiler.ObjectKey;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Feeds a BackendDrain into the model (its backends become DRAINING in every snapshot) and moves
 * its phase from what the nodes' agents report (live connections to the drained backends). Deleting it undrains: the finalizer takes it out of the model first.
 */
@ControllerConfiguration(name = "backenddrain", finalizerName = BackendDrainReconciler.FINALIZER)
public final class BackendDrainReconciler implements Reconciler<BackendDrain>, Cleaner<BackendDrain> {
  public static final String FINALIZER = "nodelb.io/drain";

  private final ClusterModel model;
  private final EventRecorder events;
  private final SimpleInboundEventSource<BackendDrain> modelEvents = new SimpleInboundEventSource<>("model");
  private ClusterModel.ClusterView cluster;

  public BackendDrainReconciler(ClusterModel model, EventRecorder events) {
    this.model = model;
    this.events = events;
    model.addListener(changes -> changes.backendDrains().forEach(
        k -> modelEvents.propagateEvent(TargetGroupReconciler.resourceId(k))));
  }

  /**
   * Informers of what decides which backends exist, only to compare with the model: JOSDK syncs
   * them before the first reconcile, so they hold at least the cluster as of the start. Their
   * events reconcile no drain (the model's own events do, once the outcome changes).
   */
  @Override
  public List<EventSource<?, BackendDrain>> prepareEventSources(EventSourceContext<BackendDrain> context) {
    InformerEventSource<TargetGroup, BackendDrain> groups = watchOnly(TargetGroup.class, "targetgroups", context);
    InformerEventSource<Service, BackendDrain> services = watchOnly(Service.class, "services", context);
    InformerEventSource<EndpointSlice, BackendDrain> slices = watchOnly(EndpointSlice.class, "endpointslices", context);
    slices.addIndexer(TargetGroupReconciler.BY_SERVICE, TargetGroupReconciler::serviceOfSlice);
    cluster = new ClusterModel.ClusterView() {
      @Override
      public List<TargetGroup> targetGroups() {
        return groups.list().toList();
      }

      @Override
      public Optional<Service> service(ObjectKey key) {
        return services.get(TargetGroupReconciler.resourceId(key));
      }

      @Override
      public List<EndpointSlice> slicesOf(ObjectKey service) {
        return slices.byIndex(TargetGroupReconciler.BY_SERVICE, service.namespace() + "/" + service.name());
      }
    };
    model.observeDrainsAndCluster(() -> context.getPrimaryCache().list().toList(), cluster);
    return List.of(modelEvents, groups, services, slices);
  }

  private static <R extends HasMetadata> InformerEventSource<R, BackendDrain> watchOnly(Class<R> type, String name,
      EventSourceContext<BackendDrain> context) {
    return new InformerEventSource<>(InformerEventSourceConfiguration.from(type, BackendDrain.class)
        .withName(name)
        .withSecondaryToPrimaryMapper((R object) -> Set.of())
        .build(), context);
  }

  @Override
  public UpdateControl<BackendDrain> reconcile(BackendDrain drain, Context<BackendDrain> context) {
    var problems = KubernetesInputs.problems("BackendDrain", drain, drain.getSpec());
    if (!problems.isEmpty()) {
      // The API server's CEL rules normally stop this; say so instead of draining something odd.
      events.warning(drain, "Invalid", problems.toString());
      return UpdateControl.noUpdate();
    }
    ObjectKey key = KubernetesInputs.key(drain);
    model.putBackendDrain(drain);
    boolean current = model.reflects(cluster);
    int draining = model.read(c -> c.backendsDrainedBy(key));
    var before = drain.getStatus() == null ? null : drain.getStatus().phase;
    DrainProgress.Step step = DrainProgress.step(drain, current, draining, model.nodeCounts(key), Instant.now());
    UpdateControl<BackendDrain> control = step.status()
        .map(status -> {
          if (before != status.phase) {
            events.normal(drain, String.valueOf(status.phase), message(status));
          }
          drain.setStatus(status);
          return UpdateControl.patchStatus(drain);
        })
        .orElseGet(UpdateControl::noUpdate);
    step.recheckAfter().ifPresent(control::rescheduleAfter);
    return control;
  }

  private static String message(BackendDrainStatus status) {
    return status.conditions.isEmpty() ? status.target : status.target + ": " + status.conditions.getFirst().getMessage();
  }

  @Override
  public DeleteControl cleanup(BackendDrain drain, Context<BackendDrain> context) {
    model.removeBackendDrain(KubernetesInputs.key(drain));
    return DeleteControl.defaultDelete();
  }
}
