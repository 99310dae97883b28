package io.nodelb.operator.bench;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The cluster the bench builds: nodes in pools, and per LoadBalancer i its own Service, one
 * EndpointSlice of {@code endpoints} ready endpoints (spread over the nodes), a TargetGroup naming
 * the Service port by name, and a LoadBalancer with one TCP listener on its own address, selecting
 * nodes by label. Every {@code pinEvery}-th LoadBalancer selects one node by
 * {@code kubernetes.io/hostname} (the rest a pool by {@code nodelb.io/bench-pool}); namespaces
 * {@code bench-0..} round robin.
 *
 * @param poolSize nodes per pool (pools are consecutive node numbers)
 * @param pinEvery 0: no pinned LoadBalancers; 2: every other one; 1: all
 */
record BenchShape(int nodes, int poolSize, int pinEvery, int endpoints, int namespaces) {
  static final String POOL_LABEL = "nodelb.io/bench-pool";
  static final String HOSTNAME_LABEL = "kubernetes.io/hostname";

  int pools() {
    return (nodes + poolSize - 1) / poolSize;
  }

  static String nodeName(int n) {
    return String.format("node-%03d", n);
  }

  String namespace(int lb) {
    return "bench-" + (lb % namespaces);
  }

  static String name(int lb) {
    return "app-" + lb;
  }

  /** "namespace/name": the group's name in the snapshots. */
  String groupName(int lb) {
    return namespace(lb) + "/" + name(lb);
  }

  boolean pinned(int lb) {
    return pinEvery > 0 && lb % pinEvery == 0;
  }

  /** The nodes LoadBalancer {@code lb} is programmed on. */
  Set<String> nodesOf(int lb) {
    Set<String> selected = new TreeSet<>();
    if (pinned(lb)) {
      selected.add(nodeName((lb / Math.max(pinEvery, 1)) % nodes));
    } else {
      int pool = poolOf(lb);
      for (int n = pool * poolSize; n < Math.min(nodes, (pool + 1) * poolSize); n++) {
        selected.add(nodeName(n));
      }
    }
    return selected;
  }

  private int poolOf(int lb) {
    return (lb / Math.max(pinEvery, 1)) % pools();
  }

  Node node(int n) {
    return new NodeBuilder().withNewMetadata().withName(nodeName(n))
        .addToLabels(HOSTNAME_LABEL, nodeName(n)).addToLabels(POOL_LABEL, "p" + (n / poolSize))
        .addToLabels("node.kubernetes.io/instance-type", "bench")
        .endMetadata()
        .withNewStatus().addNewAddress().withType("InternalIP").withAddress(nodeAddress(n)).endAddress()
        .addNewCondition().withType("Ready").withStatus("True").withReason("KubeletReady").endCondition()
        .endStatus().build();
  }

  static String nodeAddress(int n) {
    return "172.16." + (n >> 8 & 0xff) + "." + (n & 0xff);
  }

  Service service(int lb) {
    return new ServiceBuilder().withNewMetadata().withNamespace(namespace(lb)).withName(name(lb)).endMetadata()
        .withNewSpec().addNewPort().withName("http").withPort(80).withProtocol("TCP")
        .withTargetPort(new IntOrString(8080)).endPort().addToSelector("app", name(lb)).endSpec().build();
  }

  /** The slice with {@code count} endpoints (the first {@code endpoints} are always the same). */
  EndpointSlice slice(int lb, int count) {
    List<Endpoint> list = new ArrayList<>();
    for (int e = 0; e < count; e++) {
      long id = (long) lb * (endpoints + 1) + e;
      String address = "10." + (id >> 16 & 0xff) + "." + (id >> 8 & 0xff) + "." + (id & 0xff);
      list.add(new EndpointBuilder().withAddresses(address).withNodeName(nodeName((int) (id % nodes)))
          .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions()
          .withNewTargetRef().withKind("Pod").withNamespace(namespace(lb)).withName(name(lb) + "-" + e).endTargetRef()
          .build());
    }
    return new EndpointSliceBuilder().withNewMetadata().withNamespace(namespace(lb)).withName(name(lb) + "-1")
        .addToLabels("kubernetes.io/service-name", name(lb))
        .addToLabels("endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io").endMetadata()
        .withAddressType("IPv4").addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort()
        .withEndpoints(list).build();
  }

  TargetGroup targetGroup(int lb) {
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace(namespace(lb));
    tg.getMetadata().setName(name(lb));
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().services = new ArrayList<>(List.of(new ServiceBackend(name(lb), new IntOrString("http"), 1)));
    return tg;
  }

  LoadBalancer loadBalancer(int lb) {
    LoadBalancer object = new LoadBalancer();
    object.getMetadata().setNamespace(namespace(lb));
    object.getMetadata().setName(name(lb));
    LoadBalancerSpec spec = new LoadBalancerSpec();
    spec.interfaces = new ArrayList<>(List.of("eth0"));
    Map<String, String> selector = new LinkedHashMap<>();
    if (pinned(lb)) {
      selector.put(HOSTNAME_LABEL, nodesOf(lb).iterator().next());
    } else {
      selector.put(POOL_LABEL, "p" + poolOf(lb));
    }
    spec.nodeSelector = selector;
    ListenerSpec listener = new ListenerSpec();
    listener.name = "http";
    listener.address = "10.200." + (lb / 250) % 256 + "." + (lb % 250 + 1);
    if (lb >= 64_000) {
      throw new IllegalArgumentException("at most 64,000 LoadBalancers (listener addresses)");
    }
    listener.port = 80;
    listener.targetGroup = name(lb);
    spec.listeners = new ArrayList<>(List.of(listener));
    object.setSpec(spec);
    return object;
  }

