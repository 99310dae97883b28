package io.nodelb.model.compiler;

import com.google.protobuf.ByteString;
import io.nodelb.model.input.Durations;
import io.nodelb.model.input.IpLiterals;
import io.nodelb.dataplane.v1alpha1.IcmpEcho;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.model.input.LoadBalancerInput;
import io.nodelb.model.input.LoadBalancerInput.IdleTimeouts;
import io.nodelb.model.input.LoadBalancerInput.ListenerSpec;
import io.nodelb.model.input.LoadBalancerInput.SniRoute;
import io.nodelb.model.input.LoadBalancerInput.SourceRoute;
import io.nodelb.dataplane.v1alpha1.ProxyProtocol;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;

/** Turns one LoadBalancer into snapshot listeners. Pure. */
final class LoadBalancerCompiler {
  private LoadBalancerCompiler() {}

  static final String KIND = "LoadBalancer";

  /**
   * @param groups the compiled group of a key, or null when no such TargetGroup exists; a compiled
   *     group whose {@code group()} is null exists but cannot be programmed
   */
  static CompiledLoadBalancer compile(LoadBalancerInput input, Function<ObjectKey, CompiledGroup> groups) {
    ObjectKey key = input.key();
    List<Problem> problems = new ArrayList<>(ApiValidation.problems(KIND, key, input.spec()));
    Set<ObjectKey> referenced = new TreeSet<>();
    input.targetGroupNames().forEach(name -> referenced.add(new ObjectKey(key.namespace(), name)));
    if (!problems.isEmpty()) {
      return new CompiledLoadBalancer(key, List.of(), Set.of(), new TreeMap<>(input.nodeSelector()), referenced, false,
          List.copyOf(problems));
    }
    LoadBalancerInput.Spec spec = input.bound();
    Map<String, String> selector = new TreeMap<>(spec.nodeSelector());

    List<CompiledLoadBalancer.CompiledListener> listeners = new ArrayList<>();
    Set<ObjectKey> used = new TreeSet<>();
    List<String> interfaces = spec.interfaces().stream().sorted().distinct().toList();
    for (int i = 0; i < spec.listeners().size(); i++) {
      ListenerSpec l = spec.listeners().get(i);
      String field = "spec.listeners[" + i + "]";
      ObjectKey defaultGroup = new ObjectKey(key.namespace(), l.targetGroup());
      if (!usable(key, defaultGroup, groups, field + ".targetGroup", problems)
          || !servesFamily(key, l.address(), groups.apply(defaultGroup), field + ".targetGroup", problems)) {
        continue;
      }
      used.add(defaultGroup);
      Listener.Builder listener = Listener.newBuilder()
          .setName(key + "/" + l.name())
          .setPort(l.port())
          .setProtocol(l.udp() ? io.nodelb.dataplane.v1alpha1.Protocol.UDP
              : io.nodelb.dataplane.v1alpha1.Protocol.TCP)
          .setNatMode(spec.fullNat() ? io.nodelb.dataplane.v1alpha1.NatMode.FULL_NAT
              : io.nodelb.dataplane.v1alpha1.NatMode.DNAT)
          .setTargetGroup(defaultGroup.toString())
          .setFlowEventsDisabled(!l.flowEvents())
          .addAllInterfaces(interfaces);
      if (l.address() != null) {
        listener.setAddress(Addresses.bytes(l.address()));
        listener.setIcmpEcho(icmpEcho(spec.icmpEcho()));
      }
      if (spec.fullNat() && spec.snatAddress() != null) {
        listener.setSnatAddress(Addresses.bytes(spec.snatAddress()));
      }
      if (spec.idleTimeouts() != null) {
        listener.setIdleTimeouts(idleTimeouts(spec.idleTimeouts()));
      }
      if (l.rateLimit() != null) {
        listener.setRateLimit(rateLimit(l.rateLimit()));
      }
      List<io.nodelb.dataplane.v1alpha1.SourceRoute> routes = new ArrayList<>();
      List<SourceRoute> specRoutes = l.sourceRoutes();
      for (int r = 0; r < specRoutes.size(); r++) {
        SourceRoute route = specRoutes.get(r);
        ObjectKey routeGroup = new ObjectKey(key.namespace(), route.targetGroup());
        String routeField = field + ".sourceRoutes[" + r + "].targetGroup";
        if (!usable(key, routeGroup, groups, routeField, problems)
            || !servesFamily(key, l.address(), groups.apply(routeGroup), routeField, problems)) {
          continue;
        }
        used.add(routeGroup);
        IpLiterals.Prefix prefix = IpLiterals.parseCidr(route.cidr());
        routes.add(io.nodelb.dataplane.v1alpha1.SourceRoute.newBuilder()
            .setPrefix(ByteString.copyFrom(prefix.network()))
            .setPrefixLength(prefix.length())
            .setTargetGroup(routeGroup.toString())
            .build());
      }
      routes.sort(Comparator.comparing(io.nodelb.dataplane.v1alpha1.SourceRoute::getPrefix, Addresses.ORDER)
          .thenComparingInt(io.nodelb.dataplane.v1alpha1.SourceRoute::getPrefixLength));
      List<SniRoute> sniRoutes = l.sniRoutes();
      for (int r = 0; r < sniRoutes.size(); r++) {
        SniRoute route = sniRoutes.get(r);
        ObjectKey routeGroup = new ObjectKey(key.namespace(), route.targetGroup());
        String routeField = field + ".tls.sniRoutes[" + r + "].targetGroup";
        if (!usable(key, routeGroup, groups, routeField, problems)
            || !servesFamily(key, l.address(), groups.apply(routeGroup), routeField, problems)) {
          continue;
        }
        used.add(routeGroup);
        // The names in the API's order: a snapshot is compared by its bytes.
        listener.addSniRoutes(io.nodelb.dataplane.v1alpha1.SniRoute.newBuilder()
            .addAllServerNames(route.serverNames())
            .setTargetGroup(routeGroup.toString()));
      }
      if (l.proxyProtocol() != null) {
        listener.setProxyProtocol("V1".equals(l.proxyProtocol()) ? ProxyProtocol.PROXY_PROTOCOL_V1
            : ProxyProtocol.PROXY_PROTOCOL_V2);
      }
      Listener built = listener.addAllSourceRoutes(routes).build();
      listeners.add(CompiledLoadBalancer.CompiledListener.of(built));
    }
    listeners.sort(Comparator.comparing(c -> c.listener().getName()));
    return new CompiledLoadBalancer(key, List.copyOf(listeners), used, selector, referenced, true, List.copyOf(problems));
  }

