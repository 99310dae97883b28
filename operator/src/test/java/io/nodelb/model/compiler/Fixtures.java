package io.nodelb.model.compiler;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Small builders for compiler inputs; each test says only what matters to it. */
final class Fixtures {
  /** The standalone compile of Fabric8 objects, through the operator's adapter. */
  static io.nodelb.dataplane.v1alpha1.NodeSnapshot compileStandalone(List<io.nodelb.api.v1alpha1.LoadBalancer> lbs,
      List<io.nodelb.api.v1alpha1.TargetGroup> tgs, String node) {
    return ModelCompiler.compileInputs(lbs.stream().map(io.nodelb.operator.KubernetesInputs::of).toList(),
        tgs.stream().map(io.nodelb.operator.KubernetesInputs::of).toList(), node);
  }

  private Fixtures() {}

  static ListenerSpec listener(String name, String address, int port, String targetGroup) {
    ListenerSpec l = new ListenerSpec();
    l.name = name;
    l.address = address;
    l.port = port;
    l.targetGroup = targetGroup;
    return l;
  }

  static LoadBalancer loadBalancer(String namespace, String name, Map<String, String> nodeSelector,
      ListenerSpec... listeners) {
    LoadBalancer lb = new LoadBalancer();
    lb.setMetadata(new ObjectMetaBuilder().withNamespace(namespace).withName(name).build());
    LoadBalancerSpec spec = new LoadBalancerSpec();
    spec.interfaces = new ArrayList<>(List.of("eth0"));
    spec.nodeSelector = nodeSelector;
    spec.listeners = new ArrayList<>(Arrays.asList(listeners));
    lb.setSpec(spec);
    return lb;
  }

  static TargetGroup staticGroup(String namespace, String name, StaticBackend... backends) {
    TargetGroup tg = new TargetGroup();
    tg.setMetadata(new ObjectMetaBuilder().withNamespace(namespace).withName(name).build());
    TargetGroupSpec spec = new TargetGroupSpec();
    spec.backends = new ArrayList<>(Arrays.asList(backends));
    tg.setSpec(spec);
    return tg;
  }

  static TargetGroup serviceGroup(String namespace, String name, String service, IntOrString port) {
    TargetGroup tg = new TargetGroup();
    tg.setMetadata(new ObjectMetaBuilder().withNamespace(namespace).withName(name).build());
    TargetGroupSpec spec = new TargetGroupSpec();
    spec.services = new ArrayList<>(List.of(new ServiceBackend(service, port, 1)));
    tg.setSpec(spec);
    return tg;
  }

  static ServicePort servicePort(String name, int port, String targetPort) {
    return new ServicePortBuilder().withName(name).withPort(port).withProtocol("TCP")
        .withTargetPort(new IntOrString(targetPort)).build();
  }

  static Service service(String namespace, String name, ServicePort... ports) {
    return new ServiceBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata()
        .withNewSpec().withPorts(ports).endSpec().build();
  }

  static EndpointPort slicePort(String name, int port) {
    return new EndpointPortBuilder().withName(name).withPort(port).withProtocol("TCP").build();
  }

  static Endpoint endpoint(String address, String node, String pod, Boolean ready, Boolean serving, Boolean terminating) {
    EndpointBuilder b = new EndpointBuilder().withAddresses(address).withNodeName(node)
        .withNewConditions().withReady(ready).withServing(serving).withTerminating(terminating).endConditions();
    if (pod != null) {
      b.withNewTargetRef().withKind("Pod").withName(pod).endTargetRef();
    }
    return b.build();
  }

  static Endpoint ready(String address, String node, String pod) {
    return endpoint(address, node, pod, true, true, false);
  }

  static EndpointSlice slice(String namespace, String name, String service, String addressType,
      List<EndpointPort> ports, Endpoint... endpoints) {
    return new EndpointSliceBuilder().withNewMetadata().withNamespace(namespace).withName(name)
        .addToLabels(ModelCompiler.SERVICE_NAME_LABEL, service).endMetadata()
        .withAddressType(addressType).withPorts(ports).withEndpoints(endpoints).build();
  }

  static Node node(String name, Map<String, String> labels, Map<String, String> annotations) {
    return new NodeBuilder().withNewMetadata().withName(name).withLabels(labels).withAnnotations(annotations)
        .endMetadata().build();
  }

  static Node node(String name) {
    return node(name, Map.of(), Map.of());
  }

  static BackendDrain drain(String namespace, String name, BackendDrainSpec spec) {
    BackendDrain drain = new BackendDrain();
    drain.setMetadata(new ObjectMetaBuilder().withNamespace(namespace).withName(name).build());
    drain.setSpec(spec);
    return drain;
  }
}
