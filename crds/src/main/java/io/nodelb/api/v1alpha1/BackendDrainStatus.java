package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class BackendDrainStatus {
  @JsonPropertyDescription("Draining, Drained, TimedOut or Cancelled.")
  public DrainPhase phase;

  @JsonPropertyDescription("What is drained, e.g. pod/web-1, backend/10.0.0.5:8080, node/worker-2.")
  public String target;

  @JsonPropertyDescription("When draining started (RFC 3339).")
  public String startTime;

  @JsonPropertyDescription("When the drain ended: Drained, TimedOut or Cancelled (RFC 3339).")
  public String finishTime;

  @JsonPropertyDescription("Live connections left per node, as the agents report them.")
  public List<NodeConnections> remaining = new ArrayList<>();

  @JsonPropertyDescription("Complete: True when the drain ended, with the reason and a message; False while waiting.")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;
}
