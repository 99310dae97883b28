package io.nodelb.api.v1alpha1;

/** How a TargetGroup picks a backend for a new flow. */
public enum Algorithm {
  /** Weighted Maglev consistent hashing: the same flow lands on the same backend on every node. */
  Maglev,
  /** The backend with the fewest live connections on this node, weighted. */
  LeastConnections
}
