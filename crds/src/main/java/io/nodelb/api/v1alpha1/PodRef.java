package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

public class PodRef {
  @Required
  @Pattern(ApiPatterns.DNS_SUBDOMAIN)
  @JsonPropertyDescription("Pod name; the namespace is the BackendDrain's.")
  public String name;

  public PodRef() {}

  public PodRef(String name) {
    this.name = name;
  }
}
