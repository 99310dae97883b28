package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** Where and how traffic enters: listeners on the interfaces of the selected nodes. */
@Group(LoadBalancer.GROUP)
@Version(LoadBalancer.VERSION)
@ShortNames("lb")
@AdditionalPrinterColumn(name = "NAT", jsonPath = ".spec.natMode", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Listeners", jsonPath = ".status.listeners", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.conditions[?(@.type==\"Ready\")].status", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Programmed", jsonPath = ".status.nodes.programmed", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Desired", jsonPath = ".status.nodes.desired", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class LoadBalancer extends CustomResource<LoadBalancerSpec, LoadBalancerStatus> implements Namespaced {
  public static final String GROUP = "nodelb.io";
  public static final String VERSION = "v1alpha1";

  @Override
  @JsonPropertyDescription("Where and how traffic enters: nodes, interfaces, listeners and NAT mode.")
  public LoadBalancerSpec getSpec() {
    return super.getSpec();
  }

  @Override
  @JsonPropertyDescription("What the operator and the node agents report.")
  public LoadBalancerStatus getStatus() {
    return super.getStatus();
  }
}
