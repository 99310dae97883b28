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

  @JsonPropertyDescription("Live connections to the drained backend(s) left per node, as each node's agent last reported them for its current snapshot.")
  public List<NodeConnections> remaining = new ArrayList<>();

  @JsonPropertyDescription("Live connections to the drained backend(s) left on all reporting nodes together.")
  public Long totalRemaining;

  @JsonPropertyDescription("Nodes that carry the drained backend(s) but whose agent has not reported on its current snapshot (not connected, or still applying it); the drain cannot finish as Drained before they do.")
  public List<String> unreportedNodes = new ArrayList<>();

  @JsonPropertyDescription("Complete: True when the drain ended, with the reason and a message; False while waiting.")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;
}