  /** A Pod as a Deployment makes it (about 3 KB of JSON): spec, status, the projected token volume. */
  static Pod pod(String namespace, int i, int nodes, boolean drain) {
    String app = "svc-" + (i / 20);
    PodBuilder pod = new PodBuilder().withNewMetadata().withNamespace(namespace).withName(app + "-7d9f8c6b5-" + i)
        .addToLabels("app", app).addToLabels("pod-template-hash", "7d9f8c6b5")
        .addNewOwnerReference().withApiVersion("apps/v1").withKind("ReplicaSet").withName(app + "-7d9f8c6b5")
        .withUid("00000000-0000-0000-0000-" + String.format("%012d", i / 20)).withController(true)
        .withBlockOwnerDeletion(true).endOwnerReference()
        .endMetadata()
        .withNewSpec().withNodeName(nodeName(i % nodes)).withServiceAccountName("default")
        .withRestartPolicy("Always").withDnsPolicy("ClusterFirst").withTerminationGracePeriodSeconds(30L)
        .addNewContainer().withName("app").withImage("registry.example.com/team/" + app + ":1.4.2")
        .withImagePullPolicy("IfNotPresent")
        .addNewPort().withName("http").withContainerPort(8080).withProtocol("TCP").endPort()
        .addNewPort().withName("metrics").withContainerPort(9090).withProtocol("TCP").endPort()
        .addNewEnv().withName("LOG_LEVEL").withValue("info").endEnv()
        .addNewEnv().withName("POD_NAME").withNewValueFrom().withNewFieldRef().withFieldPath("metadata.name")
        .endFieldRef().endValueFrom().endEnv()
        .addNewEnv().withName("POD_IP").withNewValueFrom().withNewFieldRef().withFieldPath("status.podIP")
        .endFieldRef().endValueFrom().endEnv()
        .withNewResources().addToRequests("cpu", new Quantity("100m")).addToRequests("memory", new Quantity("128Mi"))
        .addToLimits("memory", new Quantity("256Mi")).endResources()
        .withNewReadinessProbe().withNewHttpGet().withPath("/ready").withPort(new IntOrString(8080)).endHttpGet()
        .withPeriodSeconds(5).endReadinessProbe()
        .addNewVolumeMount().withName("kube-api-access").withMountPath("/var/run/secrets/kubernetes.io/serviceaccount")
        .withReadOnly(true).endVolumeMount()
        .endContainer()
        .addNewVolume().withName("kube-api-access").withNewProjected().withDefaultMode(420)
        .addNewSource().withNewServiceAccountToken().withExpirationSeconds(3607L).withPath("token")
        .endServiceAccountToken().endSource()
        .addNewSource().withNewConfigMap().withName("kube-root-ca.crt").addNewItem().withKey("ca.crt")
        .withPath("ca.crt").endItem().endConfigMap().endSource()
        .endProjected().endVolume()
        .addNewToleration().withKey("node.kubernetes.io/not-ready").withOperator("Exists").withEffect("NoExecute")
        .withTolerationSeconds(300L).endToleration()
        .addNewToleration().withKey("node.kubernetes.io/unreachable").withOperator("Exists").withEffect("NoExecute")
        .withTolerationSeconds(300L).endToleration()
        .endSpec()
        .withNewStatus().withPhase("Running").withHostIP(nodeAddress(i % nodes))
        .withPodIP("10." + (i >> 16 & 0xff) + "." + (i >> 8 & 0xff) + "." + (i & 0xff)).withQosClass("Burstable")
        .withStartTime("2026-11-20T10:00:00Z")
        .addNewCondition().withType("Initialized").withStatus("True").withLastTransitionTime("2026-11-20T10:00:00Z").endCondition()
        .addNewCondition().withType("Ready").withStatus("True").withLastTransitionTime("2026-11-20T10:00:09Z").endCondition()
        .addNewCondition().withType("ContainersReady").withStatus("True").withLastTransitionTime("2026-11-20T10:00:09Z").endCondition()
        .addNewCondition().withType("PodScheduled").withStatus("True").withLastTransitionTime("2026-11-20T10:00:00Z").endCondition()
        .addNewContainerStatus().withName("app").withReady(true).withRestartCount(0).withStarted(true)
        .withImage("registry.example.com/team/" + app + ":1.4.2")
        .withImageID("registry.example.com/team/" + app + "@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")
        .withContainerID("containerd://" + String.format("%064x", (long) i * 2654435761L))
        .withNewState().withNewRunning().withStartedAt("2026-11-20T10:00:05Z").endRunning().endState()
        .endContainerStatus()
        .endStatus();
    if (drain) {
      pod.editMetadata().addToAnnotations("nodelb.io/drain", "true").endMetadata();
    }
    return pod.build();
  }
}
