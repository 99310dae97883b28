package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.StaticBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import io.nodelb.model.compiler.ObjectKey;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Programmed per LoadBalancer: a node's agent runs a LoadBalancer's configuration once it ACKed a
 * version that carries it. A change to another LoadBalancer on the same node neither makes it
 * Pending nor reconciles it, and an ACK reconciles only the LoadBalancers that waited for it.
 */
class ClusterModelProgrammedTest {
  private static final ObjectKey A = new ObjectKey("shop", "a");
  private static final ObjectKey B = new ObjectKey("shop", "b");
  private static final List<Node> NODES = List.of(new NodeBuilder().withNewMetadata().withName("n1")
      .withResourceVersion("1").endMetadata().build());

  private final Instant now = Instant.parse("2026-11-20T10:00:00Z");
  private final InMemorySnapshotStore store = new InMemorySnapshotStore(Duration.ofSeconds(60), Clock.fixed(now, ZoneOffset.UTC));
  private final ClusterModel model = new ClusterModel(store);
  /** LoadBalancers the model asked to reconcile (outcome changes and agent answers). */
  private final Set<ObjectKey> reconciled = new HashSet<>();
  private int version = 10;

  @BeforeEach
  void twoLoadBalancersOnOneNodeBothAcked() {
    model.addListener(changes -> reconciled.addAll(changes.loadBalancers()));
    model.putTargetGroup(group("a", 1), java.util.Map.of(), java.util.Map.of());
    model.putTargetGroup(group("b", 1), java.util.Map.of(), java.util.Map.of());
    model.putLoadBalancer(loadBalancer("a", "10.1.1.1"), NODES);
    model.putLoadBalancer(loadBalancer("b", "10.1.1.2"), NODES);
    store.agentConnected("n1", "test", now);
    store.acknowledge("n1", desired());
    assertThat(answer(A)).isEqualTo(SnapshotStore.Answer.ACKED);
    assertThat(answer(B)).isEqualTo(SnapshotStore.Answer.ACKED);
    reconciled.clear();
  }

  @Test
  void aChangeOfOneLoadBalancersGroupReconcilesOnlyItAndLeavesTheOtherProgrammed() {
    model.putTargetGroup(group("a", 5), java.util.Map.of(), java.util.Map.of());

    assertThat(reconciled).containsExactly(A);
    assertThat(store.state("n1").answer()).as("the node as a whole").isEqualTo(SnapshotStore.Answer.PENDING);
    assertThat(answer(A)).isEqualTo(SnapshotStore.Answer.PENDING);
    assertThat(answer(B)).as("its configuration is in the version the agent runs").isEqualTo(SnapshotStore.Answer.ACKED);

    reconciled.clear();
    store.acknowledge("n1", desired());

    assertThat(reconciled).as("only the LoadBalancer that waited").containsExactly(A);
    assertThat(answer(A)).isEqualTo(SnapshotStore.Answer.ACKED);
  }

  @Test
  void aRefusedVersionFailsTheLoadBalancerWhoseChangeItCarriesNotTheOthers() {
    model.putTargetGroup(group("b", 7), java.util.Map.of(), java.util.Map.of());
    reconciled.clear();

    store.reject("n1", desired(), "map full");

    assertThat(reconciled).containsExactly(B);
    assertThat(model.answerOn(B, "n1").answer()).isEqualTo(SnapshotStore.Answer.NACKED);
    assertThat(model.answerOn(B, "n1").error()).isEqualTo("map full");
    assertThat(answer(A)).isEqualTo(SnapshotStore.Answer.ACKED);
  }

  @Test
  void aChangeThatLeavesTheSnapshotAsItWasIsProgrammedAtOnce() {
    String before = desired();
    LoadBalancer same = loadBalancer("a", "10.1.1.1");
    same.getMetadata().setResourceVersion("99"); // stored again (e.g. a label changed), same configuration

    model.putLoadBalancer(same, NODES);

    assertThat(desired()).isEqualTo(before);
    assertThat(answer(A)).isEqualTo(SnapshotStore.Answer.ACKED);
  }

  @Test
  void aNewStreamReconcilesEveryLoadBalancerOnTheNodeAndItsFirstAckAgain() {
    store.agentConnected("n1", "test", now);
    assertThat(reconciled).containsExactlyInAnyOrder(A, B);
    assertThat(answer(A)).as("no ACK on this stream yet").isEqualTo(SnapshotStore.Answer.PENDING);

    reconciled.clear();
    store.acknowledge("n1", desired());
    assertThat(reconciled).containsExactlyInAnyOrder(A, B);
    assertThat(answer(B)).isEqualTo(SnapshotStore.Answer.ACKED);
  }

  private SnapshotStore.Answer answer(ObjectKey lb) {
    return model.answerOn(lb, "n1").answer();
  }

  private String desired() {
    return store.snapshot("n1").orElseThrow().getVersion();
  }

  private TargetGroup group(String name, int weight) {
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace("shop");
    tg.getMetadata().setName(name);
    tg.getMetadata().setUid("uid-" + name);
    tg.getMetadata().setGeneration((long) weight);
    tg.getMetadata().setResourceVersion(String.valueOf(version++));
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().backends = new ArrayList<>(List.of(new StaticBackend("10.9.0." + (name.equals("a") ? 1 : 2), 8080, weight)));
    return tg;
  }

  private LoadBalancer loadBalancer(String name, String address) {
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace("shop");
    lb.getMetadata().setName(name);
    lb.getMetadata().setUid("uid-lb-" + name);
    lb.getMetadata().setGeneration(1L);
    lb.getMetadata().setResourceVersion(String.valueOf(version++));
    lb.setSpec(new LoadBalancerSpec());
    lb.getSpec().interfaces = new ArrayList<>(List.of("eth0"));
    ListenerSpec listener = new ListenerSpec();
    listener.name = "http";
    listener.address = address;
    listener.port = 80;
    listener.targetGroup = name;
    lb.getSpec().listeners = new ArrayList<>(List.of(listener));
    return lb;
  }
}
