package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;

/**
 * A token bucket per backend on the new connections the XDP program of each node sends it: over its
 * budget a new connection is refused (not sent to another backend); open connections are never cut.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class BackendRateLimit {
  @Required
  @Min(1)
  @Max(RateLimit.MAX_RATE)
  @JsonPropertyDescription("New connections per second each backend may get from each node, 1-1000000: the"
      + " bucket's refill rate. A connection whose backend is over it is dropped at its first packet (the client"
      + " retries or times out). Every node has its own bucket: a backend may get this rate from every node.")
  public Integer newConnectionsPerSecond;

  @Min(1)
  @Max(RateLimit.MAX_RATE)
  @JsonPropertyDescription("How many new connections a backend may get at once after a quiet spell: the bucket's"
      + " size, 1-1000000. Default: newConnectionsPerSecond.")
  public Integer burst;
}
