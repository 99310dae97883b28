package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

public class BackendRef {
  @Required
  @Size(max = 45)
  @Pattern(ApiPatterns.IP)
  @ValidationRule(value = "isIP(self)", message = "address must be an IPv4 or IPv6 address")
  @JsonPropertyDescription("IPv4 or IPv6 address of the backend.")
  public String address;

  @Required
  @Min(1)
  @Max(65535)
  @JsonPropertyDescription("Port of the backend, 1-65535.")
  public Integer port;

  public BackendRef() {}

  public BackendRef(String address, int port) {
    this.address = address;
    this.port = port;
  }
}
