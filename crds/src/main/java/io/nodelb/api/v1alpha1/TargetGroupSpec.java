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
@ValidationRule(
    value = "!has(self.leastConnectionsInterval) || (has(self.algorithm) && self.algorithm == 'LeastConnections')",
    message = TargetGroupSpec.INTERVAL_NEEDS_LEAST_CONNECTIONS)
@ValidationRule(
    value = "!has(self.leastConnectionsInterval) || duration(self.leastConnectionsInterval) >= duration('1s')",
    message = TargetGroupSpec.LEAST_CONNECTIONS_INTERVAL_TOO_SHORT)
public class TargetGroupSpec {
  public static final String NO_BACKENDS = "at least one of backends or services is required";
  public static final String ALL_WEIGHTS_ZERO =
      "with only static backends, at least one backend needs a weight above 0";
  public static final String DUPLICATE_BACKEND = "backends must not repeat an address and port";
  public static final String DUPLICATE_SERVICE = "services must not repeat a name and port";
  public static final String PERSISTENCE_NEEDS_MAGLEV = "sessionPersistence SourceIP needs algorithm Maglev";
  public static final String INTERVAL_NEEDS_LEAST_CONNECTIONS =
      "leastConnectionsInterval is only used with algorithm LeastConnections";
  public static final String LEAST_CONNECTIONS_INTERVAL_TOO_SHORT = "leastConnectionsInterval must be at least 1s";

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

  @JsonPropertyDescription("A token bucket per backend on the new connections each node sends it; over it a new"
      + " connection is refused, open ones go on. Unset: no limit.")
  public BackendRateLimit backendRateLimit;

  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("Not implemented yet: a TargetGroup that sets it is not accepted (reason Unsupported)."
      + " Meant as how long a draining backend keeps its flows before they are cut.")
  public String drainTimeout;

  @Size(max = 32)
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("A backend that becomes healthy again (or whose breaker closes) gets 25, 50, 75, then"
      + " 100 % of its weight over this window, e.g. 1m. Unset: 30s; 0s: its whole weight at once.")
  public String rampUpWindow;

  @Size(max = 32)
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("LeastConnections only: how often each node counts its live flows per backend and"
      + " moves new flows away from the busiest, e.g. 5s (the default); at least 1s.")
  public String leastConnectionsInterval;
}
