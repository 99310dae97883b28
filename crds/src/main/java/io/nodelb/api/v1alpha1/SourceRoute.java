package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class SourceRoute {
  @Required
  @Size(max = 49)
  @Pattern(ApiPatterns.CIDR)
  @ValidationRule(value = "isCIDR(self)", message = "cidr must be an IPv4 or IPv6 prefix such as 10.0.0.0/8")
  @ValidationRule(value = "!isCIDR(self) || cidr(self) == cidr(self).masked()",
      message = "cidr must be written as its network address, without host bits (10.20.0.0/16, not 10.20.1.7/16)")
  @JsonPropertyDescription("Client prefix written as its network address, e.g. 10.20.0.0/16 or 2001:db8::/48.")
  public String cidr;

  @Required
  @Pattern(ApiPatterns.DNS_SUBDOMAIN)
  @JsonPropertyDescription("TargetGroup (same namespace) for clients in the prefix.")
  public String targetGroup;

  public SourceRoute() {}

  public SourceRoute(String cidr, String targetGroup) {
    this.cidr = cidr;
    this.targetGroup = targetGroup;
  }
}
