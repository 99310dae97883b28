package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.ValidationRule;

/**
 * Token buckets per client source prefix, enforced by the XDP program: on a listener's new
 * connections (new flows, for UDP), where packets of open connections are never refused, and
 * optionally on every packet a source sends to the listener.
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(value = "has(self.newConnectionsPerSecond) || has(self.packetsPerSecond)",
    message = RateLimit.NO_LIMIT)
@ValidationRule(value = "!has(self.burst) || has(self.newConnectionsPerSecond)", message = RateLimit.BURST_WITHOUT_RATE)
@ValidationRule(value = "!has(self.packetBurst) || has(self.packetsPerSecond)",
    message = RateLimit.PACKET_BURST_WITHOUT_RATE)
public class RateLimit {
  /** Bounds that keep the data plane's integer arithmetic (tokens in nanoseconds of refill) far from overflow. */
  public static final int MAX_RATE = 1_000_000;
  public static final int MAX_PACKET_RATE = 10_000_000;
  public static final String NO_LIMIT =
      "rateLimit needs newConnectionsPerSecond, packetsPerSecond or both; remove rateLimit for no limit";
  public static final String BURST_WITHOUT_RATE = "burst sizes the bucket of newConnectionsPerSecond: set that too";
  public static final String PACKET_BURST_WITHOUT_RATE =
      "packetBurst sizes the bucket of packetsPerSecond: set that too";

  @Min(1)
  @Max(MAX_RATE)
  @JsonPropertyDescription("New connections per second each client source prefix may open, 1-1000000: the bucket's"
      + " refill rate. Connections over it are dropped at their first packet (the client retries or times out)."
      + " Unset: no limit of new connections (packetsPerSecond then).")
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

  @Min(1)
  @Max(MAX_PACKET_RATE)
  @JsonPropertyDescription("Packets per second each client source prefix may send to the listener, 1-10000000:"
      + " the refill rate of a second bucket, taken by every packet, those of open connections too (a source over"
      + " it loses packets, and its connections slow down or break). Unset: no packet limit.")
  public Integer packetsPerSecond;

  @Min(1)
  @Max(MAX_PACKET_RATE)
  @JsonPropertyDescription("How many packets a source prefix may send at once after a quiet spell, 1-10000000."
      + " Default: packetsPerSecond.")
  public Integer packetBurst;
}
