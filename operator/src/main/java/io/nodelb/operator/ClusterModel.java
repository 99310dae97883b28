package io.nodelb.operator;

import io.nodelb.model.compiler.CompiledGroup;
import io.nodelb.model.compiler.ModelCompiler;
import io.nodelb.model.compiler.ObjectKey;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The operator's single model: reconcilers feed it what they read, it compiles, publishes the
 * changed node snapshots to the {@link SnapshotStore} and tells which LoadBalancers, TargetGroups
 * and BackendDrains now have a different outcome (so their status is recomputed).
 */
public final class ClusterModel {
  private final ModelCompiler compiler = new ModelCompiler();
  private final SnapshotStore store;
  private final Map<Object, Object> outcomes = new HashMap<>();
  private final List<Consumer<Changes>> listeners = new CopyOnWriteArrayList<>();

  /** Objects whose outcome (problems, nodes, counts, drain progress, agent answers) changed. */
  public record Changes(Set<ObjectKey> loadBalancers, Set<ObjectKey> targetGroups, Set<ObjectKey> backendDrains) {
    boolean isEmpty() {
      return loadBalancers.isEmpty() && targetGroups.isEmpty() && backendDrains.isEmpty();
    }
  }

  public ClusterModel(SnapshotStore store) {
    this.store = store;
    store.addListener(node -> {
      // An agent answered: the LoadBalancers on that node may now be Programmed.
      Set<ObjectKey> affected = read(c -> {
        Set<ObjectKey> lbs = new HashSet<>();
        c.loadBalancerKeys().forEach(k -> {
          if (c.nodesOf(k).contains(node)) {
            lbs.add(k);
          }
        });
        return lbs;
      });
      if (!affected.isEmpty()) {
        notifyListeners(new Changes(affected, Set.of(), Set.of()));
      }
    });
  }

  public SnapshotStore store() {
    return store;
  }

  public void addListener(Consumer<Changes> listener) {
    listeners.add(listener);
  }

  /** Applies a change, compiles, publishes and notifies; returns what changed. */
  public Changes update(Consumer<ModelCompiler> change) {
    Changes changes;
    synchronized (this) {
      change.accept(compiler);
      ModelCompiler.Result result = compiler.compile();
      store.publish(result.changed(), result.removedNodes());
      changes = diffOutcomes();
    }
    if (!changes.isEmpty()) {
      notifyListeners(changes);
    }
    return changes;
  }

  /** Reads the compiled model under the lock. */
  public synchronized <T> T read(Function<ModelCompiler, T> reader) {
    return reader.apply(compiler);
  }

  private void notifyListeners(Changes changes) {
    listeners.forEach(l -> l.accept(changes));
  }

  private Changes diffOutcomes() {
    Set<ObjectKey> lbs = new HashSet<>();
    Set<ObjectKey> tgs = new HashSet<>();
    Set<ObjectKey> bds = new HashSet<>();
    Set<Object> seen = new HashSet<>();
    for (ObjectKey key : compiler.loadBalancerKeys()) {
      record LoadBalancerOutcome(ObjectKey key, Object problems, Object nodes, Object versions) {}
      Set<String> nodes = compiler.nodesOf(key);
      Map<String, String> versions = new HashMap<>();
      nodes.forEach(n -> versions.put(n, compiler.snapshot(n) == null ? "" : compiler.snapshot(n).getVersion()));
      track(new LoadBalancerOutcome(key, compiler.problemsOf(key), Set.copyOf(nodes), versions), key, lbs, seen);
    }
    for (ObjectKey key : compiler.targetGroupKeys()) {
      record TargetGroupOutcome(ObjectKey key, Object problems, Object counts) {}
      CompiledGroup group = compiler.targetGroup(key);
      track(new TargetGroupOutcome(key, group == null ? null : group.problems(), group == null ? null : group.counts()),
          key, tgs, seen);
    }
    for (ObjectKey key : compiler.backendDrainKeys()) {
      record DrainOutcome(ObjectKey key, int draining) {}
      track(new DrainOutcome(key, compiler.backendsDrainedBy(key)), key, bds, seen);
    }
    outcomes.keySet().removeIf(k -> !seen.contains(k));
    return new Changes(lbs, tgs, bds);
  }

  private void track(Object outcome, ObjectKey key, Set<ObjectKey> changed, Set<Object> seen) {
    Object identity = List.of(outcome.getClass().getSimpleName(), key);
    seen.add(identity);
    if (!Objects.equals(outcomes.put(identity, outcome), outcome)) {
      changed.add(key);
    }
  }
}
