package io.nodelb.api.v1alpha1;

/** Whether all flows of one client go to the same backend. */
public enum SessionPersistence {
  None,
  /** Hash the client address only (Maglev only). */
  SourceIP
}
