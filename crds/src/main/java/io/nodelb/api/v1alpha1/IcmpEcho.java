package io.nodelb.api.v1alpha1;

/** What an ICMP echo request to a LoadBalancer's listener address gets. */
public enum IcmpEcho {
  /** To the node's network stack, as without nodelb. */
  Pass,
  /** Answered by the XDP program, from the listener address. */
  Reply,
  /** Dropped by the XDP program (counted). */
  Drop
}
