package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

public class EndpointCounts {
  @JsonPropertyDescription("Ready endpoints: they get new flows.")
  public int ready;

  @JsonPropertyDescription("Serving but terminating endpoints: they get new flows only while none is ready.")
  public int servingTerminating;

  @JsonPropertyDescription("Terminating, not serving endpoints: they keep their flows and get no new ones.")
  public int terminating;

  @JsonProperty("static")
  @JsonPropertyDescription("Static backends from spec.backends.")
  public int staticBackends;

  public EndpointCounts() {}

  public EndpointCounts(int ready, int servingTerminating, int terminating, int staticBackends) {
    this.ready = ready;
    this.servingTerminating = servingTerminating;
    this.terminating = terminating;
    this.staticBackends = staticBackends;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof EndpointCounts other
        && ready == other.ready && servingTerminating == other.servingTerminating
        && terminating == other.terminating && staticBackends == other.staticBackends;
  }

  @Override
  public int hashCode() {
    return Objects.hash(ready, servingTerminating, terminating, staticBackends);
  }
}
