package io.nodelb.api.v1alpha1.validation;

import io.nodelb.api.v1alpha1.ApiPatterns;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.CircuitBreaker;
import io.nodelb.api.v1alpha1.Durations;
import io.nodelb.api.v1alpha1.HealthCheckSpec;
import io.nodelb.api.v1alpha1.HealthCheckType;
import io.nodelb.api.v1alpha1.IdleTimeouts;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.NatMode;
import io.nodelb.api.v1alpha1.Algorithm;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.SessionPersistence;
import io.nodelb.api.v1alpha1.SourceRoute;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Everything the CRD's schema and CEL rules check, in Java: the operator sets Accepted=False with
 * these messages, the standalone agent refuses files with them (it has no API server in front). CEL
 * rules carry the same message text as the constants used here, so both say the same thing.
 */
public final class SpecValidator {
  private SpecValidator() {}

  private static final Pattern DNS_LABEL = Pattern.compile(ApiPatterns.DNS_LABEL);
  private static final Pattern DNS_SUBDOMAIN = Pattern.compile(ApiPatterns.DNS_SUBDOMAIN);
  private static final Pattern DURATION = Pattern.compile(ApiPatterns.DURATION);
  private static final Pattern STATUS_CODES = Pattern.compile(ApiPatterns.STATUS_CODES);
  private static final Pattern INTERFACE_NAME = Pattern.compile(ApiPatterns.INTERFACE_NAME);

  public static List<SpecProblem> validate(LoadBalancerSpec spec) {
    Problems p = new Problems();
    if (spec == null) {
      p.add("spec", "spec is required");
      return p.list;
    }
    if (spec.interfaces == null || spec.interfaces.isEmpty()) {
      p.add("spec.interfaces", "at least one interface is required, e.g. [eth0]");
    } else {
      for (int i = 0; i < spec.interfaces.size(); i++) {
        String name = spec.interfaces.get(i);
        if (name == null || !INTERFACE_NAME.matcher(name).matches()) {
          p.add("spec.interfaces[" + i + "]", "\"" + name + "\" is not an interface name (1-15 characters, no '/', ':' or spaces)");
        }
      }
    }
    NatMode natMode = spec.natMode == null ? NatMode.DNAT : spec.natMode;
    if (spec.snatAddress != null) {
      ip(p, "spec.snatAddress", spec.snatAddress, "snatAddress must be an IPv4 or IPv6 address");
      if (natMode != NatMode.FullNAT) {
        p.add("spec", LoadBalancerSpec.SNAT_NEEDS_FULLNAT);
      }
    }
    if (spec.listeners == null || spec.listeners.isEmpty()) {
      p.add("spec.listeners", "at least one listener is required");
    } else {
      Set<String> names = new HashSet<>();
      Set<String> endpoints = new HashSet<>();
      boolean duplicateName = false;
      boolean duplicateEndpoint = false;
      for (int i = 0; i < spec.listeners.size(); i++) {
        ListenerSpec listener = spec.listeners.get(i);
        String at = "spec.listeners[" + i + "]";
        if (listener == null) {
          p.add(at, "listener must not be null");
          continue;
        }
        validateListener(p, at, listener);
        duplicateName |= listener.name != null && !names.add(listener.name);
        String endpoint = Objects.toString(listener.address, "") + "|" + listener.port + "|" + listener.protocol;
        duplicateEndpoint |= !endpoints.add(endpoint);
      }
      if (duplicateName) {
        p.add("spec", LoadBalancerSpec.DUPLICATE_LISTENER_NAME);
      }
      if (duplicateEndpoint) {
        p.add("spec", LoadBalancerSpec.DUPLICATE_LISTENER_ENDPOINT);
      }
    }
    if (spec.idleTimeouts != null) {
      IdleTimeouts t = spec.idleTimeouts;
      idleTimeout(p, "spec.idleTimeouts.tcpEstablished", t.tcpEstablished);
      idleTimeout(p, "spec.idleTimeouts.tcpClosing", t.tcpClosing);
      idleTimeout(p, "spec.idleTimeouts.udp", t.udp);
    }
    return p.list;
  }

