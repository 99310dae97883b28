package io.nodelb.model.compiler;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** What one node runs, kept sorted so a snapshot is assembled without sorting again. */
final class NodeView {
  final String name;
  private final TreeMap<String, CompiledLoadBalancer.CompiledListener> listeners = new TreeMap<>();
  /** Group name ("namespace/name") to how many LoadBalancers on this node use it. */
  private final TreeMap<String, Use> groups = new TreeMap<>();
  NodeSnapshot snapshot;

  private static final class Use {
    final ObjectKey key;
    int count;

    Use(ObjectKey key) {
      this.key = key;
    }
  }

  NodeView(String name) {
    this.name = name;
  }

  void add(CompiledLoadBalancer lb) {
    lb.listeners().forEach(l -> listeners.put(l.listener().getName(), l));
    lb.groups().forEach(g -> groups.computeIfAbsent(g.toString(), n -> new Use(g)).count++);
  }

  void remove(CompiledLoadBalancer lb) {
    lb.listeners().forEach(l -> listeners.remove(l.listener().getName()));
    for (ObjectKey g : lb.groups()) {
      Use use = groups.get(g.toString());
      if (use != null && --use.count == 0) {
        groups.remove(g.toString());
      }
    }
  }

  NodeSnapshot assemble(Map<ObjectKey, CompiledGroup> compiledGroups) {
    NodeSnapshot.Builder builder = NodeSnapshot.newBuilder().setNode(name);
    List<byte[]> listenerBytes = new ArrayList<>(listeners.size());
    for (CompiledLoadBalancer.CompiledListener l : listeners.values()) {
      builder.addListeners(l.listener());
      listenerBytes.add(l.bytes());
    }
    List<byte[]> groupBytes = new ArrayList<>(groups.size());
    for (Use use : groups.values()) {
      CompiledGroup group = compiledGroups.get(use.key);
      if (group != null && group.group() != null) {
        builder.addTargetGroups(group.group());
        groupBytes.add(group.bytes());
      }
    }
    snapshot = builder.setVersion(Snapshots.version(name, listenerBytes, groupBytes)).build();
    return snapshot;
  }
}
