package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** Drains one backend (a pod, an address:port) or every backend on a node; deleting it undrains. */
@Group(LoadBalancer.GROUP)
@Version(LoadBalancer.VERSION)
@ShortNames("bd")
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Target", jsonPath = ".status.target", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Remaining", jsonPath = ".status.totalRemaining", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Timeout", jsonPath = ".spec.timeout", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class BackendDrain extends CustomResource<BackendDrainSpec, BackendDrainStatus> implements Namespaced {

  @Override
  @JsonPropertyDescription("What to drain (exactly one of pod, backend, node) and for how long.")
  public BackendDrainSpec getSpec() {
    return super.getSpec();
  }

  @Override
  @JsonPropertyDescription("Drain phase, times and connections left per node.")
  public BackendDrainStatus getStatus() {
    return super.getStatus();
  }
}
