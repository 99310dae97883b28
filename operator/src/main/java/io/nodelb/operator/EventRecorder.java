package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Kubernetes Events (core/v1) for transitions, so `kubectl describe` tells the story. */
public final class EventRecorder {
  private static final Logger LOG = Logger.getLogger(EventRecorder.class.getName());
  static final String COMPONENT = "nodelb-operator";

  private final KubernetesClient client;

  public EventRecorder(KubernetesClient client) {
    this.client = client;
  }

  public void normal(HasMetadata object, String reason, String message) {
    record(object, "Normal", reason, message);
  }

  public void warning(HasMetadata object, String reason, String message) {
    record(object, "Warning", reason, message);
  }

  private void record(HasMetadata object, String type, String reason, String message) {
    String namespace = object.getMetadata().getNamespace() == null ? "default" : object.getMetadata().getNamespace();
    String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
    var event = new EventBuilder()
        .withNewMetadata()
          .withNamespace(namespace)
          .withName(object.getMetadata().getName() + "." + UUID.randomUUID().toString().substring(0, 8))
        .endMetadata()
        .withNewInvolvedObject()
          .withApiVersion(object.getApiVersion()).withKind(object.getKind())
          .withName(object.getMetadata().getName()).withNamespace(object.getMetadata().getNamespace())
          .withUid(object.getMetadata().getUid()).withResourceVersion(object.getMetadata().getResourceVersion())
        .endInvolvedObject()
        .withType(type).withReason(reason).withMessage(message)
        .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
        .withNewSource().withComponent(COMPONENT).endSource()
        .build();
    try {
      client.v1().events().inNamespace(namespace).resource(event).create();
    } catch (KubernetesClientException e) {
      // An event is a courtesy; losing one must not fail the reconcile.
      LOG.log(Level.FINE, "could not record event " + reason + " for " + object.getMetadata().getName(), e);
    }
  }
}
