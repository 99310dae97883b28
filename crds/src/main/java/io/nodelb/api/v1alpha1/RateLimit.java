package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;

/**
 * A token bucket per client source prefix on a listener's new connections (new flows, for UDP),
 * enforced by the XDP program: packets of open connections are never refused.
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class RateLimit {
  /** Bounds that keep the data plane's integer arithmetic (tokens in nanoseconds of refill) far from overflow. */
  public static final int MAX_RATE = 1_000_000;

  @Required
  @Min(1)
  @Max(MAX_RATE)
  @JsonPropertyDescription("New connections per second each client source prefix may open, 1-1000000: the bucket's"
      + " refill rate. Connections over it are dropped at their first packet (the client retries or times out).")
  public Integer newConnectionsPerSecond;

  @Min(1)
  @Max(MAX_RATE)
  @JsonPropertyDescription("How many new connections a source prefix may open at once after a quiet spell: the"
      + " bucket's size, 1-1000000. Default: newConnectionsPerSecond.")
  public Integer burst;

  @Default("32")
  @Min(1)
  @Max(32)
  @JsonPropertyDescription("IPv4 clients share a bucket per prefix of this length, 1-32; 32 (the default): one per"
      + " address.")
  public Integer sourcePrefixLength = 32;

  @Default("64")
  @Min(1)
  @Max(128)
  @JsonPropertyDescription("IPv6 clients share a bucket per prefix of this length, 1-128; 64 (the default): one per"
      + " /64, what a single host usually holds.")
  public Integer sourcePrefixLengthV6 = 64;
}
