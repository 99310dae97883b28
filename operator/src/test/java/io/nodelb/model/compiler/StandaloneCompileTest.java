package io.nodelb.model.compiler;

import io.nodelb.operator.KubernetesInputs;
import static io.nodelb.model.compiler.Fixtures.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StandaloneCompileTest {
  private static final String FILE = """
      apiVersion: nodelb.io/v1alpha1
      kind: TargetGroup
      metadata: {name: web}
      spec:
        backends:
        - {address: 10.1.2.2, port: 8080, weight: 3}
        - {address: 10.1.3.2, port: 8080, weight: 1}
      ---
      apiVersion: nodelb.io/v1alpha1
      kind: LoadBalancer
      metadata: {name: web}
      spec:
        interfaces: [eth0]
        natMode: DNAT
        listeners:
        - {name: http, address: 10.1.1.1, port: 80, protocol: TCP, targetGroup: web}
      """;

  @Test
  void theAgentsFileFormatCompilesForItsNode() {
    KubernetesSerialization yaml = new KubernetesSerialization();
    String[] documents = FILE.split("---\n");
    TargetGroup tg = yaml.unmarshal(documents[0], TargetGroup.class);
    LoadBalancer lb = yaml.unmarshal(documents[1], LoadBalancer.class);

    NodeSnapshot snapshot = Fixtures.compileStandalone(List.of(lb), List.of(tg), "lab-node");

    assertThat(snapshot.getNode()).isEqualTo("lab-node");
    assertThat(snapshot.getListenersList()).extracting(l -> l.getName()).containsExactly("default/web/http");
    assertThat(snapshot.getTargetGroupsList()).extracting(g -> g.getName()).containsExactly("default/web");
    assertThat(snapshot.getTargetGroups(0).getBackendsList()).extracting(b -> b.getWeight()).containsExactly(3, 1);
    assertThat(snapshot.getVersion()).isEqualTo(Snapshots.version(snapshot));
  }

  @Test
  void nodeSelectorIsIgnoredInFiles() {
    NodeSnapshot snapshot = Fixtures.compileStandalone(
        List.of(loadBalancer("lab", "web", Map.of("pool", "nowhere"), listener("http", "10.1.1.1", 80, "web"))),
        List.of(staticGroup("lab", "web", new StaticBackend("10.1.2.2", 8080, 1))), "n");

    assertThat(snapshot.getListenersList()).extracting(l -> l.getName()).containsExactly("lab/web/http");
  }

  @Test
  void everyProblemIsListedAndTheFileIsRefused() {
    var bad = loadBalancer(null, "web", Map.of(), listener("http", "10.1.1.1", 80, "missing"),
        listener("svc", "10.1.1.1", 81, "from-service"));
    var portZero = loadBalancer(null, "zero", Map.of(), listener("http", "10.1.1.2", 0, "web"));

    assertThatThrownBy(() -> Fixtures.compileStandalone(List.of(bad, portZero),
            List.of(serviceGroup(null, "from-service", "api", new IntOrString("http"))), "n"))
        .isInstanceOfSatisfying(ModelProblemsException.class, e -> {
          assertThat(e.problems()).extracting(Problem::reason).containsExactlyInAnyOrder(
              Problem.NEEDS_CLUSTER, Problem.TARGET_GROUP_NOT_FOUND, Problem.INVALID);
          assertThat(e.getMessage()).contains("LoadBalancer default/zero spec.listeners[0].port: Invalid value: 0: spec.listeners[0].port in body should be greater than or equal to 1");
          assertThat(e.getMessage()).contains("LoadBalancer default/web spec.listeners[0].targetGroup: TargetGroup default/missing not found");
        });
  }

  @Test
  void twoFilesClaimingTheSameVipAreRefused() {
    var first = loadBalancer(null, "first", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    var second = loadBalancer(null, "second", Map.of(), listener("http", "10.1.1.1", 80, "web"));

    assertThatThrownBy(() -> Fixtures.compileStandalone(List.of(first, second),
            List.of(staticGroup(null, "web", new StaticBackend("10.1.2.2", 8080, 1))), "n"))
        .isInstanceOfSatisfying(ModelProblemsException.class, e -> assertThat(e.problems())
            .extracting(Problem::name, Problem::reason)
            .containsExactly(org.assertj.core.groups.Tuple.tuple("default/second", Problem.LISTENER_CONFLICT)));
  }

  @Test
  void loadBalancersSharingAVipWithAnotherIcmpEchoAreRefused() {
    var first = loadBalancer(null, "first", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    var second = loadBalancer(null, "second", Map.of(), listener("dns", "10.1.1.1", 53, "web"));
    second.getSpec().icmpEcho = io.nodelb.api.v1alpha1.IcmpEcho.Drop;

    assertThatThrownBy(() -> Fixtures.compileStandalone(List.of(first, second),
            List.of(staticGroup(null, "web", new StaticBackend("10.1.2.2", 8080, 1))), "n"))
        .isInstanceOfSatisfying(ModelProblemsException.class, e -> assertThat(e.problems())
            .extracting(Problem::name, Problem::reason, Problem::field)
            .containsExactly(org.assertj.core.groups.Tuple.tuple("default/second", Problem.ICMP_ECHO_CONFLICT,
                "spec.icmpEcho")));
  }

  @Test
  void sessionPersistenceSourceIpSelectsByClientAddress() {
    var lb = loadBalancer(null, "web", Map.of(), listener("http", "10.1.1.1", 80, "web"));
    TargetGroup group = staticGroup(null, "web", new StaticBackend("10.1.2.2", 8080, 1));
    assertThat(Fixtures.compileStandalone(List.of(lb), List.of(group), "n").getTargetGroupsList().getFirst()
        .getAlgorithm()).isEqualTo(io.nodelb.dataplane.v1alpha1.Algorithm.MAGLEV);
    group.getSpec().sessionPersistence = io.nodelb.api.v1alpha1.SessionPersistence.SourceIP;
    assertThat(Fixtures.compileStandalone(List.of(lb), List.of(group), "n").getTargetGroupsList().getFirst()
        .getAlgorithm()).isEqualTo(io.nodelb.dataplane.v1alpha1.Algorithm.SOURCE_IP);
  }
}
