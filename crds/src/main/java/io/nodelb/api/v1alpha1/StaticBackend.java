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

@JsonInclude(JsonInclude.Include.NON_NULL)
public class StaticBackend {
  @Required
  @Size(max = 45)
  @Pattern(ApiPatterns.IP)
  @ValidationRule(value = "isIP(self)", message = "address must be an IPv4 or IPv6 address")
  @ValidationRule(value = "!isIP(self) || ip(self).isGlobalUnicast()", message = ApiPatterns.NOT_UNICAST)
  @JsonPropertyDescription("IPv4 or IPv6 address of the backend (a literal, never a host name); a unicast"
      + " address another host can reach, not loopback, link-local, unspecified, multicast or broadcast.")
  public String address;

  @Required
  @Min(1)
  @Max(65535)
  @JsonPropertyDescription("Port of the backend, 1-65535.")
  public Integer port;

  @Default("1")
  @Min(0)
  @Max(65535)
  @JsonPropertyDescription("Share of new flows relative to the other backends; 0 takes no new flows.")
  public Integer weight = 1;

  public StaticBackend() {}

  public StaticBackend(String address, int port, int weight) {
    this.address = address;
    this.port = port;
    this.weight = weight;
  }
}
