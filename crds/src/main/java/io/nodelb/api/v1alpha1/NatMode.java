package io.nodelb.api.v1alpha1;

/** How a LoadBalancer rewrites packets. */
public enum NatMode {
  /** Destination rewritten, client address kept: replies must route back through the node. */
  DNAT,
  /** Source rewritten too (to a node address): backends anywhere reply to the node. */
  FullNAT
}
