package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** One backend as the nodes' agents see it: each node checks it and keeps its own breaker. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class BackendHealthStatus {
  @JsonPropertyDescription("The backend's address.")
  public String address;

  @JsonPropertyDescription("The backend's port.")
  public int port;

  @JsonPropertyDescription("Nodes whose checks find it healthy.")
  public int healthyNodes;

  @JsonPropertyDescription("Nodes whose checks find it unhealthy.")
  public int unhealthyNodes;

  @JsonPropertyDescription("Nodes whose circuit breaker for it is open or half-open.")
  public int breakerOpenNodes;

  @JsonPropertyDescription("Why, on the first node (by name) that finds it unhealthy, e.g. \"node-a: HTTP 503\".")
  public String message;
}
