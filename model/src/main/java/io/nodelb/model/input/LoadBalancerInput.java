package io.nodelb.model.input;

import io.nodelb.model.compiler.ObjectKey;
import java.util.List;
import java.util.Map;

/**
 * What the compiler reads of a LoadBalancer: its spec as the API has it (a document the CRD's schema
 * and rules check), bound to {@link Spec} once checked. Built from a Fabric8 object by the operator,
 * from a YAML document by the standalone agent.
 */
public record LoadBalancerInput(ObjectKey key, Revision revision, Map<String, Object> spec) {

  /** @param icmpEcho Pass, Reply or Drop; null when left out (Pass) */
  public record Spec(Map<String, String> nodeSelector, List<String> interfaces, String natMode, String snatAddress,
      List<ListenerSpec> listeners, IdleTimeouts idleTimeouts, String icmpEcho) {
    public boolean fullNat() {
      return "FullNAT".equals(natMode);
    }
  }

  public record ListenerSpec(String name, String address, int port, String protocol, String targetGroup,
      List<SourceRoute> sourceRoutes, boolean flowEvents, RateLimit rateLimit, List<SniRoute> sniRoutes,
      String proxyProtocol) {
    public boolean udp() {
      return "UDP".equals(protocol);
    }
  }

  public record SourceRoute(String cidr, String targetGroup) {}

  public record SniRoute(List<String> serverNames, String targetGroup) {}

  /**
   * Every field null when left out (the defaults are the compiler's); the API has at least one of
   * newConnectionsPerSecond and packetsPerSecond.
   */
  public record RateLimit(Integer newConnectionsPerSecond, Integer burst, Integer sourcePrefixLength,
      Integer sourcePrefixLengthV6, Integer packetsPerSecond, Integer packetBurst) {}

  public record IdleTimeouts(String tcpEstablished, String tcpClosing, String udp) {}

  /** The spec bound to records; call only on a spec the CRD's schema accepted. */
  public Spec bound() {
    Map<String, Object> s = spec;
    return new Spec(Fields.stringMap(s, "nodeSelector"), Fields.strings(s, "interfaces"), Fields.string(s, "natMode"),
        Fields.string(s, "snatAddress"), Fields.list(s, "listeners", LoadBalancerInput::listener),
        Fields.orNull(Fields.object(s, "idleTimeouts"), t -> new IdleTimeouts(Fields.string(t, "tcpEstablished"),
            Fields.string(t, "tcpClosing"), Fields.string(t, "udp"))),
        Fields.string(s, "icmpEcho"));
  }

  /** The TargetGroups the listeners name, read before validation (tolerant of anything): what to watch. */
  public List<String> targetGroupNames() {
    List<String> names = new java.util.ArrayList<>();
    for (Map<String, Object> l : Fields.list(spec == null ? Map.of() : spec, "listeners", m -> m)) {
      String name = Fields.string(l, "targetGroup");
      if (name != null) {
        names.add(name);
        Fields.list(l, "sourceRoutes", r -> Fields.string(r, "targetGroup")).forEach(names::add);
        Map<String, Object> tls = Fields.object(l, "tls");
        if (tls != null) {
          Fields.list(tls, "sniRoutes", r -> Fields.string(r, "targetGroup")).forEach(names::add);
        }
      }
    }
    return names;
  }

  /** The node selector, read before validation. */
  public Map<String, String> nodeSelector() {
    return Fields.stringMap(spec == null ? Map.of() : spec, "nodeSelector");
  }

  private static ListenerSpec listener(Map<String, Object> l) {
    return new ListenerSpec(Fields.string(l, "name"), Fields.string(l, "address"), Fields.integer(l, "port"),
        Fields.string(l, "protocol"), Fields.string(l, "targetGroup"),
        Fields.list(l, "sourceRoutes", r -> new SourceRoute(Fields.string(r, "cidr"), Fields.string(r, "targetGroup"))),
        !Boolean.FALSE.equals(l.get("flowEvents")),
        Fields.orNull(Fields.object(l, "rateLimit"), r -> new RateLimit(Fields.integer(r, "newConnectionsPerSecond"),
            Fields.integer(r, "burst"), Fields.integer(r, "sourcePrefixLength"),
            Fields.integer(r, "sourcePrefixLengthV6"), Fields.integer(r, "packetsPerSecond"),
            Fields.integer(r, "packetBurst"))),
        Fields.list(java.util.Objects.requireNonNullElse(Fields.object(l, "tls"), Map.of()), "sniRoutes",
            r -> new SniRoute(Fields.strings(r, "serverNames"), Fields.string(r, "targetGroup"))),
        Fields.string(l, "proxyProtocol"));
  }
}
