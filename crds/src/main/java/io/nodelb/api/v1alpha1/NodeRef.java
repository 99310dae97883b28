package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

public class NodeRef {
  @Required
  @Pattern(ApiPatterns.DNS_SUBDOMAIN)
  @JsonPropertyDescription("Node name.")
  public String name;

  public NodeRef() {}

  public NodeRef(String name) {
    this.name = name;
  }
}
