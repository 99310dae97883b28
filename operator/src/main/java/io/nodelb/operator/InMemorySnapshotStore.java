package io.nodelb.operator;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** The leader's snapshot store: desired state lives in memory and is recomputed after a failover. */
public final class InMemorySnapshotStore implements SnapshotStore {
  private final Map<String, NodeSnapshot> snapshots = new ConcurrentHashMap<>();
  private final Map<String, String> ackedVersions = new ConcurrentHashMap<>();
  private final Map<String, Rejection> rejections = new ConcurrentHashMap<>();
  private final List<Consumer<String>> listeners = new CopyOnWriteArrayList<>();

  private record Rejection(String version, String error) {}

  @Override
  public void publish(Map<String, NodeSnapshot> changed, Set<String> removed) {
    snapshots.putAll(changed);
    removed.forEach(snapshots::remove);
    changed.keySet().forEach(this::notifyListeners);
    removed.forEach(this::notifyListeners);
  }

  @Override
  public Optional<NodeSnapshot> snapshot(String node) {
    return Optional.ofNullable(snapshots.get(node));
  }

  @Override
  public Map<String, String> versions() {
    Map<String, String> versions = new TreeMap<>();
    snapshots.forEach((node, s) -> versions.put(node, s.getVersion()));
    return versions;
  }

  @Override
  public void acknowledge(String node, String version) {
    ackedVersions.put(node, version);
    rejections.remove(node);
    notifyListeners(node);
  }

  @Override
  public void reject(String node, String version, String error) {
    rejections.put(node, new Rejection(version, error));
    notifyListeners(node);
  }

  @Override
  public NodeState state(String node) {
    NodeSnapshot snapshot = snapshots.get(node);
    String desired = snapshot == null ? "" : snapshot.getVersion();
    Rejection rejection = rejections.get(node);
    if (rejection != null && rejection.version().equals(desired)) {
      return new NodeState(desired, Answer.NACKED, rejection.error());
    }
    return new NodeState(desired, desired.equals(ackedVersions.get(node)) ? Answer.ACKED : Answer.PENDING, "");
  }

  @Override
  public void addListener(Consumer<String> nodeChanged) {
    listeners.add(nodeChanged);
  }

  private void notifyListeners(String node) {
    listeners.forEach(l -> l.accept(node));
  }
}
