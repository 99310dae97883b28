package io.nodelb.operator;

import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainStatus;
import io.nodelb.api.v1alpha1.validation.SpecValidator;
import io.nodelb.model.compiler.ObjectKey;
import java.time.Instant;
import java.util.List;

/**
 * Feeds a BackendDrain into the model (its backends become DRAINING in every snapshot) and moves
 * its phase. Deleting it undrains: the finalizer takes it out of the model first.
 */
@ControllerConfiguration(name = "backenddrain", finalizerName = BackendDrainReconciler.FINALIZER)
public final class BackendDrainReconciler implements Reconciler<BackendDrain>, Cleaner<BackendDrain> {
  public static final String FINALIZER = "nodelb.io/drain";

  private final ClusterModel model;
  private final EventRecorder events;
  private final SimpleInboundEventSource<BackendDrain> modelEvents = new SimpleInboundEventSource<>("model");

  public BackendDrainReconciler(ClusterModel model, EventRecorder events) {
    this.model = model;
    this.events = events;
    model.addListener(changes -> changes.backendDrains().forEach(
        k -> modelEvents.propagateEvent(TargetGroupReconciler.resourceId(k))));
  }

  @Override
  public List<EventSource<?, BackendDrain>> prepareEventSources(EventSourceContext<BackendDrain> context) {
    return List.of(modelEvents);
  }

  @Override
  public UpdateControl<BackendDrain> reconcile(BackendDrain drain, Context<BackendDrain> context) {
    var problems = SpecValidator.validate(drain.getSpec());
    if (!problems.isEmpty()) {
      // The API server's CEL rules normally stop this; say so instead of draining something odd.
      events.warning(drain, "Invalid", problems.toString());
      return UpdateControl.noUpdate();
    }
    ObjectKey key = ObjectKey.of(drain);
    model.update(compiler -> compiler.putBackendDrain(drain));
    int draining = model.read(c -> c.backendsDrainedBy(key));
    var before = drain.getStatus() == null ? null : drain.getStatus().phase;
    DrainProgress.Step step = DrainProgress.step(drain, draining, Instant.now());
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
    model.update(compiler -> compiler.removeBackendDrain(ObjectKey.of(drain)));
    return DeleteControl.defaultDelete();
  }
}
