package io.nodelb.model.input;

import io.nodelb.model.compiler.ObjectKey;
import java.util.List;
import java.util.Map;

/**
 * What the compiler reads of a TargetGroup: its spec as the API has it, bound to {@link Spec} once
 * the CRD's schema and rules accepted it. Built from a Fabric8 object by the operator, from a YAML
 * document by the standalone agent.
 */
public record TargetGroupInput(ObjectKey key, Revision revision, Map<String, Object> spec) {

  public record Spec(List<StaticBackend> backends, List<ServiceBackend> services, String algorithm,
      String sessionPersistence, HealthCheck healthCheck, CircuitBreaker circuitBreaker, String drainTimeout,
      String rampUpWindow, String leastConnectionsInterval, BackendRateLimit backendRateLimit) {
    public boolean leastConnections() {
      return "LeastConnections".equals(algorithm);
    }

    public boolean sourceIpPersistence() {
      return "SourceIP".equals(sessionPersistence);
    }
  }

  public record StaticBackend(String address, int port, Integer weight) {}

  /**
   * A Service by name and port.
   *
   * @param portNumber the Service port by number, or null
   * @param portName the Service port by name, or null
   */
  public record ServiceBackend(String name, Integer portNumber, String portName, Integer weight) {}

  public record HealthCheck(String type, String interval, String timeout, Integer healthyThreshold,
      Integer unhealthyThreshold, String path, String expectedCodes, Integer port, String host,
      String caCertificate) {}

  public record CircuitBreaker(Integer maxConnections, Integer consecutiveFailures, String ejectionDuration,
      Integer errorRatePercent, Integer minimumVolume, String window, Integer halfOpenSuccesses) {}

  /** burst is null when left out (the compiler's default: the rate). */
  public record BackendRateLimit(int newConnectionsPerSecond, Integer burst) {}

  /** The spec bound to records; call only on a spec the CRD's schema accepted. */
  public Spec bound() {
    Map<String, Object> s = spec;
    return new Spec(
        Fields.list(s, "backends", b -> new StaticBackend(Fields.string(b, "address"), Fields.integer(b, "port"),
            Fields.integer(b, "weight"))),
        Fields.list(s, "services", r -> new ServiceBackend(Fields.string(r, "name"), Fields.integer(r, "port"),
            Fields.string(r, "port"), Fields.integer(r, "weight"))),
        Fields.string(s, "algorithm"), Fields.string(s, "sessionPersistence"),
        Fields.orNull(Fields.object(s, "healthCheck"), h -> new HealthCheck(Fields.string(h, "type"),
            Fields.string(h, "interval"), Fields.string(h, "timeout"), Fields.integer(h, "healthyThreshold"),
            Fields.integer(h, "unhealthyThreshold"), Fields.string(h, "path"), Fields.string(h, "expectedCodes"),
            Fields.integer(h, "port"), Fields.string(h, "host"), Fields.string(h, "caCertificate"))),
        Fields.orNull(Fields.object(s, "circuitBreaker"), c -> new CircuitBreaker(Fields.integer(c, "maxConnections"),
            Fields.integer(c, "consecutiveFailures"), Fields.string(c, "ejectionDuration"),
            Fields.integer(c, "errorRatePercent"), Fields.integer(c, "minimumVolume"), Fields.string(c, "window"),
            Fields.integer(c, "halfOpenSuccesses"))),
        Fields.string(s, "drainTimeout"), Fields.string(s, "rampUpWindow"),
        Fields.string(s, "leastConnectionsInterval"),
        Fields.orNull(Fields.object(s, "backendRateLimit"), r -> new BackendRateLimit(
            Fields.integer(r, "newConnectionsPerSecond"), Fields.integer(r, "burst"))));
  }

  /** Namespaced names of the Services this group names (read before validation: tolerant of anything). */
  public List<String> serviceNames() {
    return Fields.list(spec == null ? Map.of() : spec, "services", r -> Fields.string(r, "name")).stream()
        .filter(java.util.Objects::nonNull).toList();
  }
}
