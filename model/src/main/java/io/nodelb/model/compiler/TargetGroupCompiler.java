package io.nodelb.model.compiler;

import com.google.protobuf.ByteString;
import io.nodelb.model.input.Durations;
import io.nodelb.model.input.EndpointSliceInput;
import io.nodelb.model.input.EndpointSliceInput.Endpoint;
import io.nodelb.model.input.ServiceInput;
import io.nodelb.model.input.ServiceInput.Port;
import io.nodelb.model.input.TargetGroupInput;
import io.nodelb.model.input.TargetGroupInput.ServiceBackend;
import io.nodelb.model.input.TargetGroupInput.StaticBackend;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.HealthCheck;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/** Turns one TargetGroup plus its Services' EndpointSlices into the snapshot's group. Pure. */
final class TargetGroupCompiler {
  private TargetGroupCompiler() {}

  static final String KIND = "TargetGroup";

  /** Read access to Services and their EndpointSlices (label kubernetes.io/service-name). */
  interface ServiceLookup {
    ServiceInput service(ObjectKey key);

    Collection<EndpointSliceInput> slices(ObjectKey service);

    /** Files have no Services: a group that names one is refused. */
    ServiceLookup NONE = new ServiceLookup() {
      @Override
      public ServiceInput service(ObjectKey key) {
        return null;
      }

      @Override
      public Collection<EndpointSliceInput> slices(ObjectKey service) {
        return List.of();
      }
    };
  }

  static CompiledGroup compile(TargetGroupInput input, ServiceLookup lookup, DrainIndex drains,
      boolean servicesAvailable) {
    ObjectKey key = input.key();
    List<Problem> problems = new ArrayList<>(ApiValidation.problems(KIND, key, input.spec()));
    TargetGroupInput.Spec spec = problems.isEmpty() ? input.bound() : null;
    if (problems.isEmpty() && spec.drainTimeout() != null) {
      // Nothing reads it yet: refusing beats accepting a promise no component keeps.
      problems.add(new Problem(KIND, key.toString(), "spec.drainTimeout", Problem.UNSUPPORTED,
          "drainTimeout is not implemented yet (a draining backend keeps its flows until they end, or until the"
              + " BackendDrain's timeout); remove it"));
    }
    if (!problems.isEmpty()) {
      return new CompiledGroup(key, null, null, null, new CompiledGroup.EndpointTally(0, 0, 0, 0), problems, Map.of(),
          false);
    }
    Map<BackendAddress, Backend> backends = new HashMap<>();
    Map<ObjectKey, Set<BackendAddress>> drainMatches = new TreeMap<>();
    int ready = 0;
    int servingTerminating = 0;
    int terminating = 0;
    int staticCount = 0;

    for (StaticBackend s : spec.backends()) {
      ByteString address = Addresses.bytes(s.address());
      BackendState state = drained(key.namespace(), address, s.port(), null, null, drains, drainMatches)
          ? BackendState.DRAINING : BackendState.ACTIVE;
      merge(backends, Backend.newBuilder().setAddress(address).setPort(s.port())
          .setWeight(s.weight() == null ? 1 : s.weight()).setState(state).setOrigin("static").build());
      staticCount++;
    }

    List<ServiceBackend> services = spec.services();
    for (int i = 0; i < services.size(); i++) {
      ServiceBackend ref = services.get(i);
      String field = "spec.services[" + i + "]";
      if (!servicesAvailable) {
        problems.add(new Problem(KIND, key.toString(), field, Problem.NEEDS_CLUSTER,
            "services are resolved through EndpointSlices, which need a cluster; list static backends instead"));
        continue;
      }
      ObjectKey serviceKey = new ObjectKey(key.namespace(), ref.name());
      ServiceInput service = lookup.service(serviceKey);
      if (service == null) {
        problems.add(new Problem(KIND, key.toString(), field + ".name", Problem.SERVICE_NOT_FOUND,
            "Service " + serviceKey + " not found; create it or fix the name"));
        continue;
      }
      Port servicePort = findPort(service, ref);
      if (servicePort == null) {
        problems.add(new Problem(KIND, key.toString(), field + ".port", Problem.SERVICE_PORT_NOT_FOUND,
            "Service " + serviceKey + " has no port " + portText(ref) + "; it has " + portList(service)));
        continue;
      }
      int weight = ref.weight() == null ? 1 : ref.weight();
      for (EndpointSliceInput slice : sorted(lookup.slices(serviceKey))) {
        String addressType = slice.addressType();
        if (!"IPv4".equals(addressType) && !"IPv6".equals(addressType)) {
          continue; // FQDN slices would need DNS, which nodelb never uses
        }
        Integer port = slicePort(slice, servicePort);
        if (port == null) {
          continue; // this slice's endpoints don't serve that port
        }
        for (Endpoint endpoint : slice.endpoints()) {
          BackendState state = state(endpoint);
          if (state == null || endpoint.addresses().isEmpty()) {
            continue;
          }
          ByteString address = Addresses.bytes(endpoint.addresses().getFirst());
          if (address == null) {
            continue;
          }
          switch (state) {
            case ACTIVE -> ready++;
            case FALLBACK -> servingTerminating++;
            default -> terminating++;
          }
          ObjectKey pod = endpoint.pod();
          if (drained(key.namespace(), address, port, endpoint.nodeName(), pod, drains, drainMatches)) {
            state = BackendState.DRAINING;
          }
          Backend.Builder backend = Backend.newBuilder().setAddress(address).setPort(port).setWeight(weight)
              .setState(state)
              .setOrigin(pod != null ? "pod/" + pod : "endpointslice/" + key.namespace() + "/" + slice.key().name());
          if (endpoint.nodeName() != null) {
            backend.setNodeName(endpoint.nodeName());
          }
          merge(backends, backend.build());
        }
      }
    }

    List<Backend> ordered = new ArrayList<>(backends.values());
    ordered.sort(Comparator.comparing(Backend::getAddress, Addresses.ORDER).thenComparingInt(Backend::getPort));
    TargetGroup.Builder group = TargetGroup.newBuilder()
        .setName(key.toString())
        .setAlgorithm(algorithm(spec))
        .addAllBackends(ordered)
        .setDrainTimeoutSeconds(Durations.toSecondsCeil(spec.drainTimeout() == null ? "30s" : spec.drainTimeout()));
    if (spec.healthCheck() != null) {
      group.setHealthCheck(healthCheck(spec.healthCheck()));
    }
    if (spec.rampUpWindow() != null) {
      group.setRampUpSeconds(Durations.toSecondsCeil(spec.rampUpWindow()));
    }
    if (spec.leastConnectionsInterval() != null) {
      group.setLeastConnectionsIntervalSeconds(Durations.toSecondsCeil(spec.leastConnectionsInterval()));
    }
    if (spec.circuitBreaker() != null) {
      group.setCircuitBreaker(circuitBreaker(spec.circuitBreaker()));
    }
    if (spec.backendRateLimit() != null) {
      TargetGroupInput.BackendRateLimit r = spec.backendRateLimit();
      group.setBackendRateLimit(io.nodelb.dataplane.v1alpha1.BackendRateLimit.newBuilder()
          .setNewConnectionsPerSecond(r.newConnectionsPerSecond())
          .setBurst(r.burst() != null ? r.burst() : r.newConnectionsPerSecond()));
    }
    TargetGroup built = group.build();
    byte[] bytes = Snapshots.serialize(built);
    return new CompiledGroup(key, built, bytes, Snapshots.sha256(bytes),
        new CompiledGroup.EndpointTally(ready, servingTerminating, terminating, staticCount),
        List.copyOf(problems), frozen(drainMatches), !spec.services().isEmpty());
  }

