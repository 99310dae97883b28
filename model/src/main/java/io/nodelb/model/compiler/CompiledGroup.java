package io.nodelb.model.compiler;

import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * One TargetGroup compiled: the same on every node, so compiled once and shared by every snapshot.
 *
 * @param group the snapshot's group, or null when the TargetGroup cannot be programmed
 * @param bytes {@code group} serialized deterministically
 * @param digest SHA-256 of {@code bytes}: the group's part of every snapshot version (see {@link Snapshots})
 * @param counts endpoints by condition, for TargetGroup status
 * @param problems what keeps (part of) the group from being programmed
 * @param drainMatches backends currently DRAINING because of each BackendDrain (a backend listed twice
 *     in the group, e.g. static and from a slice, is one backend)
 * @param namesServices whether the group takes backends from Services: then its backends come and go
 *     with the endpoints, and a family it has none of now may be served later
 */
public record CompiledGroup(
    ObjectKey key,
    TargetGroup group,
    byte[] bytes,
    byte[] digest,
    EndpointTally counts,
    List<Problem> problems,
    Map<ObjectKey, Set<BackendAddress>> drainMatches,
    boolean namesServices) {

  /** The address lengths of its backends (4, 16): the families its listeners can serve. */
  public Set<Integer> addressLengths() {
    return group == null ? Set.of()
        : group.getBackendsList().stream().map(b -> b.getAddress().size()).collect(Collectors.toUnmodifiableSet());
  }

  /** Endpoint counts of one group. */
  public record EndpointTally(int ready, int servingTerminating, int terminating, int staticBackends) {}
}
