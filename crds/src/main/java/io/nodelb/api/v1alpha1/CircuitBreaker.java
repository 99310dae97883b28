package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class CircuitBreaker {
  @Min(1)
  @JsonPropertyDescription("Live connections per backend above which it gets no new flows. Unset: no limit.")
  public Integer maxConnections;

  @Default("5")
  @Min(1)
  @JsonPropertyDescription("Consecutive failed connections (or health checks) that eject a backend.")
  public Integer consecutiveFailures = 5;

  @Default("30s")
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("How long an ejected backend gets no new flows, e.g. 30s.")
  public String ejectionDuration = "30s";
}
