package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.model.compiler.CompiledGroup;
import io.nodelb.model.compiler.ModelCompiler;
import io.nodelb.model.compiler.ObjectKey;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The operator's single model: reconcilers feed it what they read, it compiles, publishes the
 * changed node snapshots to the {@link SnapshotStore} and tells which LoadBalancers, TargetGroups
 * and BackendDrains now have a different outcome (so their status is recomputed).
 *
 * <p>It also remembers which version of each TargetGroup, and of the Services and EndpointSlices
 * those name, it was fed, so a BackendDrain can tell whether the model already reflects the cluster
 * ({@link #reflects}) before it concludes that nothing is left to drain.
 */
public final class ClusterModel {
  private final ModelCompiler compiler = new ModelCompiler();
  private final SnapshotStore store;
  private final Map<Object, Object> outcomes = new HashMap<>();
  private final List<Consumer<Changes>> listeners = new CopyOnWriteArrayList<>();
  /** Per TargetGroup: its uid and generation as fed (status patches do not change them). */
  private final Map<ObjectKey, String> fedGroups = new HashMap<>();
  /** Per Service a TargetGroup names: its resourceVersion as fed, {@link #ABSENT} if it was missing. */
  private final Map<ObjectKey, String> fedServices = new HashMap<>();
  /** Per Service a TargetGroup names: the resourceVersion of each of its EndpointSlices as fed, by slice name. */
  private final Map<ObjectKey, Map<String, String>> fedSlices = new HashMap<>();
  private static final String ABSENT = "";

  /**
   * The cluster as the caller's informers see it now: the objects that decide which backends exist.
   * (Pods and Nodes do not: pod and node drains match the EndpointSlices' targetRef and nodeName.)
   */
  public interface ClusterView {
    List<TargetGroup> targetGroups();

    Optional<Service> service(ObjectKey key);

    List<EndpointSlice> slicesOf(ObjectKey service);
  }

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

  /**
   * Feeds a TargetGroup with the Services it names (null: missing) and their EndpointSlices, and
   * remembers their versions for {@link #reflects}.
   */
  public Changes putTargetGroup(TargetGroup tg, Map<ObjectKey, Service> services,
      Map<ObjectKey, List<EndpointSlice>> slicesByService) {
    return update(compiler -> {
      services.forEach((serviceKey, service) -> {
        if (service == null) {
          compiler.removeService(serviceKey);
        } else {
          compiler.putService(service);
        }
        List<EndpointSlice> slices = slicesByService.getOrDefault(serviceKey, List.of());
        compiler.replaceEndpointSlices(serviceKey, slices);
        fedServices.put(serviceKey, service == null ? ABSENT : service.getMetadata().getResourceVersion());
        fedSlices.put(serviceKey, sliceVersions(slices));
      });
      compiler.putTargetGroup(tg);
      fedGroups.put(ObjectKey.of(tg), groupVersion(tg));
    });
  }

  public Changes removeTargetGroup(ObjectKey key) {
    return update(compiler -> {
      compiler.removeTargetGroup(key);
      fedGroups.remove(key);
    });
  }

  /**
   * Whether the model was fed exactly what {@code cluster} holds: every TargetGroup (except those
   * being deleted) at its generation, and each Service it names and that Service's EndpointSlices
   * at their resourceVersions. Until then a count of drained backends may be short of the truth.
   */
  public synchronized boolean reflects(ClusterView cluster) {
    for (TargetGroup tg : cluster.targetGroups()) {
      if (tg.getMetadata().getDeletionTimestamp() != null) {
        continue; // on its way out of the model
      }
      ObjectKey key = ObjectKey.of(tg);
      if (!groupVersion(tg).equals(fedGroups.get(key))) {
        return false;
      }
      for (String name : TargetGroupReconciler.servicesOf(tg)) {
        ObjectKey service = new ObjectKey(key.namespace(), name);
        String version = cluster.service(service).map(s -> s.getMetadata().getResourceVersion()).orElse(ABSENT);
        if (!version.equals(fedServices.get(service))
            || !sliceVersions(cluster.slicesOf(service)).equals(fedSlices.get(service))) {
          return false;
        }
      }
    }
    return true;
  }

  private static String groupVersion(TargetGroup tg) {
    return tg.getMetadata().getUid() + "/" + tg.getMetadata().getGeneration();
  }

  private static Map<String, String> sliceVersions(List<EndpointSlice> slices) {
    Map<String, String> versions = new HashMap<>();
    slices.forEach(s -> versions.put(s.getMetadata().getName(), s.getMetadata().getResourceVersion()));
    return versions;
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