  private static void validateListener(Problems p, String at, ListenerSpec listener) {
    if (listener.name == null || listener.name.length() > 63 || !DNS_LABEL.matcher(listener.name).matches()) {
      p.add(at + ".name", "name \"" + listener.name + "\" must be a DNS label (lower-case letters, digits, '-')");
    }
    InetAddress address = null;
    if (listener.address != null) {
      address = ip(p, at + ".address", listener.address, "address must be an IPv4 or IPv6 address");
    }
    port(p, at + ".port", listener.port);
    objectName(p, at + ".targetGroup", listener.targetGroup, "targetGroup");
    if (listener.sourceRoutes == null) {
      return;
    }
    Set<String> cidrs = new HashSet<>();
    boolean familyMismatch = false;
    boolean duplicate = false;
    for (int r = 0; r < listener.sourceRoutes.size(); r++) {
      SourceRoute route = listener.sourceRoutes.get(r);
      String routeAt = at + ".sourceRoutes[" + r + "]";
      if (route == null) {
        p.add(routeAt, "route must not be null");
        continue;
      }
      IpLiterals.Prefix prefix = IpLiterals.parseCidr(route.cidr);
      if (prefix == null) {
        p.add(routeAt + ".cidr", "cidr must be an IPv4 or IPv6 prefix such as 10.0.0.0/8");
      }
      objectName(p, routeAt + ".targetGroup", route.targetGroup, "targetGroup");
      if (address != null && route.cidr != null) {
        familyMismatch |= route.cidr.contains(":") != listener.address.contains(":");
      }
      duplicate |= route.cidr != null && !cidrs.add(route.cidr);
    }
    if (familyMismatch) {
      p.add(at, ListenerSpec.ROUTE_FAMILY_MISMATCH);
    }
    if (duplicate) {
      p.add(at, ListenerSpec.DUPLICATE_ROUTE);
    }
  }

  public static List<SpecProblem> validate(TargetGroupSpec spec) {
    Problems p = new Problems();
    if (spec == null) {
      p.add("spec", "spec is required");
      return p.list;
    }
    List<StaticBackend> backends = spec.backends == null ? List.of() : spec.backends;
    List<ServiceBackend> services = spec.services == null ? List.of() : spec.services;
    if (backends.isEmpty() && services.isEmpty()) {
      p.add("spec", TargetGroupSpec.NO_BACKENDS);
    }
    Set<String> seenBackends = new HashSet<>();
    boolean anyWeight = false;
    boolean duplicate = false;
    for (int i = 0; i < backends.size(); i++) {
      StaticBackend b = backends.get(i);
      String at = "spec.backends[" + i + "]";
      if (b == null) {
        p.add(at, "backend must not be null");
        continue;
      }
      InetAddress address = ip(p, at + ".address", b.address, "address must be an IPv4 or IPv6 address");
      port(p, at + ".port", b.port);
      weight(p, at + ".weight", b.weight);
      anyWeight |= b.weight == null || b.weight > 0;
      String key = (address == null ? b.address : address.getHostAddress()) + "|" + b.port;
      duplicate |= !seenBackends.add(key);
    }
    if (services.isEmpty() && !backends.isEmpty() && !anyWeight) {
      p.add("spec", TargetGroupSpec.ALL_WEIGHTS_ZERO);
    }
    if (duplicate) {
      p.add("spec", TargetGroupSpec.DUPLICATE_BACKEND);
    }
    Set<String> seenServices = new HashSet<>();
    boolean duplicateService = false;
    for (int i = 0; i < services.size(); i++) {
      ServiceBackend s = services.get(i);
      String at = "spec.services[" + i + "]";
      if (s == null) {
        p.add(at, "service must not be null");
        continue;
      }
      objectName(p, at + ".name", s.name, "name");
      if (s.port == null) {
        p.add(at + ".port", "port is required: the Service port's number or name");
      } else if (s.port.getIntVal() != null) {
        if (s.port.getIntVal() < 1 || s.port.getIntVal() > 65535) {
          p.add(at, ServiceBackend.BAD_PORT);
        }
      } else if (s.port.getStrVal() == null || !DNS_LABEL.matcher(s.port.getStrVal()).matches()) {
        p.add(at, ServiceBackend.BAD_PORT);
      }
      weight(p, at + ".weight", s.weight);
      String portKey = s.port == null ? "" : s.port.getIntVal() != null ? s.port.getIntVal().toString() : s.port.getStrVal();
      duplicateService |= !seenServices.add(s.name + "|" + portKey);
    }
    if (duplicateService) {
      p.add("spec", TargetGroupSpec.DUPLICATE_SERVICE);
    }
    if (spec.sessionPersistence == SessionPersistence.SourceIP
        && spec.algorithm != null && spec.algorithm != Algorithm.Maglev) {
      p.add("spec", TargetGroupSpec.PERSISTENCE_NEEDS_MAGLEV);
    }
    if (spec.healthCheck != null) {
      validateHealthCheck(p, spec.healthCheck);
    }
    if (spec.circuitBreaker != null) {
      CircuitBreaker cb = spec.circuitBreaker;
      if (cb.maxConnections != null && cb.maxConnections < 1) {
        p.add("spec.circuitBreaker.maxConnections", "maxConnections must be at least 1");
      }
      if (cb.consecutiveFailures != null && cb.consecutiveFailures < 1) {
        p.add("spec.circuitBreaker.consecutiveFailures", "consecutiveFailures must be at least 1");
      }
      duration(p, "spec.circuitBreaker.ejectionDuration", cb.ejectionDuration);
    }
    duration(p, "spec.drainTimeout", spec.drainTimeout);
    return p.list;
  }

