package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "(has(self.pod) ? 1 : 0) + (has(self.backend) ? 1 : 0) + (has(self.node) ? 1 : 0) == 1",
    message = BackendDrainSpec.EXACTLY_ONE_TARGET)
@ValidationRule(value = "self == oldSelf", message = BackendDrainSpec.IMMUTABLE)
public class BackendDrainSpec {
  public static final String EXACTLY_ONE_TARGET = "set exactly one of pod, backend or node";
  public static final String IMMUTABLE = "spec is immutable; delete the BackendDrain and create a new one";

  @JsonPropertyDescription("Drain the endpoints of this pod (in the BackendDrain's namespace).")
  public PodRef pod;

  @JsonPropertyDescription("Drain this address and port in every TargetGroup of this namespace.")
  public BackendRef backend;

  @JsonPropertyDescription("Drain every endpoint that runs on this node, in every namespace.")
  public NodeRef node;

  @Default("5m")
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("How long existing flows may take to finish before the drain is TimedOut, e.g. 5m.")
  public String timeout = "5m";
}
