package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;

/**
 * Per backend and node: CLOSED (serving) -> OPEN (no new flows for ejectionDuration) -> HALF_OPEN
 * (a quarter of its weight until halfOpenSuccesses successes; one failure opens it again) -> CLOSED.
 * Fed by the node's failure signals: failed health checks, and what the data plane counts.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class CircuitBreaker {
  @Min(1)
  @JsonPropertyDescription("Live connections per backend (counted by each node every few seconds) at or above"
      + " which it gets no new flows on that node. Unset: no limit.")
  public Integer maxConnections;

  @Default("5")
  @Min(1)
  @JsonPropertyDescription("Consecutive failed connections (or health checks) that eject a backend.")
  public Integer consecutiveFailures = 5;

  @Default("30s")
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("How long an ejected backend gets no new flows, e.g. 30s.")
  public String ejectionDuration = "30s";

  @Min(1)
  @Max(100)
  @JsonPropertyDescription("Percent of failed signals within window that eject a backend (once minimumVolume"
      + " signals were seen). Unset: only consecutiveFailures ejects.")
  public Integer errorRatePercent;

  @Default("10")
  @Min(1)
  @JsonPropertyDescription("Signals a window needs before errorRatePercent applies.")
  public Integer minimumVolume = 10;

  @Default("30s")
  @Size(max = 32)
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("The sliding window of errorRatePercent, e.g. 30s.")
  public String window = "30s";

  @Default("3")
  @Min(1)
  @Max(100)
  @JsonPropertyDescription("Successes in a row that close a half-open breaker.")
  public Integer halfOpenSuccesses = 3;
}
