package io.nodelb.model.input;

import java.util.Map;

/** What the compiler reads of a Node: its labels (LoadBalancers select by them) and annotations (drain). */
public record NodeInput(String name, Revision revision, Map<String, String> labels, Map<String, String> annotations) {
  public NodeInput {
    labels = labels == null ? Map.of() : Map.copyOf(labels);
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }

  /** A node known by name only: the standalone agent's own. */
  public static NodeInput named(String name) {
    return new NodeInput(name, Revision.NONE, Map.of(), Map.of());
  }
}
