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
import io.nodelb.model.compiler.SerializedSnapshot;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
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
  // Last outcome per object, to tell which changed; only objects a compile touched are looked at again.
  private final Map<ObjectKey, Object> loadBalancerOutcomes = new HashMap<>();
  private final Map<ObjectKey, Object> targetGroupOutcomes = new HashMap<>();
  private final Map<ObjectKey, Object> drainOutcomes = new HashMap<>();
  /**
   * Which snapshot versions carry a LoadBalancer's current configuration. Every update has a
   * sequence number; a LoadBalancer remembers the number of the update that last changed its part of
   * the snapshots ({@link #programmedAt}), each node the number of the latest update that published
   * (or re-confirmed) each of its recent versions ({@link #versionSeqs}). A node's agent runs a
   * LoadBalancer's current configuration when the version it ACKed is at least that recent.
   */
  private long seq;
  private final Map<ObjectKey, Long> programmedAt = new HashMap<>();
  private final Map<String, LinkedHashMap<String, Long>> versionSeqs = new HashMap<>();
  /** Versions remembered per node: an agent ACKs one of the last few it was sent. */
  static final int VERSIONS_KEPT = 64;
  /** Per node: its ACKed sequence number when the LoadBalancers on it were last told of an answer. */
  private final Map<String, Long> answeredSeq = new HashMap<>();
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
      // An agent answered: the LoadBalancers on that node that waited for it may now be Programmed (or
      // failing); the others already run on it. It came or went: every LoadBalancer on it. It reported
      // or came or went: the drains whose backends it carries may have progressed.
      boolean drains = change != SnapshotStore.Change.ANSWER;
      Changes affected = read(c -> {
        Set<ObjectKey> onNode = new HashSet<>();
        if (change == SnapshotStore.Change.CONNECTION) {
          onNode.addAll(c.loadBalancersOn(node));
          answeredSeq.put(node, -1L);
        } else if (change == SnapshotStore.Change.ANSWER) {
          long before = answeredSeq.getOrDefault(node, -1L);
          for (ObjectKey lb : c.loadBalancersOn(node)) {
            if (programmedAt.getOrDefault(lb, Long.MAX_VALUE) > before) {
              onNode.add(lb);
            }
          }
          answeredSeq.put(node, ackedSeq(node));
        }
        Set<ObjectKey> drainsOnNode = new HashSet<>();
        if (drains) {
          c.backendDrainKeys().forEach(k -> {
            if (c.drainedBackendsByNode(k).containsKey(node)) {
              drainsOnNode.add(k);
            }
          });
        }
        // A report (or a node coming or going) may change what the TargetGroups it checks show.
        Set<ObjectKey> checkedGroups = change == SnapshotStore.Change.ANSWER ? Set.of() : groupsReportedBy(node);
        return new Changes(onNode, checkedGroups, drainsOnNode);
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
      seq++;
      stampVersions(result);
      Map<String, SerializedSnapshot> serialized = new HashMap<>();
      result.changed().keySet().forEach(node -> serialized.put(node, compiler.serializedParts(node)));
      store.publish(result.changed(), serialized, result.removedNodes());
      changes = diffOutcomes(result);
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
          compiler.putService(KubernetesInputs.of(service));
        }
        List<EndpointSlice> slices = slicesByService.getOrDefault(serviceKey, List.of());
        compiler.replaceEndpointSlices(serviceKey, KubernetesInputs.slices(slices));
        fedServices.put(serviceKey, service == null ? ABSENT : service.getMetadata().getResourceVersion());
        fedSlices.put(serviceKey, sliceVersions(slices));
      });
      compiler.putTargetGroup(KubernetesInputs.of(tg));
      fedGroups.put(KubernetesInputs.key(tg), groupVersion(tg));
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
      compiler.replaceNodes(KubernetesInputs.nodes(nodes));
      compiler.putLoadBalancer(KubernetesInputs.of(lb));
      fedLoadBalancers.put(KubernetesInputs.key(lb), version(lb));
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
      compiler.putBackendDrain(KubernetesInputs.of(drain));
      fedDrains.put(KubernetesInputs.key(drain), version(drain));
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

  /** The LoadBalancers the informer holds now (none before the reconciler started: a follower's is empty). */
  public List<LoadBalancer> cachedLoadBalancers() {
    Supplier<List<LoadBalancer>> cache = loadBalancerCache;
    return cache == null ? List.of() : cache.get();
  }

  /** The BackendDrains the informer holds now. */
  public List<BackendDrain> cachedDrains() {
    Supplier<List<BackendDrain>> cache = drainCache;
    return cache == null ? List.of() : cache.get();
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
          && !version(lb).equals(fedLoadBalancers.get(KubernetesInputs.key(lb)))) {
        return false;
      }
    }
    for (BackendDrain drain : drains.get()) {
      if (drain.getMetadata().getDeletionTimestamp() == null
          && !version(drain).equals(fedDrains.get(KubernetesInputs.key(drain)))) {
        return false;
      }
    }
    for (TargetGroup tg : cluster.targetGroups()) {
      if (tg.getMetadata().getDeletionTimestamp() != null) {
        continue;
      }
      ObjectKey key = KubernetesInputs.key(tg);
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

  /** The TargetGroups the node's last report (connected or not) says anything of. */
  private Set<ObjectKey> groupsReportedBy(String node) {
    Set<ObjectKey> groups = new HashSet<>();
    store.agent(node).map(SnapshotStore.Agent::lastReport).ifPresent(report -> {
      report.getHealthList().forEach(h -> groupKey(h.getTargetGroup()).ifPresent(groups::add));
      report.getFailOpenGroupsList().forEach(g -> groupKey(g).ifPresent(groups::add));
    });
    return groups;
  }

  private static java.util.Optional<ObjectKey> groupKey(String name) {
    int slash = name.indexOf('/');
    return slash <= 0 ? java.util.Optional.empty()
        : java.util.Optional.of(new ObjectKey(name.substring(0, slash), name.substring(slash + 1)));
  }

  /**
   * What the connected agents report of {@code group}'s backends: per backend, on how many nodes it is
   * healthy, unhealthy or has its breaker open (with the first unhealthy node's reason); and the
   * nodes where the group fails open. Nodes are taken in name order.
   */
  public GroupHealth health(ObjectKey group) {
    String name = group.namespace() + "/" + group.name();
    Map<String, io.nodelb.api.v1alpha1.BackendHealthStatus> backends = new java.util.TreeMap<>();
    List<String> failingOpen = new java.util.ArrayList<>();
    for (String node : new java.util.TreeSet<>(store.versions().keySet())) {
      NodeReport report = store.agent(node).filter(SnapshotStore.Agent::connected)
          .map(SnapshotStore.Agent::lastReport).orElse(null);
      if (report == null) {
        continue;
      }
      if (report.getFailOpenGroupsList().contains(name)) {
        failingOpen.add(node);
      }
      for (var h : report.getHealthList()) {
        if (!h.getTargetGroup().equals(name)) {
          continue;
        }
        String address;
        try {
          address = io.nodelb.model.input.IpLiterals.format(
              java.net.InetAddress.getByAddress(h.getAddress().toByteArray()));
        } catch (java.net.UnknownHostException e) {
          continue;
        }
        var b = backends.computeIfAbsent(address + " " + h.getPort(), k -> {
          var status = new io.nodelb.api.v1alpha1.BackendHealthStatus();
          status.address = address;
          status.port = h.getPort();
          return status;
        });
        if (h.getHealthy()) {
          b.healthyNodes++;
        } else {
          b.unhealthyNodes++;
          if (b.message == null) {
            b.message = node + ": " + h.getReason();
          }
        }
        if (h.getBreaker() == io.nodelb.dataplane.v1alpha1.BreakerState.BREAKER_OPEN
            || h.getBreaker() == io.nodelb.dataplane.v1alpha1.BreakerState.BREAKER_HALF_OPEN) {
          b.breakerOpenNodes++;
        }
      }
    }
    return new GroupHealth(List.copyOf(backends.values()), List.copyOf(failingOpen));
  }

  /** See {@link #health}. */
  public record GroupHealth(List<io.nodelb.api.v1alpha1.BackendHealthStatus> backends, List<String> failingOpen) {
    public static final GroupHealth NONE = new GroupHealth(List.of(), List.of());
  }

  /**
   * What the agent of {@code node} says about {@code loadBalancer}'s current configuration: ACKED
   * when the version it ACKed carries it, even if the node's newest version (changed for other
   * LoadBalancers) is not ACKed yet or was refused; otherwise the node's answer (PENDING, NACKED,
   * NOT_CONNECTED).
   */
  public synchronized SnapshotStore.NodeState answerOn(ObjectKey loadBalancer, String node) {
    SnapshotStore.NodeState state = store.state(node);
    if (state.answer() == SnapshotStore.Answer.ACKED || state.answer() == SnapshotStore.Answer.NOT_CONNECTED) {
      return state;
    }
    if (ackedSeq(node) >= programmedAt.getOrDefault(loadBalancer, Long.MAX_VALUE)) {
      return new SnapshotStore.NodeState(state.desiredVersion(), SnapshotStore.Answer.ACKED, "");
    }
    return state;
  }

  /** The sequence number of the version the node's agent ACKed (see {@link #seq}); -1 if none or forgotten. */
  private long ackedSeq(String node) {
    String acked = store.ackedVersion(node).orElse(null);
    Long at = acked == null ? null : versionSeqs.getOrDefault(node, new LinkedHashMap<>()).get(acked);
    return at == null ? -1 : at;
  }

  /**
   * After a compile: each published version, and the current version of every node of a
   * LoadBalancer whose part changed (even when the node's version stayed: then that version carries
   * the change too), is stamped with this update's number; those LoadBalancers are too.
   */
  private void stampVersions(ModelCompiler.Result result) {
    result.changed().forEach((node, snapshot) -> stamp(node, snapshot.getVersion()));
    for (ObjectKey lb : result.reprogrammedLoadBalancers()) {
      if (compiler.loadBalancer(lb) == null) {
        programmedAt.remove(lb);
        continue;
      }
      programmedAt.put(lb, seq);
      for (String node : compiler.nodesOf(lb)) {
        NodeSnapshot snapshot = compiler.snapshot(node);
        if (snapshot != null) {
          stamp(node, snapshot.getVersion());
        }
      }
    }
    result.removedNodes().forEach(versionSeqs::remove);
  }

  private void stamp(String node, String version) {
    LinkedHashMap<String, Long> versions = versionSeqs.computeIfAbsent(node, n -> new LinkedHashMap<>());
    versions.remove(version); // to the end: the newest is kept longest
    versions.put(version, seq);
    if (versions.size() > VERSIONS_KEPT) {
      versions.remove(versions.keySet().iterator().next());
    }
  }

  private static String version(HasMetadata object) {
    return object.getMetadata().getUid() + "/" + object.getMetadata().getGeneration();
  }

  /**
   * Whether the model was fed exactly what {@code cluster} holds: every TargetGroup (except those
   * being deleted) at its generation, and each Service it names and that Service's EndpointSlices
   * at their resourceVersions; and every LoadBalancer of the LoadBalancer reconciler's cache at its
   * generation (they decide which nodes carry the backends: a drain must not find "no node carries
   * them" while a LoadBalancer that uses them is still on its way in). Until then a count of drained
   * backends, or of the nodes that must report, may be short of the truth.
   */
  public synchronized boolean reflects(ClusterView cluster) {
    Supplier<List<LoadBalancer>> lbs = loadBalancerCache;
    if (lbs != null) {
      for (LoadBalancer lb : lbs.get()) {
        if (lb.getMetadata().getDeletionTimestamp() == null
            && !version(lb).equals(fedLoadBalancers.get(KubernetesInputs.key(lb)))) {
          return false;
        }
      }
    }
    for (TargetGroup tg : cluster.targetGroups()) {
      if (tg.getMetadata().getDeletionTimestamp() != null) {
        continue; // on its way out of the model
      }
      ObjectKey key = KubernetesInputs.key(tg);
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

  /**
   * Which objects' outcome changed in this compile. Only what it touched is looked at: the groups it
   * compiled, the LoadBalancers it reprogrammed or whose groups it compiled, and the drains when
   * anything was touched (drains are few). A LoadBalancer's outcome is its problems, its nodes and
   * {@link #programmedAt}, not its nodes' versions: another LoadBalancer's change on the same node
   * does not concern it (see {@link #answerOn}).
   */
  private Changes diffOutcomes(ModelCompiler.Result result) {
    Set<ObjectKey> lbs = new HashSet<>();
    Set<ObjectKey> tgs = new HashSet<>();
    Set<ObjectKey> bds = new HashSet<>();
    record TargetGroupOutcome(Object problems, Object counts) {}
    for (ObjectKey key : result.recompiledGroups()) {
      CompiledGroup group = compiler.targetGroup(key);
      track(targetGroupOutcomes, key, group == null ? null : new TargetGroupOutcome(group.problems(), group.counts()), tgs);
    }
    Set<ObjectKey> loadBalancers = new HashSet<>(result.reprogrammedLoadBalancers());
    result.recompiledGroups().forEach(g -> loadBalancers.addAll(compiler.loadBalancersUsing(g)));
    record LoadBalancerOutcome(Object problems, Object nodes, Long programmedAt) {}
    for (ObjectKey key : loadBalancers) {
      boolean exists = compiler.loadBalancer(key) != null;
      track(loadBalancerOutcomes, key, exists ? new LoadBalancerOutcome(compiler.problemsOf(key),
          Set.copyOf(compiler.nodesOf(key)), programmedAt.get(key)) : null, lbs);
    }
    if (!loadBalancers.isEmpty() || !result.recompiledGroups().isEmpty() || drainOutcomes.size()
        != compiler.backendDrainKeys().size()) {
      record DrainOutcome(int draining, Object byNode) {}
      drainOutcomes.keySet().retainAll(compiler.backendDrainKeys());
      for (ObjectKey key : compiler.backendDrainKeys()) {
        track(drainOutcomes, key, new DrainOutcome(compiler.backendsDrainedBy(key), compiler.drainedBackendsByNode(key)),
            bds);
      }
    }
    return new Changes(lbs, tgs, bds);
  }

  /** Records {@code outcome} (null: the object is gone); adds {@code key} to {@code changed} when it differs from the last. */
  private static void track(Map<ObjectKey, Object> outcomes, ObjectKey key, Object outcome, Set<ObjectKey> changed) {
    Object before = outcome == null ? outcomes.remove(key) : outcomes.put(key, outcome);
    if (outcome != null && !Objects.equals(before, outcome)) {
      changed.add(key);
    }
  }
}
