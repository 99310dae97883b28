package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(
    value = "self.listeners.all(l, self.listeners.exists_one(m, m.name == l.name))",
    message = LoadBalancerSpec.DUPLICATE_LISTENER_NAME)
@ValidationRule(
    value = "self.listeners.all(l, self.listeners.exists_one(m, m.port == l.port"
        + " && (has(m.protocol) ? m.protocol : 'TCP') == (has(l.protocol) ? l.protocol : 'TCP')"
        + " && (has(m.address) ? m.address : '') == (has(l.address) ? l.address : '')))",
    message = LoadBalancerSpec.DUPLICATE_LISTENER_ENDPOINT)
@ValidationRule(
    value = "!has(self.snatAddress) || self.natMode == 'FullNAT'",
    message = LoadBalancerSpec.SNAT_NEEDS_FULLNAT)
@ValidationRule(
    value = "!has(self.icmpEcho) || self.icmpEcho == 'Pass' || self.listeners.all(l, has(l.address))",
    message = LoadBalancerSpec.ICMP_ECHO_NEEDS_ADDRESSES)
public class LoadBalancerSpec {
  public static final String DUPLICATE_LISTENER_NAME = "listener names must be unique";
  public static final String DUPLICATE_LISTENER_ENDPOINT =
      "two listeners use the same address, port and protocol";
  public static final String SNAT_NEEDS_FULLNAT = "snatAddress is only used with natMode FullNAT";
  public static final String ICMP_ECHO_NEEDS_ADDRESSES =
      "icmpEcho Reply or Drop needs an address on every listener (a listener without one serves the node's own"
          + " addresses, whose echo stays the node's)";

  @JsonPropertyDescription("Labels a node must carry to run this LoadBalancer (matchLabels); empty selects every node.")
  public Map<String, String> nodeSelector = new LinkedHashMap<>();

  @Required
  @Size(min = 1, max = 16)
  @JsonPropertyDescription("Network interfaces whose ingress carries the traffic, e.g. [eth0]. Nodes without one of them report it as failing.")
  public List<@Pattern(ApiPatterns.INTERFACE_NAME) String> interfaces = new ArrayList<>();

  @Default("DNAT")
  @JsonPropertyDescription("DNAT keeps the client address (replies must route back through the node); FullNAT also rewrites the source to a node address.")
  public NatMode natMode = NatMode.DNAT;

  @Size(max = 45)
  @Pattern(ApiPatterns.IP)
  @ValidationRule(value = "isIP(self)", message = "snatAddress must be an IPv4 or IPv6 address")
  @ValidationRule(value = "!isIP(self) || ip(self).isGlobalUnicast()", message = ApiPatterns.NOT_UNICAST)
  @JsonPropertyDescription("FullNAT only: source address for traffic to the backends. Empty uses the interface's address.")
  public String snatAddress;

  @Required
  @Size(min = 1, max = 64)
  @JsonPropertyDescription("Where traffic enters: one entry per (address, port, protocol).")
  public List<ListenerSpec> listeners = new ArrayList<>();

  @JsonPropertyDescription("How long idle flows keep their backend, per state; unset fields use the defaults. A change applies to open flows too.")
  public IdleTimeouts idleTimeouts;

  @Default("Pass")
  @JsonPropertyDescription("What an ICMP or ICMPv6 echo request (ping) to a listener address gets: Pass hands it to"
      + " the node's network stack (which answers it if the address is the node's), Reply answers it from the XDP"
      + " program with the listener address as the source, Drop drops it (counted). Applies to every listener"
      + " address; Reply and Drop need an address on every listener. LoadBalancers sharing an address should agree:"
      + " when they do not, the one whose listener name sorts first decides and the others report IcmpEchoConflict.")
  public IcmpEcho icmpEcho = IcmpEcho.Pass;
}
