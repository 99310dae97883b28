package io.nodelb.api.v1alpha1;

/** What an active health check does against a backend. */
public enum HealthCheckType {
  /** A TCP connect. */
  TCP,
  /** An HTTP GET of the path, answered with one of the expected codes. */
  HTTP,
  /** Like HTTP over TLS (the certificate is not verified). */
  HTTPS
}
