package io.nodelb.operator;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The desired snapshot of every node, versioned, and what each node's agent answered. The model
 * publishes here; the snapshot server (gRPC, later) sends {@link #snapshot} to the agent of a node
 * and reports its ACK/NACK through {@link #acknowledge}/{@link #reject}.
 */
public interface SnapshotStore {
  /** Replaces the snapshots of the changed nodes and drops the removed ones. */
  void publish(Map<String, NodeSnapshot> changed, Set<String> removed);

  Optional<NodeSnapshot> snapshot(String node);

  /** Desired version per node. */
  Map<String, String> versions();

  /** The agent of {@code node} applied {@code version}. */
  void acknowledge(String node, String version);

  /** The agent of {@code node} refused {@code version}, saying why. */
  void reject(String node, String version, String error);

  /** What the node's agent says about the node's current desired version. */
  NodeState state(String node);

  /** Called with the node name after every publish, ACK or NACK concerning that node. */
  void addListener(Consumer<String> nodeChanged);

  /** Agent answer about the current desired version of a node. */
  enum Answer {
    /** No answer yet for this version (no agent connected, or still applying). */
    PENDING,
    ACKED,
    NACKED
  }

  record NodeState(String desiredVersion, Answer answer, String error) {}
}
