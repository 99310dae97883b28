package io.nodelb.model.compiler;

import com.google.protobuf.ByteString;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.TreeSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** What one node runs, kept sorted so a snapshot is assembled without sorting again. */
final class NodeView {
  final String name;
  private final TreeMap<String, CompiledLoadBalancer.CompiledListener> listeners = new TreeMap<>();
  /**
   * Who claims each (address, port, protocol) on this node. Two LoadBalancers may not share one:
   * the listener whose name sorts first keeps it, the others are left out and reported.
   */
  private final Map<ListenerKey, TreeSet<String>> claims = new HashMap<>();
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

  record ListenerKey(ByteString address, int port, Protocol protocol) {
    static ListenerKey of(Listener listener) {
      return new ListenerKey(listener.getAddress(), listener.getPort(), listener.getProtocol());
    }
  }

  NodeView(String name) {
    this.name = name;
  }

  /** The listener that keeps the address:port/protocol {@code listener} wants, if it is another one. */
  String winnerOver(Listener listener) {
    TreeSet<String> claimants = claims.get(ListenerKey.of(listener));
    String winner = claimants == null || claimants.isEmpty() ? listener.getName() : claimants.first();
    return winner.equals(listener.getName()) ? null : winner;
  }

  void add(CompiledLoadBalancer lb) {
    lb.listeners().forEach(l -> {
      listeners.put(l.listener().getName(), l);
      claims.computeIfAbsent(ListenerKey.of(l.listener()), k -> new TreeSet<>()).add(l.listener().getName());
    });
    lb.groups().forEach(g -> groups.computeIfAbsent(g.toString(), n -> new Use(g)).count++);
  }

  void remove(CompiledLoadBalancer lb) {
    lb.listeners().forEach(l -> {
      listeners.remove(l.listener().getName());
      ListenerKey key = ListenerKey.of(l.listener());
      TreeSet<String> claimants = claims.get(key);
      if (claimants != null && claimants.remove(l.listener().getName()) && claimants.isEmpty()) {
        claims.remove(key);
      }
    });
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
      if (winnerOver(l.listener()) != null) {
        continue;
      }
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
