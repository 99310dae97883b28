package io.nodelb.model.input;

import io.nodelb.model.compiler.ObjectKey;
import java.util.List;

/** What the compiler reads of a Service: its ports, which TargetGroups name by number or name. */
public record ServiceInput(ObjectKey key, Revision revision, List<Port> ports) {
  /** A Service port: name (may be empty), port number and protocol (null: TCP). */
  public record Port(String name, Integer port, String protocol) {}

  public ServiceInput {
    ports = ports == null ? List.of() : List.copyOf(ports);
  }
}