  private static Map<ObjectKey, Set<BackendAddress>> frozen(Map<ObjectKey, Set<BackendAddress>> drainMatches) {
    Map<ObjectKey, Set<BackendAddress>> copy = new TreeMap<>();
    drainMatches.forEach((drain, backends) -> copy.put(drain, Set.copyOf(backends)));
    return Collections.unmodifiableMap(copy);
  }

  /** KEP-1669: ready takes new flows; serving-terminating only as a fallback; terminating keeps flows. */
  static BackendState state(Endpoint conditions) {
    // The API says an unset ready/serving means "unknown, treat as ready"; unset terminating means false.
    boolean ready = conditions.ready() == null || conditions.ready();
    boolean terminating = Boolean.TRUE.equals(conditions.terminating());
    boolean serving = conditions.serving() == null ? ready : conditions.serving();
    if (!terminating) {
      return ready ? BackendState.ACTIVE : null;
    }
    return serving ? BackendState.FALLBACK : BackendState.DRAINING;
  }

  private static boolean drained(String namespace, ByteString address, int port, String nodeName, ObjectKey pod,
      DrainIndex drains, Map<ObjectKey, Set<BackendAddress>> drainMatches) {
    List<ObjectKey> matched = new ArrayList<>(0);
    boolean drained = drains.isDrained(namespace, address, port, nodeName, pod, matched);
    matched.forEach(d -> drainMatches.computeIfAbsent(d, k -> new HashSet<>()).add(new BackendAddress(address, port)));
    return drained;
  }

  /** Two sources naming the same address and port become one backend: the one more willing to take flows. */
  private static void merge(Map<BackendAddress, Backend> backends, Backend backend) {
    backends.merge(new BackendAddress(backend.getAddress(), backend.getPort()), backend,
        (a, b) -> rank(b.getState()) > rank(a.getState())
            || (rank(b.getState()) == rank(a.getState()) && b.getOrigin().compareTo(a.getOrigin()) < 0) ? b : a);
  }

  private static int rank(BackendState state) {
    return switch (state) {
      case ACTIVE -> 3;
      case FALLBACK -> 2;
      case DRAINING -> 1;
      default -> 0;
    };
  }

  /** The Service port named by number (its port, not targetPort) or by name. */
  static Port findPort(ServiceInput service, ServiceBackend ref) {
    if (ref.portNumber() == null && ref.portName() == null) {
      return null;
    }
    for (Port port : service.ports()) {
      boolean match = ref.portNumber() != null
          ? Objects.equals(port.port(), ref.portNumber())
          : Objects.equals(port.name(), ref.portName());
      if (match) {
        return port;
      }
    }
    return null;
  }

