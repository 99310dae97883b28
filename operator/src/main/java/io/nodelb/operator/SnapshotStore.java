package io.nodelb.operator;

import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.compiler.SerializedSnapshot;
import io.nodelb.model.compiler.Snapshots;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The desired snapshot of every node, versioned, and what each node's agent says: its connection,
 * its ACK/NACK of the current version and its last report. The model publishes here; the snapshot
 * server sends {@link #snapshot} to the agent of a node and records what the agent answers. It is
 * the leader's memory: a new term ({@link #beginTerm}) forgets the agents.
 */
public interface SnapshotStore {
  /**
   * Replaces the snapshots of the changed nodes, drops the removed ones and tells the snapshot
   * listeners. {@code serialized} has the same snapshots as their part bytes where the caller has
   * them (the model compiler does); the others are serialized here.
   */
  void publish(Map<String, NodeSnapshot> changed, Map<String, SerializedSnapshot> serialized, Set<String> removed);

  /** {@link #publish(Map, Map, Set)} with every snapshot serialized here. */
  default void publish(Map<String, NodeSnapshot> changed, Set<String> removed) {
    publish(changed, Map.of(), removed);
  }

  Optional<NodeSnapshot> snapshot(String node);

  /** The node's snapshot as its bytes: what its agent is sent. Present whenever {@link #snapshot} is. */
  Optional<SerializedSnapshot> serialized(String node);

  /**
   * What a node the model does not know runs: nothing. Its agent gets this (so it clears listeners
   * it may have had), and its ACK counts against this version.
   */
  static NodeSnapshot emptySnapshot(String node) {
    return Snapshots.withVersion(NodeSnapshot.newBuilder().setNode(node).build());
  }

  /** Desired version per node. */
  Map<String, String> versions();

  /** The agent of {@code node} applied {@code version}. */
  void acknowledge(String node, String version);

  /** The agent of {@code node} refused {@code version}, saying why. */
  void reject(String node, String version, String error);

  /** What the node's agent says about the node's current desired version. */
  NodeState state(String node);

  /** The version the node's agent last ACKed in this term (on its current stream), if any. */
  Optional<String> ackedVersion(String node);

  /**
   * This replica starts serving agents as the leader: connections, answers and reports of an
   * earlier term are forgotten (another leader may have sent other versions meanwhile), and agents
   * get the connect grace from {@code now} before a node without one counts as not connected.
   */
  void beginTerm(Instant now);

  /** The node's agent opened a stream (a newer stream of the same node replaces the older). */
  void agentConnected(String node, String agentVersion, Instant at);

  /** The node's agent stream ended. */
  void agentDisconnected(String node, String reason, Instant at);

  /** The node's agent reported; listeners hear of it only when the report differs from the last one. */
  void report(String node, NodeReport report, Instant at);

  /** What is known about the node's agent in this term. */
  Optional<Agent> agent(String node);

  /** Called after an agent's answer, connection or (changed) report. */
  void addListener(NodeListener listener);

  /** Called with the nodes whose desired snapshot changed (or went away) after each {@link #publish}. */
  void addSnapshotListener(Consumer<Set<String>> changedNodes);

  /** What changed about a node's agent. */
  enum Change {
    /** ACK or NACK: the node's programmed state. */
    ANSWER,
    /** Connected or disconnected: both the programmed state and whether its reports count. */
    CONNECTION,
    /** A report that differs from the previous one: drain progress. */
    REPORT
  }

  @FunctionalInterface
  interface NodeListener {
    void changed(String node, Change change);
  }

  /** Agent answer about the current desired version of a node. */
  enum Answer {
    /** No answer yet for this version (the agent is applying it, or has not connected yet within the grace). */
    PENDING,
    ACKED,
    NACKED,
    /** No agent stream for the node: it may keep running an older version, nobody knows. */
    NOT_CONNECTED
  }

  /**
   * @param graceEnds while an agent that never connected counts as PENDING, when that ends (then it
   *     is NOT_CONNECTED); null otherwise
   */
  record NodeState(String desiredVersion, Answer answer, String error, Instant graceEnds) {
    public NodeState(String desiredVersion, Answer answer, String error) {
      this(desiredVersion, answer, error, null);
    }
  }

  /**
   * A node's agent as seen in this term.
   *
   * @param connected whether its stream is open now
   * @param agentVersion the agent's build, from its Hello
   * @param connectedAt when its (last) stream opened
   * @param disconnectedAt when its last stream ended, null while connected
   * @param disconnectReason why it ended
   * @param lastReportAt when it last reported, null if never
   * @param lastReport its last report, null if none
   */
  record Agent(boolean connected, String agentVersion, Instant connectedAt, Instant disconnectedAt,
      String disconnectReason, Instant lastReportAt, NodeReport lastReport) {}
}
