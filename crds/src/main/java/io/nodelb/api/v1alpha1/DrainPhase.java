package io.nodelb.api.v1alpha1;

/** Where a BackendDrain stands. */
public enum DrainPhase {
  /** New flows stopped; existing flows may finish. */
  Draining,
  /** No flow left on any node (or the backend is gone everywhere). */
  Drained,
  /** The timeout passed with flows left; they are cut. */
  TimedOut,
  /** The drain was withdrawn (the annotation removed); the backend takes new flows again. */
  Cancelled
}
