package io.nodelb.model.compiler;

import com.google.protobuf.ByteString;
import io.nodelb.dataplane.v1alpha1.IcmpEcho;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/** What one node runs, kept sorted so a snapshot is assembled without sorting again. */
final class NodeView {
  final String name;
  private final TreeMap<String, CompiledLoadBalancer.CompiledListener> listeners = new TreeMap<>();
  /**
   * Who claims each (address, port, protocol) on this node. Two LoadBalancers may not share one:
   * the listener whose name sorts first keeps it, the others are left out and reported.
   */
  private final Map<ListenerKey, TreeSet<String>> claims = new HashMap<>();
  /**
   * The icmpEcho each listener with an address asks for, by address then listener name. The data
   * plane has one setting per address: the listener whose name sorts first decides it for all.
   */
  private final Map<ByteString, TreeMap<String, IcmpEcho>> echoes = new HashMap<>();
  /** Group name ("namespace/name") to how many LoadBalancers on this node use it. */
  private final TreeMap<String, Use> groups = new TreeMap<>();
  NodeSnapshot snapshot;

  // What the last assembly produced, in snapshot order; reused until the sets above change.
  /** The node itself is drained: its agent turns readiness off. */
  boolean draining;
  private boolean listenersChanged = true;
  private boolean groupSetChanged = true;
  private final List<Listener> listenerMessages = new ArrayList<>();
  private final List<byte[]> listenerBytes = new ArrayList<>();
  private byte[] listenerEntries = new byte[0];
  private final List<TargetGroup> groupMessages = new ArrayList<>();
  private final List<byte[]> groupBytes = new ArrayList<>();
  private byte[] groupEntries = new byte[0];

  private static final class Use {
    final ObjectKey key;
    int count;
    /** Position in the last assembled group list; -1 when it was left out (not usable). */
    int index = -1;

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

  /** Every listener (by name) that claims the address:port/protocol of {@code listener} here, itself included. */
  Set<String> claimants(Listener listener) {
    TreeSet<String> claimants = claims.get(ListenerKey.of(listener));
    return claimants == null ? Set.of() : claimants;
  }

  /** The listener whose icmpEcho the address of {@code listener} gets, when it asks for another; else null. */
  String echoWinnerOver(Listener listener) {
    TreeMap<String, IcmpEcho> claimants = echoes.get(listener.getAddress());
    if (claimants == null || claimants.isEmpty()) {
      return null;
    }
    Map.Entry<String, IcmpEcho> first = claimants.firstEntry();
    return first.getValue() == listener.getIcmpEcho() ? null : first.getKey();
  }

  /** Every listener (by name) with the address of {@code listener}: their icmpEcho must agree. */
  Set<String> echoClaimants(Listener listener) {
    TreeMap<String, IcmpEcho> claimants = echoes.get(listener.getAddress());
    return claimants == null ? Set.of() : claimants.keySet();
  }

  void add(CompiledLoadBalancer lb) {
    lb.listeners().forEach(l -> {
      listeners.put(l.listener().getName(), l);
      claims.computeIfAbsent(ListenerKey.of(l.listener()), k -> new TreeSet<>()).add(l.listener().getName());
      if (!l.listener().getAddress().isEmpty()) {
        echoes.computeIfAbsent(l.listener().getAddress(), a -> new TreeMap<>())
            .put(l.listener().getName(), l.listener().getIcmpEcho());
      }
    });
    lb.groups().forEach(g -> groups.computeIfAbsent(g.toString(), n -> {
      groupSetChanged = true;
      return new Use(g);
    }).count++);
    listenersChanged = true;
  }

  void remove(CompiledLoadBalancer lb) {
    lb.listeners().forEach(l -> {
      listeners.remove(l.listener().getName());
      ListenerKey key = ListenerKey.of(l.listener());
      TreeSet<String> claimants = claims.get(key);
      if (claimants != null && claimants.remove(l.listener().getName()) && claimants.isEmpty()) {
        claims.remove(key);
      }
      TreeMap<String, IcmpEcho> echo = echoes.get(l.listener().getAddress());
      if (echo != null && echo.remove(l.listener().getName()) != null && echo.isEmpty()) {
        echoes.remove(l.listener().getAddress());
      }
    });
    for (ObjectKey g : lb.groups()) {
      Use use = groups.get(g.toString());
      if (use != null && --use.count == 0) {
        groups.remove(g.toString());
        groupSetChanged = true;
      }
    }
    listenersChanged = true;
  }

