package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class IdleTimeouts {
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("Idle time after which an established TCP flow is forgotten, e.g. 1h. Default 15m.")
  public String tcpEstablished;

  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("Idle time after which a closing TCP flow (FIN/RST seen) is forgotten, e.g. 30s. Default 10s.")
  public String tcpClosing;

  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("Idle time after which a UDP flow is forgotten, e.g. 5m. Default 60s.")
  public String udp;
}
