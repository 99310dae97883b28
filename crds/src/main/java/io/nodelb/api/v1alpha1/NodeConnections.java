package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

public class NodeConnections {
  @JsonPropertyDescription("Node name.")
  public String node;

  @JsonPropertyDescription("Live connections to the drained backend(s) on that node.")
  public long connections;

  public NodeConnections() {}

  public NodeConnections(String node, long connections) {
    this.node = node;
    this.connections = connections;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof NodeConnections other && Objects.equals(node, other.node) && connections == other.connections;
  }

  @Override
  public int hashCode() {
    return Objects.hash(node, connections);
  }
}
