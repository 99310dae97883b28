package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class TargetGroupStatus {
  @JsonPropertyDescription("Accepted (the spec is valid) and ResolvedRefs (every Service exists and has the port).")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("Backends resolved from the Services' EndpointSlices and the static list.")
  public EndpointCounts endpoints;

  @JsonPropertyDescription("Per backend, what the nodes' agents report of it (healthCheck, circuitBreaker); empty"
      + " without either.")
  public List<BackendHealthStatus> backends;

  @JsonPropertyDescription("Nodes where every backend of the group is out: they keep its configured weights (fail open).")
  public List<String> failingOpenOn;

  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;
}
