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
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(
    value = "!has(self.address) || !has(self.sourceRoutes)"
        + " || self.sourceRoutes.all(r, r.cidr.contains(':') == self.address.contains(':'))",
    message = ListenerSpec.ROUTE_FAMILY_MISMATCH)
@ValidationRule(
    value = "!has(self.sourceRoutes) || self.sourceRoutes.all(r, self.sourceRoutes.exists_one(s, s.cidr == r.cidr))",
    message = ListenerSpec.DUPLICATE_ROUTE)
@ValidationRule(
    value = "!has(self.tls) || !has(self.protocol) || self.protocol == 'TCP'",
    message = ListenerSpec.TLS_NEEDS_TCP)
@ValidationRule(
    value = "!has(self.proxyProtocol) || !has(self.protocol) || self.protocol == 'TCP'",
    message = ListenerSpec.PROXY_NEEDS_TCP)
@ValidationRule(
    value = "(!has(self.tls) && !has(self.proxyProtocol))"
        + " || (!has(self.rateLimit) && (!has(self.sourceRoutes) || size(self.sourceRoutes) == 0))",
    message = ListenerSpec.STREAM_WITHOUT_XDP_FEATURES)
public class ListenerSpec {
  public static final String STREAM_WITHOUT_XDP_FEATURES =
      "rateLimit and sourceRoutes are not available on a listener with tls or proxyProtocol";
  public static final String TLS_NEEDS_TCP = "tls (server-name routing) is only for TCP listeners";
  public static final String PROXY_NEEDS_TCP = "proxyProtocol is only for TCP listeners";
  public static final String ROUTE_FAMILY_MISMATCH =
      "sourceRoutes must use the address family of the listener address";
  public static final String DUPLICATE_ROUTE = "sourceRoutes must not repeat a cidr";

  @Required
  @Pattern(ApiPatterns.DNS_LABEL)
  @Size(max = 63)
  @JsonPropertyDescription("Name of the listener, unique in this LoadBalancer (a DNS label).")
  public String name;

  @Size(max = 45)
  @Pattern(ApiPatterns.IP)
  @ValidationRule(value = "isIP(self)", message = "address must be an IPv4 or IPv6 address")
  @ValidationRule(value = "!isIP(self) || ip(self).isGlobalUnicast()", message = ApiPatterns.NOT_UNICAST)
  @JsonPropertyDescription("The virtual IP (IPv4 or IPv6), a unicast address. Empty listens on every address of"
      + " the interfaces.")
  public String address;

  @Required
  @Min(1)
  @Max(65535)
  @JsonPropertyDescription("Port the listener accepts, 1-65535.")
  public Integer port;

  @Default("TCP")
  @JsonPropertyDescription("TCP or UDP.")
  public Protocol protocol = Protocol.TCP;

  @Required
  @Pattern(ApiPatterns.DNS_SUBDOMAIN)
  @JsonPropertyDescription("Name of the TargetGroup (same namespace) that gets the traffic of clients outside every source route.")
  public String targetGroup;

  @Size(max = 32)
  @JsonPropertyDescription("Clients whose source address is in a route's cidr go to its TargetGroup; the longest prefix wins.")
  public List<SourceRoute> sourceRoutes = new ArrayList<>();

  @Default("true")
  @JsonPropertyDescription("Whether this listener's flows write flow events: the access log and the connection-duration"
      + " histograms. false costs nothing per packet.")
  public Boolean flowEvents = true;

  @JsonPropertyDescription("Limits each client source (an address, or a prefix) to a rate of new connections (open"
      + " connections are never cut by it), of packets, or both. Unset: no limit.")
  public RateLimit rateLimit;

  @JsonPropertyDescription("Route TLS connections by the server name (SNI) of their ClientHello, without terminating"
      + " TLS. The node's agent accepts the connection, reads the ClientHello (at most 16 KiB, within 5 s), then"
      + " connects to a backend of the chosen group and relays the bytes (docs/stream-listeners.md). TCP only:"
      + " refused on a UDP listener. Such a listener takes no rateLimit or sourceRoutes and writes no flow events.")
  public ListenerTls tls;

  @JsonPropertyDescription("Write a PROXY protocol header (V1: text, V2: binary) with the client's address and port"
      + " before its first byte, for backends that accept it (HAProxy accept-proxy, nginx proxy_protocol). V2 also"
      + " carries the TLS server name (PP2_TYPE_AUTHORITY) when tls is set, and a unique connection id. Unset: no"
      + " header. TCP only: refused on a UDP listener (no UDP form is offered).")
  public ProxyProtocol proxyProtocol;
}
