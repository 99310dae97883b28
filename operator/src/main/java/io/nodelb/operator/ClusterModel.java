package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.dataplane.v1alpha1.BackendFlows;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.compiler.BackendAddress;
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
import java.util.function.Supplier;

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
  /** Per LoadBalancer and per BackendDrain: uid and generation as fed. */
  private final Map<ObjectKey, String> fedLoadBalancers = new HashMap<>();
  private final Map<ObjectKey, String> fedDrains = new HashMap<>();
  // What the informers hold, for warm(); set once the reconcilers prepared their event sources.
  private volatile Supplier<List<LoadBalancer>> loadBalancerCache;
  private volatile Supplier<List<BackendDrain>> drainCache;
  private volatile ClusterView clusterCache;

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
    store.addListener((node, change) -> {
      // An agent answered or came or went: the LoadBalancers on that node may now be Programmed (or not).
      // It reported or came or went: the drains whose backends it carries may have progressed.
      boolean lbs = change != SnapshotStore.Change.REPORT;
      boolean drains = change != SnapshotStore.Change.ANSWER;
      Changes affected = read(c -> {
        Set<ObjectKey> onNode = new HashSet<>();
        if (lbs) {
          c.loadBalancerKeys().forEach(k -> {
            if (c.nodesOf(k).contains(node)) {
              onNode.add(k);
            }
          });
        }
        Set<ObjectKey> drainsOnNode = new HashSet<>();
        if (drains) {
          c.backendDrainKeys().forEach(k -> {
            if (c.drainedBackendsByNode(k).containsKey(node)) {
              drainsOnNode.add(k);
            }
          });
        }
        return new Changes(onNode, Set.of(), drainsOnNode);
      });
      if (!affected.isEmpty()) {
        notifyListeners(affected);
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

  /** Feeds a LoadBalancer with the current Nodes and remembers its version for {@link #warm}. */
  public Changes putLoadBalancer(LoadBalancer lb, List<Node> nodes) {
    return update(compiler -> {
      compiler.replaceNodes(nodes);
      compiler.putLoadBalancer(lb);
      fedLoadBalancers.put(ObjectKey.of(lb), version(lb));
    });
  }

  public Changes removeLoadBalancer(ObjectKey key) {
    return update(compiler -> {
      compiler.removeLoadBalancer(key);
      fedLoadBalancers.remove(key);
    });
  }

  public Changes putBackendDrain(BackendDrain drain) {
    return update(compiler -> {
      compiler.putBackendDrain(drain);
      fedDrains.put(ObjectKey.of(drain), version(drain));
    });
  }

  public Changes removeBackendDrain(ObjectKey key) {
    return update(compiler -> {
      compiler.removeBackendDrain(key);
      fedDrains.remove(key);
    });
  }

  /** The LoadBalancer reconciler's cache, for {@link #warm}. */
  public void observeLoadBalancers(Supplier<List<LoadBalancer>> cache) {
    loadBalancerCache = cache;
  }

  /** The BackendDrain reconciler's cache and its view of the groups, Services and slices, for {@link #warm}. */
  public void observeDrainsAndCluster(Supplier<List<BackendDrain>> drains, ClusterView cluster) {
    drainCache = drains;
    clusterCache = cluster;
  }

  /**
   * Whether the snapshots may be served: every LoadBalancer, BackendDrain and TargetGroup the
   * informers hold (except those being deleted) was fed at its generation, and every Service those
   * groups name was fed (slices at any version: a later slice change is an ordinary update). Until
   * then a snapshot may lack listeners or backends the cluster has, and an agent that applied it
   * would drop traffic: right after a start or failover the model is built from nothing.
   */
  public synchronized boolean warm() {
    Supplier<List<LoadBalancer>> lbs = loadBalancerCache;
    Supplier<List<BackendDrain>> drains = drainCache;
    ClusterView cluster = clusterCache;
    if (lbs == null || drains == null || cluster == null) {
      return false;
    }
    for (LoadBalancer lb : lbs.get()) {
      if (lb.getMetadata().getDeletionTimestamp() == null
          && !version(lb).equals(fedLoadBalancers.get(ObjectKey.of(lb)))) {
        return false;
      }
    }
    for (BackendDrain drain : drains.get()) {
      if (drain.getMetadata().getDeletionTimestamp() == null
          && !version(drain).equals(fedDrains.get(ObjectKey.of(drain)))) {
        return false;
      }
    }
    for (TargetGroup tg : cluster.targetGroups()) {
      if (tg.getMetadata().getDeletionTimestamp() != null) {
        continue;
      }
      ObjectKey key = ObjectKey.of(tg);
      if (!groupVersion(tg).equals(fedGroups.get(key))) {
        return false;
      }
      for (String name : TargetGroupReconciler.servicesOf(tg)) {
        if (!fedServices.containsKey(new ObjectKey(key.namespace(), name))) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * What the nodes that carry a drain's backends report: per node whose connected agent reported on
   * the node's current desired version, the live flows to those backends (a backend the report does
   * not list has none); the other nodes as unreported.
   */
  public DrainProgress.NodeCounts nodeCounts(ObjectKey drain) {
    Map<String, Set<BackendAddress>> byNode = read(c -> c.drainedBackendsByNode(drain));
    Map<String, Long> reported = new HashMap<>();
    Set<String> unreported = new HashSet<>();
    byNode.forEach((node, backends) -> {
      String desired = store.snapshot(node).map(NodeSnapshot::getVersion).orElse("");
      NodeReport report = store.agent(node).filter(SnapshotStore.Agent::connected)
          .map(SnapshotStore.Agent::lastReport).orElse(null);
      if (report == null || desired.isEmpty() || !desired.equals(report.getAppliedVersion())) {
        unreported.add(node);
        return;
      }
      long flows = 0;
      for (BackendFlows f : report.getBackendFlowsList()) {
        if (backends.contains(new BackendAddress(f.getAddress(), f.getPort()))) {
          flows += f.getFlows();
        }
      }
      reported.put(node, flows);
    });
    return new DrainProgress.NodeCounts(reported, unreported);
  }

  private static String version(HasMetadata object) {
    return object.getMetadata().getUid() + "/" + object.getMetadata().getGeneration();
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
      record DrainOutcome(ObjectKey key, int draining, Object byNode) {}
      track(new DrainOutcome(key, compiler.backendsDrainedBy(key), compiler.drainedBackendsByNode(key)), key, bds, seen);
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
