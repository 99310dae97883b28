package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class IdleTimeouts {
  /** A zero timeout would forget every flow at once; the data plane works in whole seconds, rounded up. */
  public static final String NOT_ZERO = "must be longer than zero; leave it out for the default";
  /** With the 32-character bound, which keeps the API server's cost estimate of the rule small. */
  private static final String ANY_NON_ZERO_DIGIT = "self.matches('[1-9]')";

  @Pattern(ApiPatterns.DURATION)
  @Size(max = 32)
  @ValidationRule(value = ANY_NON_ZERO_DIGIT, message = NOT_ZERO)
  @JsonPropertyDescription("Idle time after which an established TCP flow is forgotten, e.g. 1h (whole seconds, rounded up). Default 15m.")
  public String tcpEstablished;

  @Pattern(ApiPatterns.DURATION)
  @Size(max = 32)
  @ValidationRule(value = ANY_NON_ZERO_DIGIT, message = NOT_ZERO)
  @JsonPropertyDescription("Idle time after which a closing TCP flow (FIN/RST seen) is forgotten, e.g. 30s. Default 10s.")
  public String tcpClosing;

  @Pattern(ApiPatterns.DURATION)
  @Size(max = 32)
  @ValidationRule(value = ANY_NON_ZERO_DIGIT, message = NOT_ZERO)
  @JsonPropertyDescription("Idle time after which a UDP flow is forgotten, e.g. 5m. Default 60s.")
  public String udp;
}
