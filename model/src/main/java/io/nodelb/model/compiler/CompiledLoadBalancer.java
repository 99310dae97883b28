package io.nodelb.model.compiler;

import io.nodelb.dataplane.v1alpha1.Listener;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One LoadBalancer compiled: its listeners (the same on every node it selects).
 *
 * @param listeners what goes into the snapshots, with their deterministic bytes
 * @param groups the groups those listeners use (they go into the same snapshots)
 * @param nodeSelector matchLabels; empty selects every node
 * @param referencedGroups every TargetGroup the spec names, usable or not
 * @param accepted false when the spec itself is invalid (nothing is programmed)
 */
public record CompiledLoadBalancer(
    ObjectKey key,
    List<CompiledListener> listeners,
    Set<ObjectKey> groups,
    Map<String, String> nodeSelector,
    Set<ObjectKey> referencedGroups,
    boolean accepted,
    List<Problem> problems) {

  /**
   * One listener with its deterministic bytes and their SHA-256 (the part digest of the snapshot
   * version, see {@link Snapshots}).
   */
  public record CompiledListener(Listener listener, byte[] bytes, byte[] digest) {
    static CompiledListener of(Listener listener) {
      byte[] bytes = Snapshots.serialize(listener);
      return new CompiledListener(listener, bytes, Snapshots.sha256(bytes));
    }
  }
}