  /** The LoadBalancer's icmpEcho, for a listener with an address (the API allows Pass only without one). */
  private static IcmpEcho icmpEcho(String echo) {
    return switch (echo == null ? "Pass" : echo) {
      case "Reply" -> IcmpEcho.ICMP_ECHO_REPLY;
      case "Drop" -> IcmpEcho.ICMP_ECHO_DROP;
      default -> IcmpEcho.ICMP_ECHO_PASS;
    };
  }

  /**
   * The API's defaults filled in: each burst its rate, one bucket per IPv4 address and per IPv6 /64; a
   * limit left out stays 0 (none).
   */
  private static io.nodelb.dataplane.v1alpha1.RateLimit rateLimit(LoadBalancerInput.RateLimit r) {
    io.nodelb.dataplane.v1alpha1.RateLimit.Builder limit = io.nodelb.dataplane.v1alpha1.RateLimit.newBuilder()
        .setSourcePrefixLength(r.sourcePrefixLength() != null ? r.sourcePrefixLength() : 32)
        .setSourcePrefixLengthV6(r.sourcePrefixLengthV6() != null ? r.sourcePrefixLengthV6() : 64);
    if (r.newConnectionsPerSecond() != null) {
      limit.setNewConnectionsPerSecond(r.newConnectionsPerSecond())
          .setBurst(r.burst() != null ? r.burst() : r.newConnectionsPerSecond());
    }
    if (r.packetsPerSecond() != null) {
      limit.setPacketsPerSecond(r.packetsPerSecond())
          .setPacketBurst(r.packetBurst() != null ? r.packetBurst() : r.packetsPerSecond());
    }
    return limit.build();
  }

  private static boolean usable(ObjectKey lb, ObjectKey group, Function<ObjectKey, CompiledGroup> groups, String field,
      List<Problem> problems) {
    CompiledGroup compiled = groups.apply(group);
    if (compiled == null) {
      problems.add(new Problem(KIND, lb.toString(), field, Problem.TARGET_GROUP_NOT_FOUND,
          "TargetGroup " + group + " not found; create it or fix the name"));
      return false;
    }
    if (compiled.group() == null) {
      problems.add(new Problem(KIND, lb.toString(), field, Problem.TARGET_GROUP_INVALID,
          "TargetGroup " + group + " is invalid: " + compiled.problems().getFirst().message()));
      return false;
    }
    return true;
  }

  /**
   * A listener on an IPv6 address whose group has only IPv4 backends (or the reverse) would take
   * every connection and lose it. Refused when the group's backends are all static; a group of
   * Services may gain endpoints of that family, so its listener is programmed and the problem
   * reported until it has one.
   */
  private static boolean servesFamily(ObjectKey lb, String listenerAddress, CompiledGroup compiled, String field,
      List<Problem> problems) {
    if (listenerAddress == null) {
      return true;
    }
    int length = Addresses.bytes(listenerAddress).size();
    Set<Integer> lengths = compiled.addressLengths();
    if (lengths.contains(length) || (compiled.namesServices() && lengths.isEmpty())) {
      return true; // a group of Services without endpoints says so in its own status
    }
    String family = length == 4 ? "IPv4" : "IPv6";
    String lost = "connection to the " + family + " listener address " + listenerAddress;
    if (compiled.namesServices()) {
      problems.add(new Problem(KIND, lb.toString(), field, Problem.NO_ENDPOINT_OF_FAMILY,
          "TargetGroup " + compiled.key() + " has no " + family + " backend now, so every " + lost
              + " is dropped until its Services have " + family + " endpoints (a dual-stack Service) or it gets an "
              + family + " backend"));
      return true;
    }
    problems.add(new Problem(KIND, lb.toString(), field, Problem.NO_BACKEND_OF_FAMILY,
        "TargetGroup " + compiled.key() + " has no " + family + " backend, so every " + lost
            + " would be lost; add an " + family + " backend to it or name a TargetGroup that has one"));
    return false;
  }

  private static io.nodelb.dataplane.v1alpha1.IdleTimeouts idleTimeouts(IdleTimeouts t) {
    var out = io.nodelb.dataplane.v1alpha1.IdleTimeouts.newBuilder();
    if (t.tcpEstablished() != null) {
      out.setTcpEstablishedSeconds(Durations.toSecondsCeil(t.tcpEstablished()));
    }
    if (t.tcpClosing() != null) {
      out.setTcpClosingSeconds(Durations.toSecondsCeil(t.tcpClosing()));
    }
    if (t.udp() != null) {
      out.setUdpSeconds(Durations.toSecondsCeil(t.udp()));
    }
    return out.build();
  }
}