  /**
   * The node's snapshot. Parts are reused from the last assembly: the listener part is rebuilt only
   * after {@link #add}/{@link #remove}, the group part only when its set of groups changed; groups
   * whose content changed ({@code changedGroups}) are patched in place. So one EndpointSlice change
   * costs a few array writes and one SHA-256 over the part digests, not a walk over every group.
   */
  NodeSnapshot assemble(Map<ObjectKey, CompiledGroup> compiledGroups, Set<ObjectKey> changedGroups) {
    if (listenersChanged) {
      rebuildListeners();
    }
    if (groupSetChanged || changedGroups.size() > groups.size() / 4) {
      rebuildGroups(compiledGroups);
    } else if (!patchGroups(compiledGroups, changedGroups)) {
      rebuildGroups(compiledGroups);
    }
    snapshot = NodeSnapshot.newBuilder()
        .setNode(name)
        .addAllListeners(listenerMessages)
        .addAllTargetGroups(groupMessages)
        .setDraining(draining)
        .setVersion(Snapshots.version(name, listenerEntries, groupEntries, draining))
        .build();
    return snapshot;
  }

  private void rebuildListeners() {
    listenerMessages.clear();
    listenerBytes.clear();
    List<byte[]> digests = new ArrayList<>(listeners.size());
    for (CompiledLoadBalancer.CompiledListener listener : listeners.values()) {
      CompiledLoadBalancer.CompiledListener l = withAddressEcho(listener);
      if (winnerOver(l.listener()) == null) {
        listenerMessages.add(l.listener());
        listenerBytes.add(l.bytes());
        digests.add(l.digest());
      }
    }
    listenerEntries = Snapshots.listenerEntries(digests);
    listenersChanged = false;
  }

  /** The listener with the icmpEcho its address gets (another LoadBalancer's when theirs differ). */
  private CompiledLoadBalancer.CompiledListener withAddressEcho(CompiledLoadBalancer.CompiledListener l) {
    if (echoWinnerOver(l.listener()) == null) {
      return l;
    }
    IcmpEcho echo = echoes.get(l.listener().getAddress()).firstEntry().getValue();
    return CompiledLoadBalancer.CompiledListener.of(l.listener().toBuilder().setIcmpEcho(echo).build());
  }

  private void rebuildGroups(Map<ObjectKey, CompiledGroup> compiledGroups) {
    groupMessages.clear();
    groupBytes.clear();
    List<byte[]> digests = new ArrayList<>(groups.size());
    for (Use use : groups.values()) {
      CompiledGroup group = compiledGroups.get(use.key);
      if (group != null && group.group() != null) {
        use.index = groupMessages.size();
        groupMessages.add(group.group());
        groupBytes.add(group.bytes());
        digests.add(group.digest());
      } else {
        use.index = -1;
      }
    }
    groupEntries = Snapshots.groupEntries(digests);
    groupSetChanged = false;
  }

  /** Replaces changed groups at their place; false when one cannot be patched (it was or became unusable). */
  private boolean patchGroups(Map<ObjectKey, CompiledGroup> compiledGroups, Set<ObjectKey> changedGroups) {
    for (ObjectKey key : changedGroups) {
      Use use = groups.get(key.toString());
      if (use == null) {
        continue; // not on this node
      }
      CompiledGroup group = compiledGroups.get(key);
      if (use.index < 0 || group == null || group.group() == null) {
        return false;
      }
      groupMessages.set(use.index, group.group());
      groupBytes.set(use.index, group.bytes());
      Snapshots.setEntry(groupEntries, use.index, group.digest());
    }
    return true;
  }

  /** The last assembled snapshot as its part bytes (the lists are copied: the view patches its own in place). */
  SerializedSnapshot serializedParts() {
    return new SerializedSnapshot(name, snapshot.getVersion(), listenerBytes, groupBytes, snapshot.getDraining());
  }

  /** The last assembled snapshot serialized deterministically, concatenated from the cached part bytes. */
  byte[] serializedSnapshot() {
    return Snapshots.concatenate(name, snapshot.getVersion(), listenerBytes, groupBytes, snapshot.getDraining());
  }
}
