package io.nodelb.model.compiler;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.model.input.BackendDrainInput;
import io.nodelb.model.input.EndpointSliceInput;
import io.nodelb.model.input.LoadBalancerInput;
import io.nodelb.model.input.NodeInput;
import io.nodelb.model.input.Revision;
import io.nodelb.model.input.ServiceInput;
import io.nodelb.model.input.TargetGroupInput;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * LoadBalancers, TargetGroups, EndpointSlices, Services, Nodes and BackendDrains in, as the model's
 * own records ({@code io.nodelb.model.input}: no Kubernetes types, so the agent compiles its files
 * without a Kubernetes client); one {@link NodeSnapshot} per node out. Pure: no API calls, no clock,
 * no threads (callers serialize access).
 *
 * <p>Incremental: the put and remove methods record what changed; {@link #compile} recomputes
 * only what depends on it. TargetGroups are indexed by the Services they name, so one EndpointSlice
 * change recompiles the groups of that Service and re-assembles the snapshots of the nodes whose
 * LoadBalancers use them; every other compiled group and listener is reused, bytes included.
 */
public final class ModelCompiler {
  /** Standard label linking an EndpointSlice to its Service. */
  public static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";

  private final boolean standalone;

  private final Map<ObjectKey, LoadBalancerInput> loadBalancers = new HashMap<>();
  private final Map<ObjectKey, TargetGroupInput> targetGroups = new HashMap<>();
  private final Map<ObjectKey, ServiceInput> services = new HashMap<>();
  private final Map<ObjectKey, EndpointSliceInput> slices = new HashMap<>();
  private final Map<ObjectKey, Set<ObjectKey>> slicesByService = new HashMap<>();
  private final Map<String, NodeInput> nodes = new TreeMap<>();
  private final Map<ObjectKey, BackendDrainInput> drains = new HashMap<>();

  private final Map<ObjectKey, Set<ObjectKey>> groupsByService = new HashMap<>();
  private final Map<ObjectKey, Set<ObjectKey>> loadBalancersByGroup = new HashMap<>();

  private final Map<ObjectKey, CompiledGroup> compiledGroups = new HashMap<>();
  private final Map<ObjectKey, CompiledLoadBalancer> compiledLoadBalancers = new HashMap<>();
  private final Map<ObjectKey, Set<String>> nodesByLoadBalancer = new HashMap<>();
  private final Map<String, Set<ObjectKey>> loadBalancersByNode = new HashMap<>();
  private final Map<String, NodeView> nodeViews = new TreeMap<>();
  private DrainIndex drainIndex = DrainIndex.EMPTY;

  private final Set<ObjectKey> dirtyGroups = new HashSet<>();
  private final Set<ObjectKey> dirtyLoadBalancers = new HashSet<>();
  private final Set<String> dirtyNodes = new HashSet<>();
  /** Usable groups whose content changed in this compile: the node views patch them in place. */
  private final Set<ObjectKey> changedGroups = new HashSet<>();
  /** Groups compiled again in this compile (their content, problems or counts may differ). */
  private final Set<ObjectKey> recompiledGroups = new HashSet<>();
  /** LoadBalancers whose programmed content or nodes changed in this compile (see {@link Result}). */
  private final Set<ObjectKey> reprogrammed = new HashSet<>();
  private boolean drainIndexStale;
  private boolean nodeSelectionStale;

  private final TargetGroupCompiler.ServiceLookup lookup = new TargetGroupCompiler.ServiceLookup() {
    @Override
    public ServiceInput service(ObjectKey key) {
      return services.get(key);
    }

    @Override
    public Collection<EndpointSliceInput> slices(ObjectKey service) {
      Set<ObjectKey> keys = slicesByService.getOrDefault(service, Set.of());
      List<EndpointSliceInput> result = new ArrayList<>(keys.size());
      keys.forEach(k -> result.add(slices.get(k)));
      return result;
    }
  };

  /** A compiler for a cluster: Services resolve through EndpointSlices, LoadBalancers select nodes. */
  public ModelCompiler() {
    this(false);
  }

  private ModelCompiler(boolean standalone) {
    this.standalone = standalone;
  }

  /**
   * What one {@link #compile} changed: new snapshots of the nodes whose version changed; the groups
   * compiled again; and the LoadBalancers whose part of the snapshots changed: compiled again or
   * removed, moved to other nodes, one of their groups changed content, or a listener conflict on one
   * of their nodes may have moved (a LoadBalancer whose nodes changed only because of other
   * LoadBalancers is not listed). Callers that keep per-object outcomes look at these only.
   */
  public record Result(Map<String, NodeSnapshot> changed, Set<String> removedNodes, Set<ObjectKey> recompiledGroups,
      Set<ObjectKey> reprogrammedLoadBalancers) {
    public boolean isEmpty() {
      return changed.isEmpty() && removedNodes.isEmpty();
    }
  }

  // ---- inputs ----

  public void putLoadBalancer(LoadBalancerInput lb) {
    ObjectKey key = lb.key();
    LoadBalancerInput old = loadBalancers.put(key, lb);
    if (old == null || !old.revision().sameSpec(lb.revision())) {
      dirtyLoadBalancers.add(key);
    }
  }

  public void removeLoadBalancer(ObjectKey key) {
    if (loadBalancers.remove(key) != null) {
      dirtyLoadBalancers.add(key);
    }
  }

  public void putTargetGroup(TargetGroupInput tg) {
    ObjectKey key = tg.key();
    TargetGroupInput old = targetGroups.put(key, tg);
    if (old != null && old.revision().sameSpec(tg.revision())) {
      return;
    }
    if (old != null) {
      serviceKeys(old).forEach(s -> removeFromIndex(groupsByService, s, key));
    }
    serviceKeys(tg).forEach(s -> groupsByService.computeIfAbsent(s, k -> new HashSet<>()).add(key));
    dirtyGroups.add(key);
  }

  public void removeTargetGroup(ObjectKey key) {
    TargetGroupInput old = targetGroups.remove(key);
    if (old != null) {
      serviceKeys(old).forEach(s -> removeFromIndex(groupsByService, s, key));
      dirtyGroups.add(key);
    }
  }

  public void putService(ServiceInput service) {
    ObjectKey key = service.key();
    if (sameVersion(services.put(key, service), service.revision())) {
      return;
    }
    dirtyGroups.addAll(groupsByService.getOrDefault(key, Set.of()));
  }

  public void removeService(ObjectKey key) {
    if (services.remove(key) != null) {
      dirtyGroups.addAll(groupsByService.getOrDefault(key, Set.of()));
    }
  }

  public void putEndpointSlice(EndpointSliceInput slice) {
    ObjectKey key = slice.key();
    EndpointSliceInput old = slices.put(key, slice);
    if (sameVersion(old, slice.revision())) {
      return;
    }
    if (old != null) {
      ObjectKey oldService = serviceOf(old);
      if (oldService != null) {
        removeFromIndex(slicesByService, oldService, key);
        dirtyGroups.addAll(groupsByService.getOrDefault(oldService, Set.of()));
      }
    }
    ObjectKey service = serviceOf(slice);
    if (service != null) {
      slicesByService.computeIfAbsent(service, s -> new HashSet<>()).add(key);
      dirtyGroups.addAll(groupsByService.getOrDefault(service, Set.of()));
    }
  }

  public void removeEndpointSlice(ObjectKey key) {
    EndpointSliceInput old = slices.remove(key);
    ObjectKey service = old == null ? null : serviceOf(old);
    if (service != null) {
      removeFromIndex(slicesByService, service, key);
      dirtyGroups.addAll(groupsByService.getOrDefault(service, Set.of()));
    }
  }

  public void putNode(NodeInput node) {
    String name = node.name();
    NodeInput old = nodes.put(name, node);
    if (sameVersion(old, node.revision())) {
      return;
    }
    if (old == null || !Objects.equals(old.labels(), node.labels())) {
      nodeSelectionStale = true;
    }
    if (old == null || DrainIndex.isDrainedByMetadata(old) != DrainIndex.isDrainedByMetadata(node)) {
      drainIndexStale = true;
    }
  }

  public void removeNode(String name) {
    if (nodes.remove(name) != null) {
      nodeSelectionStale = true;
      drainIndexStale = true;
    }
  }

  public void putBackendDrain(BackendDrainInput drain) {
    if (!sameVersion(drains.put(drain.key(), drain), drain.revision())) {
      drainIndexStale = true;
    }
  }

  /** Makes the slices of one Service exactly {@code current}: slices not in it are forgotten. */
  public void replaceEndpointSlices(ObjectKey service, Collection<EndpointSliceInput> current) {
    Set<ObjectKey> keep = new HashSet<>();
    current.forEach(s -> keep.add(s.key()));
    for (ObjectKey key : List.copyOf(slicesByService.getOrDefault(service, Set.of()))) {
      if (!keep.contains(key)) {
        removeEndpointSlice(key);
      }
    }
    current.forEach(this::putEndpointSlice);
  }

  /** Makes the known nodes exactly {@code current}. */
  public void replaceNodes(Collection<NodeInput> current) {
    Set<String> keep = new HashSet<>();
    current.forEach(n -> keep.add(n.name()));
    for (String name : List.copyOf(nodes.keySet())) {
      if (!keep.contains(name)) {
        removeNode(name);
      }
    }
    current.forEach(this::putNode);
  }

  public Set<ObjectKey> loadBalancerKeys() {
    return Collections.unmodifiableSet(loadBalancers.keySet());
  }

  public Set<ObjectKey> targetGroupKeys() {
    return Collections.unmodifiableSet(targetGroups.keySet());
  }

  public Set<ObjectKey> backendDrainKeys() {
    return Collections.unmodifiableSet(drains.keySet());
  }

  /** The same stored object seen again (informer resync): nothing to recompute. */
  private static boolean sameVersion(Object old, Revision fresh) {
    Revision before = switch (old) {
      case null -> null;
      case ServiceInput s -> s.revision();
      case EndpointSliceInput e -> e.revision();
      case NodeInput n -> n.revision();
      case BackendDrainInput d -> d.revision();
      default -> throw new IllegalArgumentException(old.getClass().getName());
    };
    return before != null && before.sameVersion(fresh);
  }

  public void removeBackendDrain(ObjectKey key) {
    if (drains.remove(key) != null) {
      drainIndexStale = true;
    }
  }

  // ---- compile ----

  /** Recomputes what the recorded changes affect and returns the snapshots that changed. */
  public Result compile() {
    boolean nodeDrainsMayChange = nodeSelectionStale; // new node views start undrained
    if (drainIndexStale) {
      drainIndexStale = false;
      DrainIndex fresh = new DrainIndex(nodes.values(), drains.values());
      if (!fresh.equals(drainIndex)) {
        drainIndex = fresh;
        dirtyGroups.addAll(targetGroups.keySet());
        nodeDrainsMayChange = true;
      }
    }
    for (ObjectKey key : dirtyGroups) {
      compileGroup(key);
    }
    dirtyGroups.clear();
    if (nodeSelectionStale) {
      nodeSelectionStale = false;
      syncNodeViews();
      for (ObjectKey key : loadBalancers.keySet()) {
        if (!dirtyLoadBalancers.contains(key)) {
          reselect(key);
        }
      }
    }
    for (ObjectKey key : dirtyLoadBalancers) {
      compileLoadBalancer(key);
    }
    dirtyLoadBalancers.clear();

    if (nodeDrainsMayChange) {
      nodeViews.forEach((name, view) -> {
        boolean draining = drainIndex.isNodeDrained(name);
        if (view.draining != draining) {
          view.draining = draining;
          dirtyNodes.add(name);
        }
      });
    }
    Map<String, NodeSnapshot> changed = new TreeMap<>();
    Set<String> removed = new TreeSet<>();
    for (String name : dirtyNodes) {
      NodeView view = nodeViews.get(name);
      if (view == null) {
        removed.add(name);
        continue;
      }
      NodeSnapshot before = view.snapshot;
      NodeSnapshot after = view.assemble(compiledGroups, changedGroups);
      if (before == null || !before.getVersion().equals(after.getVersion())) {
        changed.put(name, after);
      }
    }
    dirtyNodes.clear();
    changedGroups.clear();
    Result result = new Result(Collections.unmodifiableMap(changed), Collections.unmodifiableSet(removed),
        Set.copyOf(recompiledGroups), Set.copyOf(reprogrammed));
    recompiledGroups.clear();
    reprogrammed.clear();
    return result;
  }

  private void compileGroup(ObjectKey key) {
    TargetGroupInput tg = targetGroups.get(key);
    CompiledGroup before = compiledGroups.get(key);
    CompiledGroup after = tg == null ? null : TargetGroupCompiler.compile(tg, lookup, drainIndex, !standalone);
    if (after == null) {
      compiledGroups.remove(key);
    } else {
      compiledGroups.put(key, after);
    }
    recompiledGroups.add(key);
    boolean wasUsable = before != null && before.group() != null;
    boolean isUsable = after != null && after.group() != null;
    Set<ObjectKey> users = loadBalancersByGroup.getOrDefault(key, Set.of());
    if (wasUsable != isUsable || (before == null) != (after == null)) {
      dirtyLoadBalancers.addAll(users); // the listeners that use it appear or disappear
    } else if (isUsable && !Arrays.equals(before.digest(), after.digest())) {
      changedGroups.add(key);
      reprogrammed.addAll(users);
      for (ObjectKey lb : users) {
        dirtyNodes.addAll(nodesByLoadBalancer.getOrDefault(lb, Set.of()));
      }
      if (!before.addressLengths().equals(after.addressLengths())) {
        dirtyLoadBalancers.addAll(users); // whether each listener's family is served
      }
    }
  }

  private void compileLoadBalancer(ObjectKey key) {
    LoadBalancerInput lb = loadBalancers.get(key);
    CompiledLoadBalancer before = compiledLoadBalancers.remove(key);
    Set<String> oldNodes = nodesByLoadBalancer.remove(key);
    reprogrammed.add(key);
    if (before != null) {
      before.referencedGroups().forEach(g -> removeFromIndex(loadBalancersByGroup, g, key));
      for (String node : oldNodes) {
        contenders(nodeViews.get(node), before);
        nodeViews.get(node).remove(before);
        removeFromIndex(loadBalancersByNode, node, key);
        dirtyNodes.add(node);
      }
    }
    if (lb == null) {
      return;
    }
    CompiledLoadBalancer after = LoadBalancerCompiler.compile(lb, compiledGroups::get);
    compiledLoadBalancers.put(key, after);
    after.referencedGroups().forEach(g -> loadBalancersByGroup.computeIfAbsent(g, k -> new HashSet<>()).add(key));
    Set<String> selected = select(after);
    nodesByLoadBalancer.put(key, selected);
    for (String node : selected) {
      nodeViews.get(node).add(after);
      contenders(nodeViews.get(node), after);
      loadBalancersByNode.computeIfAbsent(node, n -> new HashSet<>()).add(key);
      dirtyNodes.add(node);
    }
  }

  /** The LoadBalancers that claim an address:port/protocol {@code lb} claims on this node: their conflicts may move. */
  private void contenders(NodeView view, CompiledLoadBalancer lb) {
    for (CompiledLoadBalancer.CompiledListener l : lb.listeners()) {
      Set<String> names = new HashSet<>(view.claimants(l.listener()));
      names.addAll(view.echoClaimants(l.listener()));
      for (String name : names) {
        String[] parts = name.split("/", 3); // "namespace/loadbalancer/listener"
        if (parts.length == 3) {
          reprogrammed.add(new ObjectKey(parts[0], parts[1]));
        }
      }
    }
  }

  /** Only the node set changed (labels or nodes): move the same listeners. */
  private void reselect(ObjectKey key) {
    CompiledLoadBalancer compiled = compiledLoadBalancers.get(key);
    Set<String> before = nodesByLoadBalancer.getOrDefault(key, Set.of());
    Set<String> after = select(compiled);
    if (before.equals(after)) {
      return;
    }
    reprogrammed.add(key);
    for (String node : before) {
      if (!after.contains(node) && nodeViews.containsKey(node)) {
        contenders(nodeViews.get(node), compiled);
        nodeViews.get(node).remove(compiled);
        removeFromIndex(loadBalancersByNode, node, key);
        dirtyNodes.add(node);
      }
    }
    for (String node : after) {
      if (!before.contains(node)) {
        nodeViews.get(node).add(compiled);
        contenders(nodeViews.get(node), compiled);
        loadBalancersByNode.computeIfAbsent(node, n -> new HashSet<>()).add(key);
        dirtyNodes.add(node);
      }
    }
    nodesByLoadBalancer.put(key, after);
  }

  private Set<String> select(CompiledLoadBalancer lb) {
    Set<String> selected = new TreeSet<>();
    for (NodeInput node : nodes.values()) {
      if (standalone || node.labels().entrySet().containsAll(lb.nodeSelector().entrySet())) {
        selected.add(node.name());
      }
    }
    return selected;
  }

  /** A view per known node; a node that went away takes its LoadBalancers' listeners with it. */
  private void syncNodeViews() {
    for (String name : List.copyOf(nodeViews.keySet())) {
      if (!nodes.containsKey(name)) {
        nodeViews.remove(name);
        dirtyNodes.add(name);
        Set<ObjectKey> onNode = loadBalancersByNode.remove(name);
        if (onNode != null) {
          onNode.forEach(lb -> nodesByLoadBalancer.getOrDefault(lb, new HashSet<>()).remove(name));
          reprogrammed.addAll(onNode);
        }
      }
    }
    for (String name : nodes.keySet()) {
      if (!nodeViews.containsKey(name)) {
        nodeViews.put(name, new NodeView(name));
        dirtyNodes.add(name);
      }
    }
  }

  // ---- queries (after compile) ----

  /** The current snapshot of every known node (nodes without a LoadBalancer get an empty one). */
  public Map<String, NodeSnapshot> snapshots() {
    Map<String, NodeSnapshot> all = new TreeMap<>();
    nodeViews.forEach((name, view) -> all.put(name, view.snapshot));
    return all;
  }

  public NodeSnapshot snapshot(String node) {
    NodeView view = nodeViews.get(node);
    return view == null ? null : view.snapshot;
  }

  /**
   * The node's current snapshot serialized deterministically (what to send to its agent), built by
   * concatenating the cached bytes of its listeners and groups instead of serializing the message
   * again: byte for byte {@code Snapshots.serialize(snapshot(node))}, at the cost of a copy.
   * Null for an unknown node.
   */
  public byte[] serializedSnapshot(String node) {
    NodeView view = nodeViews.get(node);
    return view == null || view.snapshot == null ? null : view.serializedSnapshot();
  }

  /**
   * The node's current snapshot as its cached part bytes (references, no copy of the bytes): what
   * the snapshot server writes to the node's agent. Null for an unknown node.
   */
  public SerializedSnapshot serializedParts(String node) {
    NodeView view = nodeViews.get(node);
    return view == null || view.snapshot == null ? null : view.serializedParts();
  }

  public CompiledGroup targetGroup(ObjectKey key) {
    return compiledGroups.get(key);
  }

  public CompiledLoadBalancer loadBalancer(ObjectKey key) {
    return compiledLoadBalancers.get(key);
  }

  /** Nodes a LoadBalancer's listeners are programmed on. */
  public Set<String> nodesOf(ObjectKey loadBalancer) {
    return Collections.unmodifiableSet(nodesByLoadBalancer.getOrDefault(loadBalancer, Set.of()));
  }

  /** LoadBalancers whose listeners are programmed on a node. */
  public Set<ObjectKey> loadBalancersOn(String node) {
    return Collections.unmodifiableSet(loadBalancersByNode.getOrDefault(node, Set.of()));
  }

  /** LoadBalancers whose listeners use (or name) a TargetGroup. */
  public Set<ObjectKey> loadBalancersUsing(ObjectKey targetGroup) {
    return Collections.unmodifiableSet(loadBalancersByGroup.getOrDefault(targetGroup, Set.of()));
  }

  /** TargetGroups that name a Service. */
  public Set<ObjectKey> targetGroupsUsing(ObjectKey service) {
    return Collections.unmodifiableSet(groupsByService.getOrDefault(service, Set.of()));
  }

  /** The problems of a LoadBalancer and of the TargetGroups it names: what its status should say. */
  public List<Problem> problemsOf(ObjectKey loadBalancer) {
    CompiledLoadBalancer lb = compiledLoadBalancers.get(loadBalancer);
    if (lb == null) {
      return List.of();
    }
    List<Problem> problems = ownProblems(lb);
    for (ObjectKey group : lb.referencedGroups()) {
      CompiledGroup compiled = compiledGroups.get(group);
      if (compiled != null && compiled.group() != null) {
        problems.addAll(compiled.problems());
      }
    }
    return problems;
  }

  /** Every problem, sorted by object. */
  public List<Problem> problems() {
    List<Problem> all = new ArrayList<>();
    new TreeMap<>(compiledGroups).values().forEach(g -> all.addAll(g.problems()));
    new TreeMap<>(compiledLoadBalancers).values().forEach(l -> all.addAll(ownProblems(l)));
    return all;
  }

  /** The LoadBalancer's own problems plus listeners another LoadBalancer already holds on some node. */
  private List<Problem> ownProblems(CompiledLoadBalancer lb) {
    List<Problem> problems = new ArrayList<>(lb.problems());
    Set<String> reported = new HashSet<>();
    Set<String> echoReported = new HashSet<>();
    for (String node : nodesByLoadBalancer.getOrDefault(lb.key(), Set.of())) {
      NodeView view = nodeViews.get(node);
      for (CompiledLoadBalancer.CompiledListener l : lb.listeners()) {
        String echoWinner = view == null ? null : view.echoWinnerOver(l.listener());
        if (echoWinner != null && echoReported.add(echoWinner)) {
          String listenerName = l.listener().getName().substring(lb.key().toString().length() + 1);
          problems.add(new Problem(LoadBalancerCompiler.KIND, lb.key().toString(), "spec.icmpEcho",
              Problem.ICMP_ECHO_CONFLICT, "listener " + listenerName + " shares its address with " + echoWinner
                  + " on node " + node + " (and maybe others), whose LoadBalancer sets another icmpEcho; that one's"
                  + " applies to the address"));
        }
        String winner = view == null ? null : view.winnerOver(l.listener());
        if (winner != null && reported.add(l.listener().getName())) {
          String listenerName = l.listener().getName().substring(lb.key().toString().length() + 1);
          problems.add(new Problem(LoadBalancerCompiler.KIND, lb.key().toString(),
              "spec.listeners[" + listenerName + "]", Problem.LISTENER_CONFLICT,
              "listener " + listenerName + " uses the same address, port and protocol as " + winner
                  + " on node " + node + " (and maybe others); that one keeps it, this one is not programmed there"));
        }
      }
    }
    return problems;
  }

  /** How many backends are DRAINING because of this BackendDrain right now (0: nothing left to drain). */
  public int backendsDrainedBy(ObjectKey drain) {
    int total = 0;
    for (CompiledGroup group : compiledGroups.values()) {
      total += group.drainMatches().getOrDefault(drain, Set.of()).size();
    }
    return total;
  }

  /**
   * Where this BackendDrain's backends are DRAINING: per node whose snapshot carries one of the
   * groups they belong to, those backends. Agents count live flows per backend, so this is what a
   * node's report must be read against. Empty when nothing is left to drain.
   */
  public Map<String, Set<BackendAddress>> drainedBackendsByNode(ObjectKey drain) {
    Map<String, Set<BackendAddress>> byNode = new TreeMap<>();
    for (CompiledGroup group : compiledGroups.values()) {
      Set<BackendAddress> drained = group.drainMatches().get(drain);
      if (drained == null || drained.isEmpty()) {
        continue;
      }
      for (ObjectKey lb : loadBalancersByGroup.getOrDefault(group.key(), Set.of())) {
        for (String node : nodesByLoadBalancer.getOrDefault(lb, Set.of())) {
          byNode.computeIfAbsent(node, n -> new HashSet<>()).addAll(drained);
        }
      }
    }
    return byNode;
  }

  // ---- one-shot entries ----

  /**
   * The snapshot of one node from LoadBalancers and TargetGroups read from files (the agent's
   * standalone mode): static backends only, nodeSelector ignored, no namespace means "default".
   *
   * @throws ModelProblemsException listing every problem when anything cannot be programmed as written
   */
  public static NodeSnapshot compileInputs(List<LoadBalancerInput> loadBalancers, List<TargetGroupInput> targetGroups,
      String nodeName) {
    ModelCompiler compiler = new ModelCompiler(true);
    List<Problem> problems = new ArrayList<>();
    duplicates(loadBalancers.stream().map(LoadBalancerInput::key).toList(), LoadBalancerCompiler.KIND, problems);
    duplicates(targetGroups.stream().map(TargetGroupInput::key).toList(), TargetGroupCompiler.KIND, problems);
    loadBalancers.forEach(compiler::putLoadBalancer);
    targetGroups.forEach(compiler::putTargetGroup);
    compiler.putNode(NodeInput.named(nodeName));
    compiler.compile();
    problems.addAll(compiler.problems());
    if (!problems.isEmpty()) {
      throw new ModelProblemsException(problems);
    }
    return compiler.snapshot(nodeName);
  }

  private static void duplicates(List<ObjectKey> keys, String kind, List<Problem> problems) {
    Map<ObjectKey, Integer> seen = new LinkedHashMap<>();
    keys.forEach(k -> seen.merge(k, 1, Integer::sum));
    seen.forEach((key, count) -> {
      if (count > 1) {
        problems.add(new Problem(kind, key.toString(), "metadata.name", "Duplicate",
            count + " " + kind + "s are named " + key + "; names must be unique per namespace"));
      }
    });
  }

  // ---- helpers ----

  private static Set<ObjectKey> serviceKeys(TargetGroupInput tg) {
    Set<ObjectKey> keys = new HashSet<>();
    tg.serviceNames().forEach(name -> keys.add(new ObjectKey(tg.key().namespace(), name)));
    return keys;
  }

  private static ObjectKey serviceOf(EndpointSliceInput slice) {
    return slice.serviceName() == null ? null : new ObjectKey(slice.key().namespace(), slice.serviceName());
  }

  private static <K, V> void removeFromIndex(Map<K, Set<V>> index, K key, V value) {
    Set<V> values = index.get(key);
    if (values != null) {
      values.remove(value);
      if (values.isEmpty()) {
        index.remove(key);
      }
    }
  }
}
