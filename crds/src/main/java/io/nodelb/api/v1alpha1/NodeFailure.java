package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

public class NodeFailure {
  @JsonPropertyDescription("Node name.")
  public String node;

  @JsonPropertyDescription("Why the node's agent could not program it.")
  public String reason;

  public NodeFailure() {}

  public NodeFailure(String node, String reason) {
    this.node = node;
    this.reason = reason;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof NodeFailure other && Objects.equals(node, other.node) && Objects.equals(reason, other.reason);
  }

  @Override
  public int hashCode() {
    return Objects.hash(node, reason);
  }
}
