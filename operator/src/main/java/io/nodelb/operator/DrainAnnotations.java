package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.model.input.Durations;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * kubectl-drain style annotations: {@code nodelb.io/drain=true} (and optionally
 * {@code nodelb.io/drain-timeout=45s}) on a Pod or Node makes the operator create a BackendDrain
 * owned by it; removing the annotation deletes that BackendDrain, which undrains.
 */
final class DrainAnnotations {
  private DrainAnnotations() {}

  static final String DRAIN = "nodelb.io/drain";
  static final String DRAIN_TIMEOUT = "nodelb.io/drain-timeout";
  static final String CREATED_BY = "nodelb.io/created-by";

  static boolean wantsDrain(HasMetadata object) {
    Map<String, String> annotations = object.getMetadata().getAnnotations();
    return annotations != null && "true".equals(annotations.get(DRAIN));
  }

  static String timeout(HasMetadata object) {
    Map<String, String> annotations = object.getMetadata().getAnnotations();
    return annotations == null ? null : annotations.get(DRAIN_TIMEOUT);
  }

  /** Reconcile only when the drain annotations change. */
  static boolean drainAnnotationsChanged(HasMetadata fresh, HasMetadata old) {
    return wantsDrain(fresh) != wantsDrain(old) || !Objects.equals(timeout(fresh), timeout(old));
  }

  /**
   * Creates or deletes the BackendDrain {@code namespace/name} owned by {@code owner}.
   *
   * @param target sets the drain's target (pod or node) on a new spec
   */
  static void sync(KubernetesClient client, EventRecorder events, HasMetadata owner, String namespace, String name,
      Consumer<BackendDrainSpec> target) {
    var resource = client.resources(BackendDrain.class).inNamespace(namespace).withName(name);
    BackendDrain existing = resource.get();
    boolean ownedHere = existing != null && existing.getMetadata().getOwnerReferences() != null
        && existing.getMetadata().getOwnerReferences().stream().anyMatch(r -> Objects.equals(r.getUid(), owner.getMetadata().getUid()));
    if (!wantsDrain(owner)) {
      if (ownedHere) {
        resource.delete();
        events.normal(owner, "DrainCancelled", "Annotation " + DRAIN + " removed: deleted BackendDrain " + namespace + "/" + name + " (undrained).");
      }
      return;
    }
    if (existing != null) {
      return;
    }
    BackendDrainSpec spec = new BackendDrainSpec();
    target.accept(spec);
    String timeout = timeout(owner);
    if (timeout != null) {
      try {
        Durations.parse(timeout);
        spec.timeout = timeout;
      } catch (IllegalArgumentException e) {
        events.warning(owner, "InvalidDrainTimeout", DRAIN_TIMEOUT + ": " + e.getMessage() + "; using " + spec.timeout);
      }
    }
    BackendDrain drain = new BackendDrain();
    drain.getMetadata().setNamespace(namespace);
    drain.getMetadata().setName(name);
    drain.getMetadata().setLabels(Map.of(CREATED_BY, "annotation"));
    drain.getMetadata().setOwnerReferences(java.util.List.of(new OwnerReferenceBuilder()
        .withApiVersion(owner.getApiVersion()).withKind(owner.getKind()).withName(owner.getMetadata().getName())
        .withUid(owner.getMetadata().getUid()).withController(true).withBlockOwnerDeletion(false).build()));
    drain.setSpec(spec);
    client.resource(drain).create();
    events.normal(owner, "DrainStarted", "Annotation " + DRAIN + "=true: created BackendDrain " + namespace + "/" + name + ".");
  }

  /** "<prefix>-<name>", kept within the 253 characters of an object name. */
  static String drainName(String prefix, String name) {
    String full = prefix + "-" + name;
    return full.length() <= 253 ? full : full.substring(0, 253);
  }
}
