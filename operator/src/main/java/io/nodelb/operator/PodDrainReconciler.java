package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.nodelb.api.v1alpha1.PodRef;

/**
 * {@code nodelb.io/drain=true} on a Pod: a BackendDrain "pod-<name>" in the Pod's namespace, owned by it.
 * Its informer caches only the Pods the annotation concerns ({@link DrainAnnotatedPods}), as slim
 * copies: the reconcile reads the Pod's name, namespace, uid and drain annotations, nothing else.
 */
@ControllerConfiguration(name = "pod-drain-annotation", generationAwareEventProcessing = false)
public final class PodDrainReconciler implements Reconciler<Pod> {
  private final EventRecorder events;

  public PodDrainReconciler(EventRecorder events) {
    this.events = events;
  }

  @Override
  public UpdateControl<Pod> reconcile(Pod pod, Context<Pod> context) {
    DrainAnnotations.sync(context.getClient(), events, pod, pod.getMetadata().getNamespace(),
        DrainAnnotations.drainName("pod", pod.getMetadata().getName()),
        spec -> spec.pod = new PodRef(pod.getMetadata().getName()));
    return UpdateControl.noUpdate();
  }
}
