package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.IntOrString;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "type(self.port) == int ? (self.port >= 1 && self.port <= 65535) : self.port.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
    message = ServiceBackend.BAD_PORT)
public class ServiceBackend {
  public static final String BAD_PORT = "port must be 1-65535 or the name of a port of the Service";

  @Required
  @Size(max = 253)
  @Pattern(ApiPatterns.DNS_SUBDOMAIN)
  @JsonPropertyDescription("Name of the Service in the TargetGroup's namespace.")
  public String name;

  @Required
  @JsonPropertyDescription("The Service port, by number (its port, not the targetPort) or by name; the endpoints' matching port is used.")
  public IntOrString port;

  @Default("1")
  @Min(0)
  @Max(65535)
  @JsonPropertyDescription("Weight given to each endpoint of this Service; 0 takes no new flows.")
  public Integer weight = 1;

  public ServiceBackend() {}

  public ServiceBackend(String name, IntOrString port, int weight) {
    this.name = name;
    this.port = port;
    this.weight = weight;
  }
}
