package io.nodelb.operator;

import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.compiler.SerializedSnapshot;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The leader's snapshot store: desired state lives in memory and is recomputed after a failover;
 * what agents said lives here for the current term only.
 */
public final class InMemorySnapshotStore implements SnapshotStore {
  /** How long after a term begins an agent that has not connected yet counts as pending, not failing. */
  public static final Duration DEFAULT_CONNECT_GRACE = Duration.ofSeconds(60);
  static final String NOT_CONNECTED = "agent not connected";

  private final Map<String, NodeSnapshot> snapshots = new ConcurrentHashMap<>();
  private final Map<String, SerializedSnapshot> serialized = new ConcurrentHashMap<>();
  private final List<NodeListener> listeners = new CopyOnWriteArrayList<>();
  private final List<Consumer<Set<String>>> snapshotListeners = new CopyOnWriteArrayList<>();
  private final Clock clock;
  private final Duration connectGrace;
  // Agent state, guarded by this.
  private final Map<String, String> ackedVersions = new HashMap<>();
  private final Map<String, Rejection> rejections = new HashMap<>();
  private final Map<String, Agent> agents = new HashMap<>();
  private final Map<String, String> emptyVersions = new HashMap<>();
  private Instant termStart;

  private record Rejection(String version, String error) {}

  public InMemorySnapshotStore() {
    this(DEFAULT_CONNECT_GRACE, Clock.systemUTC());
  }

  public InMemorySnapshotStore(Duration connectGrace, Clock clock) {
    this.connectGrace = connectGrace;
    this.clock = clock;
    this.termStart = clock.instant();
  }

  @Override
  public void publish(Map<String, NodeSnapshot> changed, Map<String, SerializedSnapshot> serialized, Set<String> removed) {
    changed.forEach((node, snapshot) -> {
      SerializedSnapshot bytes = serialized.get(node);
      this.serialized.put(node, bytes != null && bytes.version().equals(snapshot.getVersion()) ? bytes
          : SerializedSnapshot.of(snapshot));
    });
    snapshots.putAll(changed);
    removed.forEach(snapshots::remove);
    removed.forEach(this.serialized::remove);
    if (changed.isEmpty() && removed.isEmpty()) {
      return;
    }
    Set<String> nodes = new HashSet<>(changed.keySet());
    nodes.addAll(removed);
    Set<String> view = Set.copyOf(nodes);
    snapshotListeners.forEach(l -> l.accept(view));
  }

  @Override
  public Optional<NodeSnapshot> snapshot(String node) {
    return Optional.ofNullable(snapshots.get(node));
  }

  @Override
  public Optional<SerializedSnapshot> serialized(String node) {
    return Optional.ofNullable(serialized.get(node));
  }

  @Override
  public Map<String, String> versions() {
    Map<String, String> versions = new TreeMap<>();
    snapshots.forEach((node, s) -> versions.put(node, s.getVersion()));
    return versions;
  }

  @Override
  public void acknowledge(String node, String version) {
    synchronized (this) {
      ackedVersions.put(node, version);
      rejections.remove(node);
    }
    notifyListeners(node, Change.ANSWER);
  }

  @Override
  public void reject(String node, String version, String error) {
    synchronized (this) {
      rejections.put(node, new Rejection(version, error));
    }
    notifyListeners(node, Change.ANSWER);
  }

  @Override
  public synchronized NodeState state(String node) {
    NodeSnapshot snapshot = snapshots.get(node);
    String desired = snapshot == null ? emptyVersions.computeIfAbsent(node, n -> SnapshotStore.emptySnapshot(n).getVersion())
        : snapshot.getVersion();
    Agent agent = agents.get(node);
    if (agent == null) {
      Instant graceEnds = termStart.plus(connectGrace);
      return clock.instant().isBefore(graceEnds)
          ? new NodeState(desired, Answer.PENDING, "", graceEnds)
          : new NodeState(desired, Answer.NOT_CONNECTED, NOT_CONNECTED);
    }
    if (!agent.connected()) {
      return new NodeState(desired, Answer.NOT_CONNECTED, NOT_CONNECTED);
    }
    Rejection rejection = rejections.get(node);
    if (rejection != null && rejection.version().equals(desired)) {
      return new NodeState(desired, Answer.NACKED, rejection.error());
    }
    return new NodeState(desired, desired.equals(ackedVersions.get(node)) ? Answer.ACKED : Answer.PENDING, "");
  }

  @Override
  public synchronized Optional<String> ackedVersion(String node) {
    return Optional.ofNullable(ackedVersions.get(node));
  }

  @Override
  public void beginTerm(Instant now) {
    Set<String> forgotten;
    synchronized (this) {
      termStart = now;
      forgotten = new HashSet<>(agents.keySet());
      forgotten.addAll(ackedVersions.keySet());
      forgotten.addAll(rejections.keySet());
      agents.clear();
      ackedVersions.clear();
      rejections.clear();
    }
    forgotten.forEach(node -> notifyListeners(node, Change.CONNECTION));
  }

  @Override
  public void agentConnected(String node, String agentVersion, Instant at) {
    synchronized (this) {
      // A new stream starts from its Hello: answers and reports of an older stream no longer describe the node.
      agents.put(node, new Agent(true, agentVersion, at, null, null, null, null));
      ackedVersions.remove(node);
      rejections.remove(node);
    }
    notifyListeners(node, Change.CONNECTION);
  }

  @Override
  public void agentDisconnected(String node, String reason, Instant at) {
    synchronized (this) {
      Agent before = agents.get(node);
      if (before == null || !before.connected()) {
        return;
      }
      agents.put(node, new Agent(false, before.agentVersion(), before.connectedAt(), at, reason,
          before.lastReportAt(), before.lastReport()));
    }
    notifyListeners(node, Change.CONNECTION);
  }

  @Override
  public void report(String node, NodeReport report, Instant at) {
    boolean changed;
    synchronized (this) {
      Agent before = agents.get(node);
      if (before == null) {
        return; // only a connected agent reports
      }
      changed = !Objects.equals(before.lastReport(), report);
      agents.put(node, new Agent(before.connected(), before.agentVersion(), before.connectedAt(),
          before.disconnectedAt(), before.disconnectReason(), at, report));
    }
    if (changed) {
      notifyListeners(node, Change.REPORT);
    }
  }

  @Override
  public synchronized Optional<Agent> agent(String node) {
    return Optional.ofNullable(agents.get(node));
  }

  @Override
  public void addListener(NodeListener listener) {
    listeners.add(listener);
  }

  @Override
  public void addSnapshotListener(Consumer<Set<String>> changedNodes) {
    snapshotListeners.add(changedNodes);
  }

  private void notifyListeners(String node, Change change) {
    listeners.forEach(l -> l.changed(node, change));
  }
}