  /**
   * The port number this slice's endpoints serve for the Service port. EndpointSlice ports carry the
   * Service port's name and the resolved target port number, which can differ between slices when
   * the targetPort is a named container port.
   */
  static Integer slicePort(EndpointSliceInput slice, Port servicePort) {
    String name = servicePort.name() == null ? "" : servicePort.name();
    String protocol = servicePort.protocol() == null ? "TCP" : servicePort.protocol();
    for (Port port : slice.ports()) {
      String portName = port.name() == null ? "" : port.name();
      String portProtocol = port.protocol() == null ? "TCP" : port.protocol();
      if (portName.equals(name) && portProtocol.equals(protocol) && port.port() != null) {
        return port.port();
      }
    }
    return null;
  }

  private static io.nodelb.dataplane.v1alpha1.Algorithm algorithm(TargetGroupInput.Spec spec) {
    if (spec.leastConnections()) {
      return io.nodelb.dataplane.v1alpha1.Algorithm.LEAST_CONNECTIONS;
    }
    return spec.sourceIpPersistence()
        ? io.nodelb.dataplane.v1alpha1.Algorithm.SOURCE_IP
        : io.nodelb.dataplane.v1alpha1.Algorithm.MAGLEV;
  }

  private static io.nodelb.dataplane.v1alpha1.CircuitBreaker circuitBreaker(TargetGroupInput.CircuitBreaker spec) {
    return io.nodelb.dataplane.v1alpha1.CircuitBreaker.newBuilder()
        .setConsecutiveFailures(spec.consecutiveFailures() == null ? 5 : spec.consecutiveFailures())
        .setErrorRatePercent(spec.errorRatePercent() == null ? 0 : spec.errorRatePercent())
        .setMinimumVolume(spec.minimumVolume() == null ? 10 : spec.minimumVolume())
        .setWindowSeconds(Durations.toSecondsCeil(spec.window() == null ? "30s" : spec.window()))
        .setOpenSeconds(Durations.toSecondsCeil(spec.ejectionDuration() == null ? "30s" : spec.ejectionDuration()))
        .setHalfOpenSuccesses(spec.halfOpenSuccesses() == null ? 3 : spec.halfOpenSuccesses())
        .setMaxConnections(spec.maxConnections() == null ? 0 : spec.maxConnections())
        .build();
  }

  private static HealthCheck healthCheck(TargetGroupInput.HealthCheck spec) {
    String type = spec.type() == null ? "TCP" : spec.type();
    HealthCheck.Builder check = HealthCheck.newBuilder()
        .setType(switch (type) {
          case "HTTP" -> HealthCheck.Type.HTTP;
          case "HTTPS" -> HealthCheck.Type.HTTPS;
          default -> HealthCheck.Type.TCP;
        })
        .setIntervalSeconds(Durations.toSecondsCeil(spec.interval() == null ? "10s" : spec.interval()))
        .setTimeoutSeconds(Durations.toSecondsCeil(spec.timeout() == null ? "3s" : spec.timeout()))
        .setHealthyThreshold(spec.healthyThreshold() == null ? 2 : spec.healthyThreshold())
        .setUnhealthyThreshold(spec.unhealthyThreshold() == null ? 3 : spec.unhealthyThreshold())
        .setIntervalMillis(millis(spec.interval() == null ? "10s" : spec.interval()))
        .setTimeoutMillis(millis(spec.timeout() == null ? "3s" : spec.timeout()));
    if (spec.host() != null) {
      check.setHost(spec.host());
    }
    if (spec.caCertificate() != null) {
      check.setCaCertificate(spec.caCertificate());
    }
    if (spec.path() != null) {
      check.setPath(spec.path());
    }
    if (!"TCP".equals(type)) {
      check.setExpectedCodes(spec.expectedCodes() == null ? "200-399" : spec.expectedCodes());
    }
    if (spec.port() != null) {
      check.setPort(spec.port());
    }
    return check.build();
  }

  private static int millis(String duration) {
    return (int) Math.min(Integer.MAX_VALUE, Durations.parse(duration).toMillis());
  }

  private static List<EndpointSliceInput> sorted(Collection<EndpointSliceInput> slices) {
    List<EndpointSliceInput> list = new ArrayList<>(slices);
    list.sort(Comparator.comparing(s -> s.key().name()));
    return list;
  }

  private static String portText(ServiceBackend ref) {
    return ref.portNumber() != null ? ref.portNumber().toString() : "\"" + ref.portName() + "\"";
  }

  private static String portList(ServiceInput service) {
    List<String> ports = new ArrayList<>();
    for (Port p : service.ports()) {
      ports.add(p.name() == null || p.name().isEmpty() ? String.valueOf(p.port()) : p.name() + "=" + p.port());
    }
    return ports.isEmpty() ? "no ports" : String.join(", ", ports);
  }

  static <T> List<T> nullSafe(List<T> list) {
    return list == null ? List.of() : list;
  }
}
