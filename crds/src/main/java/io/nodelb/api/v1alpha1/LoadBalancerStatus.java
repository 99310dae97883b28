package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class LoadBalancerStatus {
  @JsonPropertyDescription("Accepted (the spec is valid), ResolvedRefs (every TargetGroup and Service exists), Programmed (the agents applied it), Ready (all of them).")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("How many selected nodes run this LoadBalancer.")
  public NodesStatus nodes;

  @JsonPropertyDescription("The listeners as address:port/protocol, for kubectl get.")
  public String listeners;

  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;
}
