package io.nodelb.operator;

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
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.model.compiler.ModelCompiler;
import io.nodelb.model.compiler.ObjectKey;
import java.time.Instant;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Feeds a TargetGroup and its Services' EndpointSlices into the model; writes endpoint counts and
 * what the nodes report of its backends' health.
 */
@ControllerConfiguration(name = "targetgroup")
public final class TargetGroupReconciler implements Reconciler<TargetGroup>, Cleaner<TargetGroup> {
  private final ClusterModel model;
  private final SimpleInboundEventSource<TargetGroup> modelEvents = new SimpleInboundEventSource<>("model");
  private InformerEventSource<Service, TargetGroup> services;
  private InformerEventSource<EndpointSlice, TargetGroup> slices;

  public TargetGroupReconciler(ClusterModel model) {
    this.model = model;
    model.addListener(changes -> changes.targetGroups().forEach(k -> modelEvents.propagateEvent(resourceId(k))));
  }

  /** Index of TargetGroups by the Services they name, and of EndpointSlices by their Service: "namespace/service". */
  static final String BY_SERVICE = "nodelb-by-service";

  @Override
  public List<EventSource<?, TargetGroup>> prepareEventSources(EventSourceContext<TargetGroup> context) {
    // Looked up on every Service and EndpointSlice event and every reconcile: by index, not by a walk over the cache.
    context.getPrimaryCache().addIndexer(BY_SERVICE, tg -> servicesOf(tg).stream()
        .map(s -> tg.getMetadata().getNamespace() + "/" + s).toList());
    services = new InformerEventSource<>(InformerEventSourceConfiguration.from(Service.class, TargetGroup.class)
        .withName("services")
        .withSecondaryToPrimaryMapper((Service s) -> groupsNaming(context, s.getMetadata().getNamespace(), s.getMetadata().getName()))
        .build(), context);
    slices = new InformerEventSource<>(InformerEventSourceConfiguration.from(EndpointSlice.class, TargetGroup.class)
        .withName("endpointslices")
        .withSecondaryToPrimaryMapper((EndpointSlice s) -> {
          Map<String, String> labels = s.getMetadata().getLabels();
          String service = labels == null ? null : labels.get(ModelCompiler.SERVICE_NAME_LABEL);
          return service == null ? Set.of() : groupsNaming(context, s.getMetadata().getNamespace(), service);
        })
        .build(), context);
    slices.addIndexer(BY_SERVICE, TargetGroupReconciler::serviceOfSlice);
    return List.of(services, slices, modelEvents);
  }

  private static Set<ResourceID> groupsNaming(EventSourceContext<TargetGroup> context, String namespace, String service) {
    return context.getPrimaryCache().byIndex(BY_SERVICE, namespace + "/" + service).stream()
        .map(ResourceID::fromResource).collect(Collectors.toSet());
  }

  /** "namespace/service" of an EndpointSlice (its {@code kubernetes.io/service-name} label); none without the label. */
  static List<String> serviceOfSlice(EndpointSlice slice) {
    Map<String, String> labels = slice.getMetadata().getLabels();
    String service = labels == null ? null : labels.get(ModelCompiler.SERVICE_NAME_LABEL);
    return service == null ? List.of() : List.of(slice.getMetadata().getNamespace() + "/" + service);
  }

  static Set<String> servicesOf(TargetGroup tg) {
    Set<String> names = new HashSet<>();
    if (tg.getSpec() != null && tg.getSpec().services != null) {
      tg.getSpec().services.stream().filter(Objects::nonNull).map((ServiceBackend s) -> s.name).forEach(names::add);
    }
    return names;
  }

  @Override
  public UpdateControl<TargetGroup> reconcile(TargetGroup tg, Context<TargetGroup> context) {
    ObjectKey key = KubernetesInputs.key(tg);
    Map<ObjectKey, Service> referenced = new LinkedHashMap<>();
    Map<ObjectKey, List<EndpointSlice>> slicesByService = new LinkedHashMap<>();
    for (String name : servicesOf(tg)) {
      ObjectKey service = new ObjectKey(key.namespace(), name);
      referenced.put(service, services.get(new ResourceID(name, key.namespace())).orElse(null));
      slicesByService.put(service, slices.byIndex(BY_SERVICE, key.namespace() + "/" + name));
    }
    model.putTargetGroup(tg, referenced, slicesByService);
    var compiled = model.read(c -> c.targetGroup(key));
    return StatusAggregator.targetGroup(tg, compiled, model.health(key), Instant.now())
        .map(status -> {
          tg.setStatus(status);
          return UpdateControl.patchStatus(tg);
        })
        .orElseGet(UpdateControl::noUpdate);
  }

  @Override
  public DeleteControl cleanup(TargetGroup tg, Context<TargetGroup> context) {
    model.removeTargetGroup(KubernetesInputs.key(tg));
    return DeleteControl.defaultDelete();
  }

  static ResourceID resourceId(ObjectKey key) {
    return new ResourceID(key.name(), key.namespace());
  }
}
