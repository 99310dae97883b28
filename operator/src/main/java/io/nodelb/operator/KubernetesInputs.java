package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.ObjectReference;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.model.compiler.ApiValidation;
import io.nodelb.model.compiler.ModelCompiler;
import io.nodelb.model.compiler.ObjectKey;
import io.nodelb.model.compiler.Problem;
import io.nodelb.model.input.BackendDrainInput;
import io.nodelb.model.input.EndpointSliceInput;
import io.nodelb.model.input.LoadBalancerInput;
import io.nodelb.model.input.NodeInput;
import io.nodelb.model.input.Revision;
import io.nodelb.model.input.ServiceInput;
import io.nodelb.model.input.TargetGroupInput;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * The model compiler's inputs from Fabric8 objects: the one place the operator's Kubernetes types
 * meet the model's own. Custom resources keep their spec as the API server stores it (JSON), which
 * the compiler checks with the CRDs' schema and rules before binding it.
 */
public final class KubernetesInputs {
  private KubernetesInputs() {}

  private static final KubernetesSerialization JSON = new KubernetesSerialization();

  public static ObjectKey key(HasMetadata object) {
    return ObjectKey.of(object.getMetadata().getNamespace(), object.getMetadata().getName());
  }

  public static Revision revision(HasMetadata object) {
    var m = object.getMetadata();
    return new Revision(m.getUid(), m.getResourceVersion(), m.getGeneration());
  }

  public static LoadBalancerInput of(LoadBalancer lb) {
    return new LoadBalancerInput(key(lb), revision(lb), spec(lb.getSpec()));
  }

  public static TargetGroupInput of(TargetGroup tg) {
    return new TargetGroupInput(key(tg), revision(tg), spec(tg.getSpec()));
  }

  public static ServiceInput of(Service service) {
    List<ServiceInput.Port> ports = service.getSpec() == null || service.getSpec().getPorts() == null ? List.of()
        : service.getSpec().getPorts().stream()
            .map(p -> new ServiceInput.Port(p.getName(), p.getPort(), p.getProtocol())).toList();
    return new ServiceInput(key(service), revision(service), ports);
  }

  public static EndpointSliceInput of(EndpointSlice slice) {
    ObjectKey key = key(slice);
    Map<String, String> labels = slice.getMetadata().getLabels();
    List<ServiceInput.Port> ports = slice.getPorts() == null ? List.of() : slice.getPorts().stream()
        .map(p -> new ServiceInput.Port(p.getName(), p.getPort(), p.getProtocol())).toList();
    List<EndpointSliceInput.Endpoint> endpoints = slice.getEndpoints() == null ? List.of()
        : slice.getEndpoints().stream().map(e -> endpoint(e, key.namespace())).toList();
    return new EndpointSliceInput(key, revision(slice),
        labels == null ? null : labels.get(ModelCompiler.SERVICE_NAME_LABEL), slice.getAddressType(), ports, endpoints);
  }

  private static EndpointSliceInput.Endpoint endpoint(Endpoint e, String namespace) {
    var c = e.getConditions();
    return new EndpointSliceInput.Endpoint(e.getAddresses(), c == null ? null : c.getReady(),
        c == null ? null : c.getServing(), c == null ? null : c.getTerminating(), e.getNodeName(),
        podOf(e.getTargetRef(), namespace));
  }

  private static ObjectKey podOf(ObjectReference ref, String defaultNamespace) {
    if (ref == null || !"Pod".equals(ref.getKind()) || ref.getName() == null) {
      return null;
    }
    return new ObjectKey(ref.getNamespace() == null ? defaultNamespace : ref.getNamespace(), ref.getName());
  }

  public static NodeInput of(Node node) {
    return new NodeInput(node.getMetadata().getName(), revision(node), node.getMetadata().getLabels(),
        node.getMetadata().getAnnotations());
  }

  public static BackendDrainInput of(BackendDrain drain) {
    var spec = drain.getSpec();
    boolean cancelled = spec == null || (drain.getStatus() != null && drain.getStatus().phase == DrainPhase.Cancelled);
    return new BackendDrainInput(key(drain), revision(drain),
        spec == null || spec.node == null ? null : spec.node.name,
        spec == null || spec.pod == null ? null : spec.pod.name,
        spec == null || spec.backend == null ? null : spec.backend.address,
        spec == null || spec.backend == null ? null : spec.backend.port, cancelled);
  }

  public static List<NodeInput> nodes(Collection<Node> nodes) {
    return nodes.stream().map(KubernetesInputs::of).toList();
  }

  public static List<EndpointSliceInput> slices(Collection<EndpointSlice> slices) {
    return slices.stream().map(KubernetesInputs::of).toList();
  }

  /** Adds or replaces an object of one of the kinds the compiler reads; other kinds are refused. */
  public static void put(ModelCompiler compiler, HasMetadata object) {
    switch (object) {
      case LoadBalancer lb -> compiler.putLoadBalancer(of(lb));
      case TargetGroup tg -> compiler.putTargetGroup(of(tg));
      case EndpointSlice slice -> compiler.putEndpointSlice(of(slice));
      case Service service -> compiler.putService(of(service));
      case Node node -> compiler.putNode(of(node));
      case BackendDrain drain -> compiler.putBackendDrain(of(drain));
      default -> throw new IllegalArgumentException("the model compiler does not read " + object.getKind());
    }
  }

  /** Forgets an object (matched by kind, namespace and name). */
  public static void remove(ModelCompiler compiler, HasMetadata object) {
    switch (object) {
      case LoadBalancer lb -> compiler.removeLoadBalancer(key(lb));
      case TargetGroup tg -> compiler.removeTargetGroup(key(tg));
      case EndpointSlice slice -> compiler.removeEndpointSlice(key(slice));
      case Service service -> compiler.removeService(key(service));
      case Node node -> compiler.removeNode(node.getMetadata().getName());
      case BackendDrain drain -> compiler.removeBackendDrain(key(drain));
      default -> throw new IllegalArgumentException("the model compiler does not read " + object.getKind());
    }
  }

  /** Compiles everything at once; the same as putting every object and calling compile. */
  public static ModelCompiler compileAll(Collection<? extends HasMetadata> objects) {
    ModelCompiler compiler = new ModelCompiler();
    objects.forEach(o -> put(compiler, o));
    compiler.compile();
    return compiler;
  }

  /** A spec checked by the CRDs' schema and rules, as the API server would check it. */
  public static List<Problem> problems(String kind, HasMetadata object, Object spec) {
    return ApiValidation.problems(kind, key(object), spec(spec));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> spec(Object spec) {
    return spec == null ? null : JSON.convertValue(spec, Map.class);
  }
}
