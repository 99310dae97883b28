package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Node;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.nodelb.api.v1alpha1.NodeRef;

/**
 * {@code nodelb.io/drain=true} on a Node: a BackendDrain "node-<name>" in the operator's namespace,
 * owned by the Node. (The annotated node's endpoints are drained by the model directly too.)
 */
@ControllerConfiguration(name = "node-drain-annotation", generationAwareEventProcessing = false)
public final class NodeDrainReconciler implements Reconciler<Node> {
  private final EventRecorder events;
  private final String drainNamespace;

  public NodeDrainReconciler(EventRecorder events, String drainNamespace) {
    this.events = events;
    this.drainNamespace = drainNamespace;
  }

  @Override
  public UpdateControl<Node> reconcile(Node node, Context<Node> context) {
    DrainAnnotations.sync(context.getClient(), events, node, drainNamespace,
        DrainAnnotations.drainName("node", node.getMetadata().getName()),
        spec -> spec.node = new NodeRef(node.getMetadata().getName()));
    return UpdateControl.noUpdate();
  }
}
