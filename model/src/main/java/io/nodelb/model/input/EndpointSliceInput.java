package io.nodelb.model.input;

import io.nodelb.model.compiler.ObjectKey;
import java.util.List;

/**
 * What the compiler reads of an EndpointSlice.
 *
 * @param serviceName the Service it belongs to (label kubernetes.io/service-name), or null
 * @param addressType IPv4, IPv6 or FQDN
 * @param ports the Service ports' names and protocols with the target port numbers they resolve to here
 */
public record EndpointSliceInput(ObjectKey key, Revision revision, String serviceName, String addressType,
    List<ServiceInput.Port> ports, List<Endpoint> endpoints) {

  /**
   * One endpoint. Conditions are null when unknown (the API's meaning: ready and serving, not terminating).
   *
   * @param pod the Pod it is, when its targetRef names one
   */
  public record Endpoint(List<String> addresses, Boolean ready, Boolean serving, Boolean terminating, String nodeName,
      ObjectKey pod) {
    public Endpoint {
      addresses = addresses == null ? List.of() : List.copyOf(addresses);
    }
  }

  public EndpointSliceInput {
    ports = ports == null ? List.of() : List.copyOf(ports);
    endpoints = endpoints == null ? List.of() : List.copyOf(endpoints);
  }
}
