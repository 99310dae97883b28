package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(
    value = "(has(self.backends) && size(self.backends) > 0) || (has(self.services) && size(self.services) > 0)",
    message = TargetGroupSpec.NO_BACKENDS)
@ValidationRule(
    value = "(has(self.services) && size(self.services) > 0) || !has(self.backends)"
        + " || self.backends.exists(b, !has(b.weight) || b.weight > 0)",
    message = TargetGroupSpec.ALL_WEIGHTS_ZERO)
@ValidationRule(
    value = "!has(self.backends) || self.backends.all(b, self.backends.exists_one(c, c.address == b.address && c.port == b.port))",
    message = TargetGroupSpec.DUPLICATE_BACKEND)
@ValidationRule(
    value = "!has(self.services) || self.services.all(s, self.services.exists_one(t, t.name == s.name && t.port == s.port))",
    message = TargetGroupSpec.DUPLICATE_SERVICE)
@ValidationRule(
    value = "!has(self.sessionPersistence) || self.sessionPersistence == 'None' || !has(self.algorithm) || self.algorithm == 'Maglev'",
    message = TargetGroupSpec.PERSISTENCE_NEEDS_MAGLEV)
public class TargetGroupSpec {
  public static final String NO_BACKENDS = "at least one of backends or services is required";
  public static final String ALL_WEIGHTS_ZERO =
      "with only static backends, at least one backend needs a weight above 0";
  public static final String DUPLICATE_BACKEND = "backends must not repeat an address and port";
  public static final String DUPLICATE_SERVICE = "services must not repeat a name and port";
  public static final String PERSISTENCE_NEEDS_MAGLEV = "sessionPersistence SourceIP needs algorithm Maglev";

  @Size(max = 256)
  @JsonPropertyDescription("Static backend addresses, used as they are (no Kubernetes lookup).")
  public List<StaticBackend> backends = new ArrayList<>();

  @Size(max = 16)
  @JsonPropertyDescription("Services in this namespace whose EndpointSlices give the backends (never DNS).")
  public List<ServiceBackend> services = new ArrayList<>();

  @Default("Maglev")
  @JsonPropertyDescription("Maglev (weighted consistent hashing, the default) or LeastConnections.")
  public Algorithm algorithm = Algorithm.Maglev;

  @Default("None")
  @JsonPropertyDescription("None, or SourceIP: every flow of one client goes to the same backend (Maglev only).")
  public SessionPersistence sessionPersistence = SessionPersistence.None;

  @JsonPropertyDescription("Active health check of every backend, run by the agent on each node. Unset: no active check.")
  public HealthCheckSpec healthCheck;

  @JsonPropertyDescription("Takes a backend out of new flows after repeated failures. Unset: no breaker.")
  public CircuitBreaker circuitBreaker;

  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("Not implemented yet: a TargetGroup that sets it is not accepted (reason Unsupported)."
      + " Meant as how long a draining backend keeps its flows before they are cut.")
  public String drainTimeout;
}
