package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class SniRoute {
  @Required
  @Size(min = 1, max = 16)
  @JsonPropertyDescription("Server names (lower case) whose ClientHello goes to targetGroup: exact names such as"
      + " api.example.com, or a wildcard *.example.com that matches one or more labels before example.com (not"
      + " example.com itself). The client's name is compared without regard to case; an exact name wins over a"
      + " wildcard, a longer wildcard over a shorter one.")
  public List<@Size(max = 253) @Pattern(ApiPatterns.SERVER_NAME) String> serverNames = new ArrayList<>();

  @Required
  @Pattern(ApiPatterns.DNS_SUBDOMAIN)
  @JsonPropertyDescription("TargetGroup (same namespace) for these names.")
  public String targetGroup;

  public SniRoute() {}

  public SniRoute(String targetGroup, String... serverNames) {
    this.targetGroup = targetGroup;
    this.serverNames = new ArrayList<>(List.of(serverNames));
  }
}