  private static void validateHealthCheck(Problems p, HealthCheckSpec hc) {
    String at = "spec.healthCheck";
    boolean intervalOk = duration(p, at + ".interval", hc.interval);
    boolean timeoutOk = duration(p, at + ".timeout", hc.timeout);
    if (intervalOk && timeoutOk) {
      String interval = hc.interval == null ? "10s" : hc.interval;
      String timeout = hc.timeout == null ? "3s" : hc.timeout;
      if (Durations.parse(timeout).compareTo(Durations.parse(interval)) >= 0) {
        p.add(at, HealthCheckSpec.TIMEOUT_NOT_BELOW_INTERVAL);
      }
    }
    threshold(p, at + ".healthyThreshold", hc.healthyThreshold);
    threshold(p, at + ".unhealthyThreshold", hc.unhealthyThreshold);
    boolean http = hc.type == HealthCheckType.HTTP || hc.type == HealthCheckType.HTTPS;
    if (hc.path != null) {
      if (!hc.path.startsWith("/")) {
        p.add(at + ".path", "path must start with /");
      }
      if (!http) {
        p.add(at, HealthCheckSpec.PATH_NEEDS_HTTP);
      }
    }
    if (hc.expectedCodes != null) {
      if (!STATUS_CODES.matcher(hc.expectedCodes).matches()) {
        p.add(at + ".expectedCodes", "expectedCodes \"" + hc.expectedCodes + "\" must be codes or ranges like 200-399,404");
      }
      if (!http) {
        p.add(at, HealthCheckSpec.CODES_NEED_HTTP);
      }
    }
    if (hc.port != null) {
      port(p, at + ".port", hc.port);
    }
  }

  public static List<SpecProblem> validate(BackendDrainSpec spec) {
    Problems p = new Problems();
    if (spec == null) {
      p.add("spec", "spec is required");
      return p.list;
    }
    int targets = (spec.pod != null ? 1 : 0) + (spec.backend != null ? 1 : 0) + (spec.node != null ? 1 : 0);
    if (targets != 1) {
      p.add("spec", BackendDrainSpec.EXACTLY_ONE_TARGET);
    }
    if (spec.pod != null) {
      objectName(p, "spec.pod.name", spec.pod.name, "pod name");
    }
    if (spec.node != null) {
      objectName(p, "spec.node.name", spec.node.name, "node name");
    }
    if (spec.backend != null) {
      ip(p, "spec.backend.address", spec.backend.address, "address must be an IPv4 or IPv6 address");
      port(p, "spec.backend.port", spec.backend.port);
    }
    duration(p, "spec.timeout", spec.timeout);
    return p.list;
  }

  private static InetAddress ip(Problems p, String field, String text, String message) {
    InetAddress address = IpLiterals.parse(text);
    if (address == null) {
      p.add(field, message + " (got \"" + text + "\")");
    }
    return address;
  }

  private static void port(Problems p, String field, Integer port) {
    if (port == null || port < 1 || port > 65535) {
      p.add(field, "port must be 1-65535 (got " + port + ")");
    }
  }

  private static void weight(Problems p, String field, Integer weight) {
    if (weight != null && (weight < 0 || weight > 65535)) {
      p.add(field, "weight must be 0-65535 (got " + weight + ")");
    }
  }

  private static void threshold(Problems p, String field, Integer value) {
    if (value != null && (value < 1 || value > 100)) {
      p.add(field, "threshold must be 1-100 (got " + value + ")");
    }
  }

  private static void objectName(Problems p, String field, String name, String what) {
    if (name == null || name.length() > 253 || !DNS_SUBDOMAIN.matcher(name).matches()) {
      p.add(field, what + " \"" + name + "\" must be a Kubernetes object name (lower-case letters, digits, '-', '.')");
    }
  }

  private static void idleTimeout(Problems p, String field, String text) {
    if (duration(p, field, text) && text != null && text.chars().noneMatch(c -> c >= '1' && c <= '9')) {
      p.add(field, IdleTimeouts.NOT_ZERO);
    }
  }

  /** Null counts as valid (the field is optional); returns whether the value is usable. */
  private static boolean duration(Problems p, String field, String text) {
    if (text != null && !DURATION.matcher(text).matches()) {
      p.add(field, "\"" + text + "\" is not a duration; use a number with a unit ms, s, m or h, e.g. 5s or 1m30s");
      return false;
    }
    return true;
  }

  private static final class Problems {
    final List<SpecProblem> list = new ArrayList<>();

    void add(String field, String message) {
      list.add(new SpecProblem(field, message));
    }
  }
}
