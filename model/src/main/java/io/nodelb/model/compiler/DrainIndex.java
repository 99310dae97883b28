package io.nodelb.model.compiler;

import com.google.protobuf.ByteString;
import io.nodelb.model.input.BackendDrainInput;
import io.nodelb.model.input.NodeInput;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What is being drained: nodes (by label, annotation or BackendDrain), pods and addresses. Draining
 * means "no new flows, keep the existing ones": the backend stays in the snapshot as DRAINING.
 */
final class DrainIndex {
  /** Kubernetes' own label: the node must not take load-balancer traffic. nodelb drains it. */
  static final String EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";
  /** nodelb's annotation on a Node or Pod: drain it. */
  static final String DRAIN_ANNOTATION = "nodelb.io/drain";

  private final Set<String> nodesDrainedByMetadata = new HashSet<>();
  private final Map<String, List<ObjectKey>> drainsByNode = new HashMap<>();
  private final Map<ObjectKey, List<ObjectKey>> drainsByPod = new HashMap<>();
  private final Map<BackendKey, List<ObjectKey>> drainsByBackend = new HashMap<>();

  private record BackendKey(String namespace, ByteString address, int port) {}

  static final DrainIndex EMPTY = new DrainIndex(List.of(), List.of());

  DrainIndex(Collection<NodeInput> nodes, Collection<BackendDrainInput> drains) {
    for (NodeInput node : nodes) {
      if (isDrainedByMetadata(node)) {
        nodesDrainedByMetadata.add(node.name());
      }
    }
    for (BackendDrainInput drain : drains) {
      if (drain.cancelled()) {
        continue;
      }
      ObjectKey key = drain.key();
      if (drain.nodeName() != null) {
        drainsByNode.computeIfAbsent(drain.nodeName(), n -> new ArrayList<>()).add(key);
      }
      if (drain.podName() != null) {
        drainsByPod.computeIfAbsent(new ObjectKey(key.namespace(), drain.podName()), p -> new ArrayList<>()).add(key);
      }
      if (drain.backendAddress() != null && drain.backendPort() != null) {
        ByteString address = Addresses.bytes(drain.backendAddress());
        if (address != null) {
          drainsByBackend.computeIfAbsent(new BackendKey(key.namespace(), address, drain.backendPort()),
              b -> new ArrayList<>()).add(key);
        }
      }
    }
  }

  /** Whether the node itself is drained: by its metadata or by a BackendDrain of the node. */
  boolean isNodeDrained(String node) {
    return nodesDrainedByMetadata.contains(node) || drainsByNode.containsKey(node);
  }

  static boolean isDrainedByMetadata(NodeInput node) {
    return node.labels().containsKey(EXCLUDE_LABEL) || "true".equals(node.annotations().get(DRAIN_ANNOTATION));
  }

  /**
   * Whether a backend of a group in {@code namespace} is drained, and by which BackendDrains
   * (added to {@code matchedDrains}). Pod and address drains act in their own namespace; node
   * drains act on every endpoint of the node.
   */
  boolean isDrained(String namespace, ByteString address, int port, String nodeName, ObjectKey pod,
      List<ObjectKey> matchedDrains) {
    boolean drained = nodeName != null && nodesDrainedByMetadata.contains(nodeName);
    drained |= addAll(matchedDrains, nodeName == null ? null : drainsByNode.get(nodeName));
    drained |= addAll(matchedDrains, pod == null ? null : drainsByPod.get(pod));
    drained |= addAll(matchedDrains, drainsByBackend.get(new BackendKey(namespace, address, port)));
    return drained;
  }

  private static boolean addAll(List<ObjectKey> into, List<ObjectKey> drains) {
    if (drains == null || drains.isEmpty()) {
      return false;
    }
    into.addAll(drains);
    return true;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DrainIndex other
        && nodesDrainedByMetadata.equals(other.nodesDrainedByMetadata)
        && drainsByNode.equals(other.drainsByNode)
        && drainsByPod.equals(other.drainsByPod)
        && drainsByBackend.equals(other.drainsByBackend);
  }

  @Override
  public int hashCode() {
    return Objects.hash(nodesDrainedByMetadata, drainsByNode, drainsByPod, drainsByBackend);
  }
}
