package io.nodelb.model.compiler;

import io.nodelb.operator.KubernetesInputs;
import static io.nodelb.model.compiler.Fixtures.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.BackendRef;
import io.nodelb.api.v1alpha1.DrainPhase;
import io.nodelb.api.v1alpha1.BackendDrainStatus;
import io.nodelb.api.v1alpha1.NodeRef;
import io.nodelb.api.v1alpha1.PodRef;
import io.nodelb.api.v1alpha1.SourceRoute;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.IcmpEcho;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ModelCompilerTest {

  /** Two nodes, a Service "web" with a named port, one IPv4 slice with three endpoints. */
  private static List<HasMetadata> cluster() {
    return new ArrayList<>(List.of(
        node("n1", Map.of("pool", "edge"), Map.of()),
        node("n2", Map.of("pool", "edge"), Map.of()),
        node("n3", Map.of("pool", "batch"), Map.of()),
        service("shop", "web", servicePort("http", 80, "web")),
        slice("shop", "web-abc", "web", "IPv4", List.of(slicePort("http", 8080)),
            ready("10.0.1.1", "n1", "web-1"), ready("10.0.1.2", "n2", "web-2"), ready("10.0.1.3", "n3", "web-3")),
        serviceGroup("shop", "web", "web", new IntOrString("http")),
        loadBalancer("shop", "web", Map.of("pool", "edge"), listener("http", "10.1.1.1", 80, "web"))));
  }

  private static TargetGroup group(NodeSnapshot snapshot, String name) {
    return snapshot.getTargetGroupsList().stream().filter(g -> g.getName().equals(name)).findFirst().orElseThrow();
  }

  private static ByteString ip(String literal) throws Exception {
    return ByteString.copyFrom(InetAddress.ofLiteral(literal).getAddress());
  }

  private static Backend backend(TargetGroup group, String address) throws Exception {
    ByteString bytes = ip(address);
    return group.getBackendsList().stream().filter(b -> b.getAddress().equals(bytes)).findFirst().orElse(null);
  }

  @Test
  void aStatusPatchOfALoadBalancerOrGroupRecompilesNothingAndASpecChangeDoes() {
    var lb = loadBalancer("shop", "web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    var tg = staticGroup("shop", "web", new StaticBackend("10.1.2.2", 8080, 1));
    for (HasMetadata o : List.of(lb, tg)) {
      o.getMetadata().setUid("uid-" + o.getKind());
      o.getMetadata().setGeneration(1L);
      o.getMetadata().setResourceVersion("10");
    }
    ModelCompiler compiler = KubernetesInputs.compileAll(List.of(node("n1", Map.of(), Map.of()), lb, tg));

    // The operator patched their status: new resourceVersion, same generation.
    var lbAgain = loadBalancer("shop", "web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    var tgAgain = staticGroup("shop", "web", new StaticBackend("10.1.2.2", 8080, 1));
    for (HasMetadata o : List.of(lbAgain, tgAgain)) {
      o.getMetadata().setUid("uid-" + o.getKind());
      o.getMetadata().setGeneration(1L);
      o.getMetadata().setResourceVersion("11");
    }
    KubernetesInputs.put(compiler, lbAgain);
    KubernetesInputs.put(compiler, tgAgain);
    ModelCompiler.Result patched = compiler.compile();
    assertThat(patched.isEmpty()).isTrue();
    assertThat(patched.recompiledGroups()).isEmpty();
    assertThat(patched.reprogrammedLoadBalancers()).isEmpty();

    var tgChanged = staticGroup("shop", "web", new StaticBackend("10.1.2.2", 8080, 3));
    tgChanged.getMetadata().setUid("uid-TargetGroup");
    tgChanged.getMetadata().setGeneration(2L);
    tgChanged.getMetadata().setResourceVersion("12");
    KubernetesInputs.put(compiler, tgChanged);
    ModelCompiler.Result changed = compiler.compile();
    assertThat(changed.changed()).containsOnlyKeys("n1");
    assertThat(changed.recompiledGroups()).containsExactly(new ObjectKey("shop", "web"));
    assertThat(changed.reprogrammedLoadBalancers()).containsExactly(new ObjectKey("shop", "web"));
  }

  @Test
  void staticExampleBecomesOneListenerAndOneGroupOnEveryNode() throws Exception {
    var compiler = KubernetesInputs.compileAll(List.of(node("n1"),
        staticGroup(null, "web", new StaticBackend("10.1.3.2", 8080, 1), new StaticBackend("10.1.2.2", 8080, 3)),
        loadBalancer(null, "web", Map.of(), listener("http", "10.1.1.1", 80, "web"))));
    NodeSnapshot snapshot = compiler.snapshot("n1");

    assertThat(snapshot.getListenersList()).singleElement().satisfies(l -> {
      assertThat(l.getName()).isEqualTo("default/web/http");
      assertThat(l.getAddress()).isEqualTo(ip("10.1.1.1"));
      assertThat(l.getPort()).isEqualTo(80);
      assertThat(l.getProtocol()).isEqualTo(Protocol.TCP);
      assertThat(l.getNatMode()).isEqualTo(NatMode.DNAT);
      assertThat(l.getTargetGroup()).isEqualTo("default/web");
      assertThat(l.getInterfacesList()).containsExactly("eth0");
    });
    TargetGroup web = group(snapshot, "default/web");
    assertThat(web.getBackendsList()).extracting(b -> b.getAddress(), Backend::getWeight, Backend::getState)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(ip("10.1.2.2"), 3, BackendState.ACTIVE),
            org.assertj.core.groups.Tuple.tuple(ip("10.1.3.2"), 1, BackendState.ACTIVE));
    assertThat(web.getDrainTimeoutSeconds()).isEqualTo(30);
    assertThat(compiler.problems()).isEmpty();
  }

  @Test
  void flowEventsAreOnUnlessAListenerTurnsThemOff() {
    var quiet = listener("quiet", "10.1.1.1", 81, "web");
    quiet.flowEvents = false;
    var compiler = KubernetesInputs.compileAll(List.of(node("n1"), staticGroup(null, "web", new StaticBackend("10.1.3.2", 8080, 1)),
        loadBalancer(null, "web", Map.of(), listener("http", "10.1.1.1", 80, "web"), quiet)));

    assertThat(compiler.snapshot("n1").getListenersList())
        .extracting(l -> l.getName() + " disabled=" + l.getFlowEventsDisabled())
        .containsExactly("default/web/http disabled=false", "default/web/quiet disabled=true");
  }

  @Test
  void rateLimitsAreOffUnlessAListenerSetsOneAndLeftOutFieldsTakeTheirDefaults() {
    var limited = listener("limited", "10.1.1.1", 81, "web");
    limited.rateLimit = new io.nodelb.api.v1alpha1.RateLimit();
    limited.rateLimit.newConnectionsPerSecond = 50;
    var grouped = listener("grouped", "10.1.1.1", 82, "web");
    grouped.rateLimit = new io.nodelb.api.v1alpha1.RateLimit();
    grouped.rateLimit.newConnectionsPerSecond = 10;
    grouped.rateLimit.burst = 40;
    grouped.rateLimit.sourcePrefixLength = 24;
    grouped.rateLimit.sourcePrefixLengthV6 = 48;
    var compiler = KubernetesInputs.compileAll(List.of(node("n1"), staticGroup(null, "web", new StaticBackend("10.1.3.2", 8080, 1)),
        loadBalancer(null, "web", Map.of(), listener("http", "10.1.1.1", 80, "web"), limited, grouped)));

    assertThat(compiler.snapshot("n1").getListenersList())
        .extracting(l -> l.getName() + " " + (l.hasRateLimit() ? l.getRateLimit().getNewConnectionsPerSecond() + "/s burst "
            + l.getRateLimit().getBurst() + " /" + l.getRateLimit().getSourcePrefixLength() + " /"
            + l.getRateLimit().getSourcePrefixLengthV6() : "unlimited"))
        .containsExactly("default/web/grouped 10/s burst 40 /24 /48", "default/web/http unlimited",
            "default/web/limited 50/s burst 50 /32 /64");
    assertThat(compiler.problems()).isEmpty();
  }

  @Test
  void packetLimitsReachTheSnapshotAloneOrBesideALimitOfNewConnections() {
    var packets = listener("packets", "10.1.1.1", 81, "web");
    packets.rateLimit = new io.nodelb.api.v1alpha1.RateLimit();
    packets.rateLimit.packetsPerSecond = 5000;
    var both = listener("both", "10.1.1.1", 82, "web");
    both.rateLimit = new io.nodelb.api.v1alpha1.RateLimit();
    both.rateLimit.newConnectionsPerSecond = 10;
    both.rateLimit.packetsPerSecond = 1000;
    both.rateLimit.packetBurst = 3000;
    both.rateLimit.sourcePrefixLengthV6 = 56;
    var compiler = KubernetesInputs.compileAll(List.of(node("n1"), staticGroup(null, "web", new StaticBackend("10.1.3.2", 8080, 1)),
        loadBalancer(null, "web", Map.of(), packets, both)));

    assertThat(compiler.snapshot("n1").getListenersList())
        .extracting(l -> l.getName() + " " + l.getRateLimit().getNewConnectionsPerSecond() + "/s burst "
            + l.getRateLimit().getBurst() + ", packets " + l.getRateLimit().getPacketsPerSecond() + "/s burst "
            + l.getRateLimit().getPacketBurst() + " /" + l.getRateLimit().getSourcePrefixLength() + " /"
            + l.getRateLimit().getSourcePrefixLengthV6())
        .containsExactly("default/web/both 10/s burst 10, packets 1000/s burst 3000 /32 /56",
            "default/web/packets 0/s burst 0, packets 5000/s burst 5000 /32 /64");
    assertThat(compiler.problems()).isEmpty();
  }

  @Test
  void aBackendRateLimitReachesItsGroupAndItsBurstDefaultsToTheRate() {
    var limited = staticGroup(null, "limited", new StaticBackend("10.1.3.2", 8080, 1));
    limited.getSpec().backendRateLimit = new io.nodelb.api.v1alpha1.BackendRateLimit();
    limited.getSpec().backendRateLimit.newConnectionsPerSecond = 200;
    var bursty = staticGroup(null, "bursty", new StaticBackend("10.1.3.3", 8080, 1));
    bursty.getSpec().backendRateLimit = new io.nodelb.api.v1alpha1.BackendRateLimit();
    bursty.getSpec().backendRateLimit.newConnectionsPerSecond = 100;
    bursty.getSpec().backendRateLimit.burst = 500;
    var compiler = KubernetesInputs.compileAll(List.of(node("n1"), limited, bursty,
        staticGroup(null, "web", new StaticBackend("10.1.3.4", 8080, 1)),
        loadBalancer(null, "web", Map.of(), listener("a", "10.1.1.1", 80, "limited"),
            listener("b", "10.1.1.1", 81, "bursty"), listener("c", "10.1.1.1", 82, "web"))));

    assertThat(compiler.snapshot("n1").getTargetGroupsList())
        .extracting(g -> g.getName() + " " + (g.hasBackendRateLimit() ? g.getBackendRateLimit().getNewConnectionsPerSecond()
            + "/s burst " + g.getBackendRateLimit().getBurst() : "unlimited"))
        .containsExactlyInAnyOrder("default/limited 200/s burst 200", "default/bursty 100/s burst 500",
            "default/web unlimited");
    assertThat(compiler.problems()).isEmpty();
  }

  @Test
  void sniRoutesAndProxyProtocolReachTheSnapshotAndARouteToAMissingGroupIsAProblem() {
    var routed = listener("tls", "10.1.1.1", 443, "web");
    routed.tls = new io.nodelb.api.v1alpha1.ListenerTls();
    var web = new io.nodelb.api.v1alpha1.SniRoute();
    web.targetGroup = "web";
    web.serverNames = new ArrayList<>(List.of("*.example.com", "www.example.org"));
    routed.tls.sniRoutes = new ArrayList<>(List.of(new io.nodelb.api.v1alpha1.SniRoute("api", "api.example.com"), web,
        new io.nodelb.api.v1alpha1.SniRoute("missing", "gone.example.com")));
    routed.proxyProtocol = io.nodelb.api.v1alpha1.ProxyProtocol.V2;
    var v1 = listener("v1", "10.1.1.1", 444, "web");
    v1.proxyProtocol = io.nodelb.api.v1alpha1.ProxyProtocol.V1;
    var compiler = KubernetesInputs.compileAll(List.of(node("n1"), staticGroup(null, "web", new StaticBackend("10.1.3.2", 8080, 1)),
        staticGroup(null, "api", new StaticBackend("10.1.3.3", 8443, 1)),
        loadBalancer(null, "web", Map.of(), listener("http", "10.1.1.1", 80, "web"), routed, v1)));

    assertThat(compiler.snapshot("n1").getListenersList())
        .extracting(l -> l.getName() + " " + l.getProxyProtocol() + " " + l.getSniRoutesList().stream()
            .map(r -> r.getServerNamesList() + "->" + r.getTargetGroup()).toList())
        .containsExactly("default/web/http PROXY_PROTOCOL_NONE []",
            "default/web/tls PROXY_PROTOCOL_V2 [[api.example.com]->default/api, [*.example.com, www.example.org]->default/web]",
            "default/web/v1 PROXY_PROTOCOL_V1 []");
    assertThat(compiler.problems()).extracting(Problem::field)
        .containsExactly("spec.listeners[1].tls.sniRoutes[2].targetGroup");
  }

  @Test
  void nodeSelectorPicksTheNodesButEveryNodeGetsASnapshot() {
    var compiler = KubernetesInputs.compileAll(cluster());

    assertThat(compiler.snapshot("n1").getListenersCount()).isEqualTo(1);
    assertThat(compiler.snapshot("n2").getListenersCount()).isEqualTo(1);
    assertThat(compiler.snapshot("n3").getListenersList()).isEmpty();
    assertThat(compiler.snapshot("n3").getTargetGroupsList()).isEmpty();
    assertThat(compiler.nodesOf(new ObjectKey("shop", "web"))).containsExactly("n1", "n2");
  }

  @Test
  void sameInputsInAnyOrderGiveTheSameBytesAndVersion() {
    List<HasMetadata> inputs = cluster();
    inputs.add(slice("shop", "web-v6", "web", "IPv6", List.of(slicePort("http", 8080)),
        ready("fd00::2", "n2", "web-5"), ready("fd00::1", "n1", "web-4")));
    inputs.add(staticGroup("shop", "extra", new StaticBackend("10.9.0.2", 80, 1), new StaticBackend("10.9.0.1", 80, 2)));
    inputs.add(loadBalancer("shop", "extra", Map.of(), listener("b", null, 81, "extra"), listener("a", "10.1.1.2", 81, "extra")));
    Map<String, NodeSnapshot> reference = KubernetesInputs.compileAll(inputs).snapshots();

    Random random = new Random(42);
    for (int round = 0; round < 10; round++) {
      List<HasMetadata> shuffled = new ArrayList<>(inputs);
      Collections.shuffle(shuffled, random);
      Map<String, NodeSnapshot> again = KubernetesInputs.compileAll(shuffled).snapshots();
      assertThat(again.keySet()).isEqualTo(reference.keySet());
      again.forEach((node, snapshot) -> {
        assertThat(snapshot.getVersion()).isEqualTo(reference.get(node).getVersion());
        assertThat(Snapshots.serialize(snapshot)).isEqualTo(Snapshots.serialize(reference.get(node)));
      });
    }
  }

  @Test
  void incrementalChangesEndWhereAFullCompileOfTheSameStateEnds() {
    List<HasMetadata> inputs = cluster();
    ModelCompiler incremental = KubernetesInputs.compileAll(inputs);

    var scaled = slice("shop", "web-abc", "web", "IPv4", List.of(slicePort("http", 8080)),
        ready("10.0.1.1", "n1", "web-1"), ready("10.0.1.4", "n2", "web-6"));
    var retargeted = loadBalancer("shop", "web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    var drainedNode = node("n2", Map.of("pool", "edge"), Map.of("nodelb.io/drain", "true"));
    KubernetesInputs.put(incremental, scaled);
    incremental.compile();
    KubernetesInputs.put(incremental, retargeted);
    KubernetesInputs.put(incremental, drainedNode);
    incremental.compile();

    inputs.removeIf(o -> o.getMetadata().getName().equals("web-abc")
        || (o.getKind().equals("LoadBalancer")) || o.getMetadata().getName().equals("n2"));
    inputs.addAll(List.of(scaled, retargeted, drainedNode));
    Map<String, NodeSnapshot> full = KubernetesInputs.compileAll(inputs).snapshots();

    assertThat(incremental.snapshots()).isEqualTo(full);
  }

  @Test
  void oneSliceChangeTouchesOnlyTheNodesThatUseItsService() {
    List<HasMetadata> inputs = cluster();
    inputs.add(service("shop", "other", servicePort("http", 80, "http")));
    inputs.add(slice("shop", "other-1", "other", "IPv4", List.of(slicePort("http", 80)), ready("10.0.2.1", "n3", "o-1")));
    inputs.add(serviceGroup("shop", "other", "other", new IntOrString(80)));
    inputs.add(loadBalancer("shop", "other", Map.of("pool", "batch"), listener("http", "10.1.1.9", 80, "other")));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);
    String otherVersion = compiler.snapshot("n3").getVersion();

    KubernetesInputs.put(compiler, slice("shop", "web-abc", "web", "IPv4", List.of(slicePort("http", 8080)),
        ready("10.0.1.1", "n1", "web-1")));
    ModelCompiler.Result result = compiler.compile();

    assertThat(result.changed().keySet()).containsExactly("n1", "n2");
    assertThat(compiler.snapshot("n3").getVersion()).isEqualTo(otherVersion);
    assertThat(group(compiler.snapshot("n1"), "shop/web").getBackendsCount()).isEqualTo(1);
  }

  @Test
  void nothingChangedMeansNoNewSnapshots() {
    ModelCompiler compiler = KubernetesInputs.compileAll(cluster());
    KubernetesInputs.put(compiler, cluster().get(4)); // the same slice again, e.g. an informer resync

    assertThat(compiler.compile().isEmpty()).isTrue();
  }

  @Test
  void endpointConditionsFollowKep1669() throws Exception {
    List<HasMetadata> inputs = cluster();
    inputs.add(slice("shop", "web-abc", "web", "IPv4", List.of(slicePort("http", 8080)),
        endpoint("10.0.1.1", "n1", "ready", true, true, false),
        endpoint("10.0.1.2", "n1", "serving-terminating", false, true, true),
        endpoint("10.0.1.3", "n1", "terminating", false, false, true),
        endpoint("10.0.1.4", "n1", "not-ready", false, false, false),
        endpoint("10.0.1.5", "n1", "unknown", null, null, null)));
    inputs.remove(4);
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);
    TargetGroup web = group(compiler.snapshot("n1"), "shop/web");

    assertThat(backend(web, "10.0.1.1").getState()).isEqualTo(BackendState.ACTIVE);
    assertThat(backend(web, "10.0.1.2").getState()).isEqualTo(BackendState.FALLBACK);
    assertThat(backend(web, "10.0.1.3").getState()).isEqualTo(BackendState.DRAINING);
    assertThat(backend(web, "10.0.1.4")).as("not ready, not terminating: absent").isNull();
    assertThat(backend(web, "10.0.1.5").getState()).as("unset conditions mean ready").isEqualTo(BackendState.ACTIVE);
    assertThat(backend(web, "10.0.1.1").getOrigin()).isEqualTo("pod/shop/ready");
    assertThat(backend(web, "10.0.1.1").getNodeName()).isEqualTo("n1");
    assertThat(compiler.targetGroup(new ObjectKey("shop", "web")).counts())
        .isEqualTo(new CompiledGroup.EndpointTally(2, 1, 1, 0));
  }

  @Test
  void namedTargetPortsResolvePerSliceAndServicePortNumbersMapToTheirName() throws Exception {
    List<HasMetadata> inputs = cluster();
    inputs.remove(4);
    // The Service port 80 "http" targets the container port named "web": 8080 on old pods, 9090 on new ones.
    inputs.add(slice("shop", "web-old", "web", "IPv4", List.of(slicePort("http", 8080), slicePort("metrics", 9100)),
        ready("10.0.1.1", "n1", "old-1")));
    inputs.add(slice("shop", "web-new", "web", "IPv4", List.of(slicePort("http", 9090)), ready("10.0.1.2", "n2", "new-1")));
    inputs.add(slice("shop", "web-metrics-only", "web", "IPv4", List.of(slicePort("metrics", 9100)),
        ready("10.0.1.3", "n2", "sidecar")));
    inputs.removeIf(o -> o.getKind().equals("TargetGroup"));
    inputs.add(serviceGroup("shop", "web", "web", new IntOrString(80))); // by Service port number
    TargetGroup web = group(KubernetesInputs.compileAll(inputs).snapshot("n1"), "shop/web");

    assertThat(backend(web, "10.0.1.1").getPort()).isEqualTo(8080);
    assertThat(backend(web, "10.0.1.2").getPort()).isEqualTo(9090);
    assertThat(backend(web, "10.0.1.3")).as("slice without the port").isNull();
  }

  @Test
  void ipv4AndIpv6SlicesBothFeedTheGroup() throws Exception {
    List<HasMetadata> inputs = cluster();
    inputs.add(slice("shop", "web-v6", "web", "IPv6", List.of(slicePort("http", 8080)), ready("fd00::1", "n1", "web-1")));
    inputs.add(slice("shop", "web-fqdn", "web", "FQDN", List.of(slicePort("http", 8080)), ready("web.example.com", "n1", null)));
    TargetGroup web = group(KubernetesInputs.compileAll(inputs).snapshot("n1"), "shop/web");

    assertThat(web.getBackendsList()).extracting(b -> b.getAddress().size()).containsExactly(4, 4, 4, 16);
    assertThat(backend(web, "fd00::1").getPort()).isEqualTo(8080);
  }

  @Test
  void excludedOrAnnotatedNodesAreDrainedNotCut() throws Exception {
    List<HasMetadata> inputs = cluster();
    inputs.set(0, node("n1", Map.of("pool", "edge", "node.kubernetes.io/exclude-from-external-load-balancers", ""), Map.of()));
    inputs.set(1, node("n2", Map.of("pool", "edge"), Map.of("nodelb.io/drain", "true")));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);

    for (String node : List.of("n1", "n2")) {
      NodeSnapshot snapshot = compiler.snapshot(node);
      assertThat(snapshot.getListenersCount()).as("listeners stay so existing flows finish").isEqualTo(1);
      TargetGroup web = group(snapshot, "shop/web");
      assertThat(backend(web, "10.0.1.1").getState()).isEqualTo(BackendState.DRAINING);
      assertThat(backend(web, "10.0.1.2").getState()).isEqualTo(BackendState.DRAINING);
      assertThat(backend(web, "10.0.1.3").getState()).isEqualTo(BackendState.ACTIVE);
    }
  }

  @Test
  void aDrainedNodeSaysSoInItsSnapshotSoItsAgentTurnsReadinessOff() throws Exception {
    List<HasMetadata> inputs = cluster();
    inputs.set(1, node("n2", Map.of("pool", "edge"), Map.of("nodelb.io/drain", "true")));
    BackendDrainSpec byNode = new BackendDrainSpec();
    byNode.node = new NodeRef("n3");
    inputs.add(drain("other", "node", byNode));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);

    assertThat(compiler.snapshot("n1").getDraining()).isFalse();
    assertThat(compiler.snapshot("n2").getDraining()).as("annotated").isTrue();
    assertThat(compiler.snapshot("n3").getDraining()).as("a BackendDrain of the node").isTrue();
    for (String node : List.of("n2", "n3")) {
      NodeSnapshot snapshot = compiler.snapshot(node);
      assertThat(snapshot.getVersion()).isEqualTo(Snapshots.version(snapshot))
          .isNotEqualTo(Snapshots.version(snapshot.toBuilder().setDraining(false).build()));
      assertThat(compiler.serializedSnapshot(node)).isEqualTo(Snapshots.serialize(snapshot));
    }

    KubernetesInputs.remove(compiler, drain("other", "node", byNode));
    ModelCompiler.Result result = compiler.compile();
    assertThat(compiler.snapshot("n3").getDraining()).as("the drain deleted").isFalse();
    assertThat(result.changed()).containsKey("n3");
  }

  @Test
  void backendDrainsDrainPodsAddressesAndNodes() throws Exception {
    List<HasMetadata> inputs = cluster();
    BackendDrainSpec byPod = new BackendDrainSpec();
    byPod.pod = new PodRef("web-1");
    BackendDrainSpec byAddress = new BackendDrainSpec();
    byAddress.backend = new BackendRef("10.0.1.2", 8080);
    BackendDrainSpec byNode = new BackendDrainSpec();
    byNode.node = new NodeRef("n3");
    var cancelled = drain("shop", "cancelled", byNode);
    cancelled.setStatus(new BackendDrainStatus());
    cancelled.getStatus().phase = DrainPhase.Cancelled;
    inputs.addAll(List.of(drain("shop", "pod", byPod), drain("shop", "addr", byAddress), drain("other", "node", byNode)));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);
    TargetGroup web = group(compiler.snapshot("n1"), "shop/web");

    assertThat(web.getBackendsList()).extracting(Backend::getState).containsOnly(BackendState.DRAINING);
    assertThat(compiler.backendsDrainedBy(new ObjectKey("shop", "pod"))).isEqualTo(1);
    assertThat(compiler.backendsDrainedBy(new ObjectKey("other", "node"))).isEqualTo(1);
    var podBackend = new BackendAddress(ByteString.copyFrom(new byte[] {10, 0, 1, 1}), 8080);
    assertThat(compiler.drainedBackendsByNode(new ObjectKey("shop", "pod")))
        .as("every node whose snapshot carries shop/web counts the pod's flows")
        .containsOnlyKeys(compiler.nodesOf(new ObjectKey("shop", "web")))
        .allSatisfy((node, backends) -> assertThat(backends).containsExactly(podBackend));

    KubernetesInputs.remove(compiler, drain("shop", "pod", byPod));
    KubernetesInputs.remove(compiler, drain("other", "node", byNode));
    KubernetesInputs.put(compiler, cancelled);
    compiler.compile();
    TargetGroup after = group(compiler.snapshot("n1"), "shop/web");
    assertThat(backend(after, "10.0.1.1").getState()).isEqualTo(BackendState.ACTIVE);
    assertThat(backend(after, "10.0.1.2").getState()).isEqualTo(BackendState.DRAINING);
    assertThat(backend(after, "10.0.1.3").getState()).as("a cancelled drain drains nothing").isEqualTo(BackendState.ACTIVE);
    assertThat(compiler.backendsDrainedBy(new ObjectKey("shop", "pod"))).isZero();
    assertThat(compiler.drainedBackendsByNode(new ObjectKey("shop", "pod"))).isEmpty();
  }

  @Test
  void missingReferencesBecomeProblemsAPersonCanActOn() {
    List<HasMetadata> inputs = cluster();
    inputs.removeIf(o -> o.getKind().equals("Service"));
    inputs.add(loadBalancer("shop", "typo", Map.of(), listener("http", "10.1.1.3", 80, "wbe")));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);

    assertThat(compiler.problemsOf(new ObjectKey("shop", "web"))).singleElement().satisfies(p -> {
      assertThat(p.reason()).isEqualTo(Problem.SERVICE_NOT_FOUND);
      assertThat(p.kind()).isEqualTo("TargetGroup");
      assertThat(p.name()).isEqualTo("shop/web");
      assertThat(p.field()).isEqualTo("spec.services[0].name");
      assertThat(p.message()).contains("Service shop/web not found");
    });
    assertThat(compiler.problemsOf(new ObjectKey("shop", "typo"))).singleElement().satisfies(p -> {
      assertThat(p.reason()).isEqualTo(Problem.TARGET_GROUP_NOT_FOUND);
      assertThat(p.field()).isEqualTo("spec.listeners[0].targetGroup");
      assertThat(p.message()).contains("TargetGroup shop/wbe not found");
    });
    assertThat(compiler.snapshot("n3").getListenersList()).as("the listener without a group is not programmed")
        .extracting(l -> l.getName()).doesNotContain("shop/typo/http");
  }

  @Test
  void aListenerWhoseStaticGroupHasNoBackendOfItsFamilyIsRefusedAServiceGroupIsNot() {
    List<HasMetadata> inputs = cluster();
    inputs.add(staticGroup("shop", "v4only", new StaticBackend("10.0.2.1", 8080, 1)));
    inputs.add(loadBalancer("shop", "v6", Map.of(), listener("http", "2001:db8::1", 80, "v4only"),
        listener("svc", "2001:db8::2", 80, "web")));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);

    assertThat(compiler.problemsOf(new ObjectKey("shop", "v6"))).satisfiesExactly(p -> {
      assertThat(p.reason()).isEqualTo(Problem.NO_BACKEND_OF_FAMILY);
      assertThat(p.field()).isEqualTo("spec.listeners[0].targetGroup");
      assertThat(p.message()).contains("TargetGroup shop/v4only has no IPv6 backend");
    }, p -> assertThat(p.reason()).isEqualTo(Problem.NO_ENDPOINT_OF_FAMILY));
    assertThat(compiler.snapshot("n1").getListenersList()).extracting(l -> l.getName())
        .as("the Service group may gain IPv6 endpoints: its listener stays")
        .contains("shop/v6/svc").doesNotContain("shop/v6/http");
  }

  @Test
  void aServiceGroupWithoutEndpointsOfTheListenersFamilySaysSoUntilItHasOne() {
    List<HasMetadata> inputs = cluster();
    inputs.add(loadBalancer("shop", "v6", Map.of(), listener("svc", "2001:db8::2", 80, "web")));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);
    ObjectKey lb = new ObjectKey("shop", "v6");

    assertThat(compiler.problemsOf(lb)).singleElement().satisfies(p -> {
      assertThat(p.reason()).isEqualTo(Problem.NO_ENDPOINT_OF_FAMILY);
      assertThat(p.field()).isEqualTo("spec.listeners[0].targetGroup");
      assertThat(p.message()).contains("TargetGroup shop/web has no IPv6 backend now", "dropped until");
    });
    assertThat(compiler.snapshot("n1").getListenersList()).extracting(l -> l.getName()).contains("shop/v6/svc");

    KubernetesInputs.put(compiler, slice("shop", "web-v6", "web", "IPv6", List.of(slicePort("http", 8080)),
        ready("fd00::1", "n1", "web-1")));
    compiler.compile();
    assertThat(compiler.problemsOf(lb)).as("an IPv6 endpoint arrived").isEmpty();
  }

  @Test
  void aStaticGroupThatLosesItsLastBackendOfAFamilyTakesTheListenerDown() {
    List<HasMetadata> inputs = cluster();
    inputs.add(staticGroup("shop", "dual", new StaticBackend("10.0.2.1", 8080, 1), new StaticBackend("fd00::2", 8080, 1)));
    inputs.add(loadBalancer("shop", "v6", Map.of(), listener("http", "2001:db8::1", 80, "dual")));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);
    ObjectKey lb = new ObjectKey("shop", "v6");
    assertThat(compiler.problemsOf(lb)).isEmpty();

    KubernetesInputs.put(compiler, staticGroup("shop", "dual", new StaticBackend("10.0.2.1", 8080, 1)));
    compiler.compile();
    assertThat(compiler.problemsOf(lb)).singleElement()
        .satisfies(p -> assertThat(p.reason()).isEqualTo(Problem.NO_BACKEND_OF_FAMILY));
    assertThat(compiler.snapshot("n1").getListenersList()).extracting(l -> l.getName()).doesNotContain("shop/v6/http");
  }

  @Test
  void aTargetGroupThatAppearsLaterBringsItsListenersBack() {
    List<HasMetadata> inputs = cluster();
    var group = inputs.remove(5);
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);
    assertThat(compiler.snapshot("n1").getListenersList()).isEmpty();

    KubernetesInputs.put(compiler, group);
    var result = compiler.compile();

    assertThat(result.changed().keySet()).containsExactly("n1", "n2");
    assertThat(compiler.snapshot("n1").getListenersCount()).isEqualTo(1);
    assertThat(compiler.problemsOf(new ObjectKey("shop", "web"))).isEmpty();
  }

  @Test
  void sourceRoutesAreSortedAndBringTheirGroups() throws Exception {
    var withRoutes = listener("http", "10.1.1.5", 80, "stable");
    withRoutes.sourceRoutes = new ArrayList<>(List.of(new SourceRoute("172.16.5.0/24", "admins"),
        new SourceRoute("172.16.0.0/12", "canary")));
    ModelCompiler compiler = KubernetesInputs.compileAll(List.of(node("n1"),
        staticGroup("default", "stable", new StaticBackend("10.2.0.10", 80, 1)),
        staticGroup("default", "canary", new StaticBackend("10.2.1.10", 80, 1)),
        staticGroup("default", "admins", new StaticBackend("10.2.2.10", 80, 1)),
        loadBalancer("default", "routed", Map.of(), withRoutes)));
    NodeSnapshot snapshot = compiler.snapshot("n1");

    var routes = snapshot.getListeners(0).getSourceRoutesList();
    assertThat(routes).extracting(r -> r.getPrefix(), r -> r.getPrefixLength(), r -> r.getTargetGroup()).containsExactly(
        org.assertj.core.groups.Tuple.tuple(ip("172.16.0.0"), 12, "default/canary"),
        org.assertj.core.groups.Tuple.tuple(ip("172.16.5.0"), 24, "default/admins"));
    assertThat(snapshot.getTargetGroupsList()).extracting(TargetGroup::getName)
        .containsExactly("default/admins", "default/canary", "default/stable");
  }

  @Test
  void aSourceRouteWithHostBitsIsRefusedNotSilentlyMasked() {
    var withRoutes = listener("http", "10.1.1.5", 80, "stable");
    withRoutes.sourceRoutes = new ArrayList<>(List.of(new SourceRoute("172.16.5.7/24", "stable")));
    ModelCompiler compiler = KubernetesInputs.compileAll(List.of(node("n1"),
        staticGroup("default", "stable", new StaticBackend("10.2.0.10", 80, 1)),
        loadBalancer("default", "routed", Map.of(), withRoutes)));

    assertThat(compiler.problemsOf(new ObjectKey("default", "routed"))).singleElement().satisfies(p -> {
      assertThat(p.field()).isEqualTo("spec.listeners[0].sourceRoutes[0].cidr");
      assertThat(p.message()).contains("without host bits");
    });
  }

  @Test
  void removingALoadBalancerEmptiesItsNodes() {
    ModelCompiler compiler = KubernetesInputs.compileAll(cluster());
    compiler.removeLoadBalancer(new ObjectKey("shop", "web"));
    var result = compiler.compile();

    assertThat(result.changed().keySet()).containsExactly("n1", "n2");
    assertThat(compiler.snapshot("n1").getListenersList()).isEmpty();
    assertThat(compiler.snapshot("n1").getTargetGroupsList()).isEmpty();
  }

  @Test
  void twoLoadBalancersCannotShareAnAddressPortAndProtocolOnANode() {
    List<HasMetadata> inputs = new ArrayList<>(List.of(node("n1"), node("n2", Map.of("pool", "other"), Map.of()),
        staticGroup("default", "web", new StaticBackend("10.1.2.2", 8080, 1)),
        loadBalancer("default", "a", Map.of(), listener("http", "10.1.1.1", 80, "web")),
        loadBalancer("default", "b", Map.of("pool", "other"), listener("http", "10.1.1.1", 80, "web"),
            listener("alt", "10.1.1.1", 81, "web"))));
    ModelCompiler compiler = KubernetesInputs.compileAll(inputs);

    assertThat(compiler.snapshot("n2").getListenersList()).extracting(l -> l.getName())
        .as("the name that sorts first keeps the VIP").containsExactly("default/a/http", "default/b/alt");
    assertThat(compiler.problemsOf(new ObjectKey("default", "a"))).isEmpty();
    assertThat(compiler.problemsOf(new ObjectKey("default", "b"))).singleElement().satisfies(p -> {
      assertThat(p.reason()).isEqualTo(Problem.LISTENER_CONFLICT);
      assertThat(p.field()).isEqualTo("spec.listeners[http]");
      assertThat(p.message()).contains("default/a/http").contains("node n2");
    });

    compiler.removeLoadBalancer(new ObjectKey("default", "a"));
    var result = compiler.compile();
    assertThat(result.changed()).containsKeys("n1", "n2");
    assertThat(compiler.snapshot("n2").getListenersList()).extracting(l -> l.getName())
        .containsExactly("default/b/alt", "default/b/http");
    assertThat(compiler.problemsOf(new ObjectKey("default", "b"))).isEmpty();
  }

  @Test
  void aLoadBalancersIcmpEchoGoesToEachOfItsListeners() {
    io.nodelb.api.v1alpha1.LoadBalancer replying = loadBalancer("default", "a", Map.of(), listener("http", "10.1.1.1", 80, "web"),
        listener("dns", "10.1.1.2", 53, "web"));
    replying.getSpec().icmpEcho = io.nodelb.api.v1alpha1.IcmpEcho.Reply;
    ModelCompiler compiler = KubernetesInputs.compileAll(List.of(node("n1"),
        staticGroup("default", "web", new StaticBackend("10.1.2.2", 8080, 1)), replying,
        loadBalancer("default", "b", Map.of(), listener("http", "10.1.1.3", 80, "web"))));

    assertThat(compiler.snapshot("n1").getListenersList()).extracting(l -> l.getName(), l -> l.getIcmpEcho())
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("default/a/dns", IcmpEcho.ICMP_ECHO_REPLY),
            org.assertj.core.groups.Tuple.tuple("default/a/http", IcmpEcho.ICMP_ECHO_REPLY),
            org.assertj.core.groups.Tuple.tuple("default/b/http", IcmpEcho.ICMP_ECHO_PASS));
    assertThat(compiler.problems()).isEmpty();
  }

  /** The data plane has one icmpEcho per address: the LoadBalancer whose listener sorts first decides. */
  @Test
  void loadBalancersSharingAnAddressWithAnotherIcmpEchoAreReported() {
    io.nodelb.api.v1alpha1.LoadBalancer a = loadBalancer("default", "a", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    a.getSpec().icmpEcho = io.nodelb.api.v1alpha1.IcmpEcho.Reply;
    io.nodelb.api.v1alpha1.LoadBalancer b = loadBalancer("default", "b", Map.of(), listener("alt", "10.1.1.1", 81, "web"));
    b.getSpec().icmpEcho = io.nodelb.api.v1alpha1.IcmpEcho.Drop;
    ModelCompiler compiler = KubernetesInputs.compileAll(List.of(node("n1"),
        staticGroup("default", "web", new StaticBackend("10.1.2.2", 8080, 1)), a, b));

    assertThat(compiler.snapshot("n1").getListenersList()).extracting(l -> l.getName(), l -> l.getIcmpEcho())
        .as("both served, with a's setting").containsExactly(
            org.assertj.core.groups.Tuple.tuple("default/a/http", IcmpEcho.ICMP_ECHO_REPLY),
            org.assertj.core.groups.Tuple.tuple("default/b/alt", IcmpEcho.ICMP_ECHO_REPLY));
    assertThat(compiler.problemsOf(new ObjectKey("default", "a"))).isEmpty();
    assertThat(compiler.problemsOf(new ObjectKey("default", "b"))).singleElement().satisfies(p -> {
      assertThat(p.reason()).isEqualTo(Problem.ICMP_ECHO_CONFLICT);
      assertThat(p.field()).isEqualTo("spec.icmpEcho");
      assertThat(p.message()).contains("default/a/http").contains("node n1");
    });

    compiler.removeLoadBalancer(new ObjectKey("default", "a"));
    compiler.compile();
    assertThat(compiler.snapshot("n1").getListenersList()).extracting(l -> l.getIcmpEcho())
        .containsExactly(IcmpEcho.ICMP_ECHO_DROP);
    assertThat(compiler.problemsOf(new ObjectKey("default", "b"))).isEmpty();
  }
}
