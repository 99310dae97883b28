package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class NodesStatus {
  @JsonPropertyDescription("Nodes selected by nodeSelector.")
  public int desired;

  @JsonPropertyDescription("Selected nodes whose agent acknowledged the current snapshot.")
  public int programmed;

  @JsonPropertyDescription("Selected nodes whose agent refused the snapshot, with the agent's reason.")
  public List<NodeFailure> failing = new ArrayList<>();

  @Override
  public boolean equals(Object o) {
    return o instanceof NodesStatus other
        && desired == other.desired && programmed == other.programmed && Objects.equals(failing, other.failing);
  }

  @Override
  public int hashCode() {
    return Objects.hash(desired, programmed, failing);
  }
}
