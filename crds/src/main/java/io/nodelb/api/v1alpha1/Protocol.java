package io.nodelb.api.v1alpha1;

/** Layer-4 protocol of a listener. */
public enum Protocol {
  TCP,
  UDP
}
