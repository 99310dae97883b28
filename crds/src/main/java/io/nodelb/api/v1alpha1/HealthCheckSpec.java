package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "duration(has(self.timeout) ? self.timeout : '3s') < duration(has(self.interval) ? self.interval : '10s')",
    message = HealthCheckSpec.TIMEOUT_NOT_BELOW_INTERVAL)
@ValidationRule(
    value = "!has(self.path) || (has(self.type) && self.type != 'TCP')",
    message = HealthCheckSpec.PATH_NEEDS_HTTP)
@ValidationRule(
    value = "!has(self.expectedCodes) || (has(self.type) && self.type != 'TCP')",
    message = HealthCheckSpec.CODES_NEED_HTTP)
@ValidationRule(
    value = "!has(self.host) || (has(self.type) && self.type != 'TCP')",
    message = HealthCheckSpec.HOST_NEEDS_HTTP)
@ValidationRule(
    value = "!has(self.caCertificate) || (has(self.type) && self.type == 'HTTPS')",
    message = HealthCheckSpec.CA_NEEDS_HTTPS)
public class HealthCheckSpec {
  public static final String TIMEOUT_NOT_BELOW_INTERVAL = "healthCheck timeout must be shorter than its interval";
  public static final String PATH_NEEDS_HTTP = "healthCheck path is only used with type HTTP or HTTPS";
  public static final String CODES_NEED_HTTP = "healthCheck expectedCodes is only used with type HTTP or HTTPS";
  public static final String HOST_NEEDS_HTTP = "healthCheck host is only used with type HTTP or HTTPS";
  public static final String CA_NEEDS_HTTPS = "healthCheck caCertificate is only used with type HTTPS";

  @Default("TCP")
  @JsonPropertyDescription("TCP (connect), HTTP or HTTPS (GET path, expect one of expectedCodes).")
  public HealthCheckType type = HealthCheckType.TCP;

  @Size(max = 32)
  @Default("10s")
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("Time between two checks of a backend, e.g. 10s.")
  public String interval = "10s";

  @Size(max = 32)
  @Default("3s")
  @Pattern(ApiPatterns.DURATION)
  @JsonPropertyDescription("How long one check may take; shorter than interval.")
  public String timeout = "3s";

  @Default("2")
  @Min(1)
  @Max(100)
  @JsonPropertyDescription("Consecutive successes that make an unhealthy backend healthy.")
  public Integer healthyThreshold = 2;

  @Default("3")
  @Min(1)
  @Max(100)
  @JsonPropertyDescription("Consecutive failures that make a healthy backend unhealthy.")
  public Integer unhealthyThreshold = 3;

  @Pattern("^/.*$")
  @JsonPropertyDescription("HTTP/HTTPS only: the path to GET, e.g. /healthz.")
  public String path;

  @Pattern(ApiPatterns.STATUS_CODES)
  @JsonPropertyDescription("HTTP/HTTPS only: status codes that count as healthy, e.g. 200-399 or 200,204. Default 200-399.")
  public String expectedCodes;

  @Min(1)
  @Max(65535)
  @JsonPropertyDescription("Port to probe instead of the backend's own port.")
  public Integer port;

  @Size(max = 253)
  @Pattern("^[A-Za-z0-9.:\\[\\]-]+$")
  @JsonPropertyDescription("HTTP/HTTPS only: the Host header and TLS server name, e.g. web.example.com. Default: the backend's address.")
  public String host;

  @Size(max = 65536)
  @Pattern("^-----BEGIN CERTIFICATE-----[\\s\\S]*-----END CERTIFICATE-----\\s*$")
  @JsonPropertyDescription("HTTPS only: PEM certificate(s) of the CA the backend's certificate must chain to"
      + " (and match host, when set). Unset: TLS without verification.")
  public String caCertificate;
}
