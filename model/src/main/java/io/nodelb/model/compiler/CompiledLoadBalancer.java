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

  public record CompiledListener(Listener listener, byte[] bytes) {}
}
