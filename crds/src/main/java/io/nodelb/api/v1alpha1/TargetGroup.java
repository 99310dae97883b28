package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** The backends traffic goes to: static addresses and/or Services resolved through EndpointSlices. */
@Group(LoadBalancer.GROUP)
@Version(LoadBalancer.VERSION)
@ShortNames("tg")
@AdditionalPrinterColumn(name = "Algorithm", jsonPath = ".spec.algorithm", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.endpoints.ready", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Static", jsonPath = ".status.endpoints.static", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Terminating", jsonPath = ".status.endpoints.terminating", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Resolved", jsonPath = ".status.conditions[?(@.type==\"ResolvedRefs\")].status", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class TargetGroup extends CustomResource<TargetGroupSpec, TargetGroupStatus> implements Namespaced {

  @Override
  @JsonPropertyDescription("The backends: static addresses and/or Services, how one is picked, health checks and draining.")
  public TargetGroupSpec getSpec() {
    return super.getSpec();
  }

  @Override
  @JsonPropertyDescription("Resolved endpoints and whether every reference resolves.")
  public TargetGroupStatus getStatus() {
    return super.getStatus();
  }
}
