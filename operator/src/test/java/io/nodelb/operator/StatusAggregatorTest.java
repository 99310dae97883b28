package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.api.v1alpha1.ListenerSpec;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.LoadBalancerSpec;
import io.nodelb.api.v1alpha1.LoadBalancerStatus;
import io.nodelb.model.compiler.Problem;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StatusAggregatorTest {
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  private static LoadBalancer lb() {
    LoadBalancer lb = new LoadBalancer();
    lb.getMetadata().setNamespace("shop");
    lb.getMetadata().setName("web");
    lb.getMetadata().setGeneration(3L);
    lb.setSpec(new LoadBalancerSpec());
    ListenerSpec v4 = new ListenerSpec();
    v4.name = "http";
    v4.address = "10.1.1.1";
    v4.port = 80;
    ListenerSpec v6 = new ListenerSpec();
    v6.name = "https";
    v6.address = "2001:db8::7";
    v6.port = 443;
    ListenerSpec any = new ListenerSpec();
    any.name = "any";
    any.port = 8080;
    lb.getSpec().listeners = new ArrayList<>(List.of(v4, v6, any));
    return lb;
  }

  private static StatusAggregator.NodeAnswer answer(String node, SnapshotStore.Answer answer) {
    return new StatusAggregator.NodeAnswer(node, answer, answer == SnapshotStore.Answer.NACKED ? "eth0 missing" : "");
  }

  @Test
  void noAgentAnswerYetMeansProgrammedUnknownPending() {
    LoadBalancerStatus status = StatusAggregator.loadBalancer(lb(), List.of(),
        List.of(answer("n1", SnapshotStore.Answer.PENDING), answer("n2", SnapshotStore.Answer.ACKED)), T0).orElseThrow();

    var programmed = Conditions.find(status.conditions, "Programmed");
    assertThat(programmed.getStatus()).isEqualTo("Unknown");
    assertThat(programmed.getReason()).isEqualTo("Pending");
    assertThat(programmed.getMessage()).contains("1 of 2");
    assertThat(programmed.getObservedGeneration()).isEqualTo(3L);
    assertThat(Conditions.find(status.conditions, "Ready").getReason()).isEqualTo("Pending");
    assertThat(status.nodes.desired).isEqualTo(2);
    assertThat(status.nodes.programmed).isEqualTo(1);
    assertThat(status.listeners).isEqualTo("10.1.1.1:80/TCP,[2001:db8::7]:443/TCP,*:8080/TCP");
    assertThat(status.observedGeneration).isEqualTo(3L);
  }

  @Test
  void unchangedOutcomeIsNoUpdateAndTransitionTimesOnlyMoveOnChange() {
    LoadBalancer lb = lb();
    var nodes = List.of(answer("n1", SnapshotStore.Answer.PENDING));
    lb.setStatus(StatusAggregator.loadBalancer(lb, List.of(), nodes, T0).orElseThrow());

    assertThat(StatusAggregator.loadBalancer(lb, List.of(), nodes, T0.plusSeconds(60))).isEmpty();

    LoadBalancerStatus acked = StatusAggregator.loadBalancer(lb, List.of(),
        List.of(answer("n1", SnapshotStore.Answer.ACKED)), T0.plusSeconds(60)).orElseThrow();
    assertThat(Conditions.find(acked.conditions, "Accepted").getLastTransitionTime()).isEqualTo(T0.toString());
    assertThat(Conditions.find(acked.conditions, "Programmed").getLastTransitionTime()).isEqualTo(T0.plusSeconds(60).toString());
    assertThat(Conditions.find(acked.conditions, "Ready").getStatus()).isEqualTo("True");
  }

  @Test
  void problemsBecomeAcceptedAndResolvedRefsWithTheirReasons() {
    var problems = List.of(
        new Problem("LoadBalancer", "shop/web", "spec", Problem.INVALID, "snatAddress is only used with natMode FullNAT"),
        new Problem("TargetGroup", "shop/api", "spec.services[0].name", Problem.SERVICE_NOT_FOUND, "Service shop/api not found"));
    LoadBalancerStatus status = StatusAggregator.loadBalancer(lb(), problems,
        List.of(answer("n1", SnapshotStore.Answer.PENDING)), T0).orElseThrow();

    assertThat(Conditions.find(status.conditions, "Accepted").getReason()).isEqualTo("Invalid");
    assertThat(Conditions.find(status.conditions, "Accepted").getMessage()).isEqualTo("spec: snatAddress is only used with natMode FullNAT");
    assertThat(Conditions.find(status.conditions, "ResolvedRefs").getReason()).isEqualTo("ServiceNotFound");
    assertThat(Conditions.find(status.conditions, "ResolvedRefs").getMessage())
        .isEqualTo("spec.services[0].name: Service shop/api not found");
    assertThat(Conditions.find(status.conditions, "Programmed").getStatus()).isEqualTo("False");
    assertThat(Conditions.find(status.conditions, "Ready").getReason()).isEqualTo("Invalid");
  }

  @Test
  void aMissingTargetGroupSaysWhatIsNotProgrammed() {
    var problems = List.of(new Problem("LoadBalancer", "shop/web", "spec.listeners[0].targetGroup",
        Problem.TARGET_GROUP_NOT_FOUND, "TargetGroup shop/wbe not found; create it or fix the name"));
    LoadBalancerStatus status = StatusAggregator.loadBalancer(lb(), problems,
        List.of(answer("n1", SnapshotStore.Answer.PENDING)), T0).orElseThrow();

    assertThat(Conditions.find(status.conditions, "ResolvedRefs").getMessage()).isEqualTo(
        "spec.listeners[0].targetGroup: TargetGroup shop/wbe not found; create it or fix the name; "
            + "listeners and routes whose TargetGroup is missing or invalid are not programmed");
  }

  @Test
  void aListenerWithoutBackendsOfItsFamilyMakesTheLoadBalancerNotReady() {
    var problems = List.of(new Problem("LoadBalancer", "shop/web", "spec.listeners[1].targetGroup",
        Problem.NO_ENDPOINT_OF_FAMILY, "TargetGroup shop/web has no IPv6 backend now"));
    LoadBalancerStatus status = StatusAggregator.loadBalancer(lb(), problems,
        List.of(answer("n1", SnapshotStore.Answer.ACKED)), T0).orElseThrow();

    assertThat(Conditions.find(status.conditions, "Programmed").getStatus()).isEqualTo("True");
    var ready = Conditions.find(status.conditions, "Ready");
    assertThat(ready.getStatus()).isEqualTo("False");
    assertThat(ready.getReason()).isEqualTo("NoEndpointOfFamily");
    assertThat(ready.getMessage()).isEqualTo("spec.listeners[1].targetGroup: TargetGroup shop/web has no IPv6 backend now");
  }

  @Test
  void refusingAgentsAreListedAsFailing() {
    LoadBalancerStatus status = StatusAggregator.loadBalancer(lb(), List.of(),
        List.of(answer("n1", SnapshotStore.Answer.NACKED), answer("n2", SnapshotStore.Answer.ACKED)), T0).orElseThrow();

    assertThat(Conditions.find(status.conditions, "Programmed").getReason()).isEqualTo("NodesFailing");
    assertThat(status.nodes.failing).singleElement().satisfies(f -> assertThat(f.reason).isEqualTo("eth0 missing"));
  }

  @Test
  void aNodeWithoutAgentIsNotProgrammedAndNamedWithTheNackedOnes() {
    LoadBalancerStatus status = StatusAggregator.loadBalancer(lb(), List.of(), List.of(
        answer("n1", SnapshotStore.Answer.NACKED),
        new StatusAggregator.NodeAnswer("n2", SnapshotStore.Answer.NOT_CONNECTED, "agent not connected"),
        answer("n3", SnapshotStore.Answer.ACKED),
        answer("n4", SnapshotStore.Answer.PENDING)), T0).orElseThrow();

    var programmed = Conditions.find(status.conditions, "Programmed");
    assertThat(programmed.getStatus()).isEqualTo("False");
    assertThat(programmed.getReason()).isEqualTo("NodesFailing");
    assertThat(programmed.getMessage()).isEqualTo("2 of 4 node(s) not programmed: n1: eth0 missing; n2: agent not connected");
    assertThat(status.nodes.programmed).isEqualTo(1);
    assertThat(status.nodes.failing).extracting(f -> f.node + "=" + f.reason)
        .containsExactly("n1=eth0 missing", "n2=agent not connected");
  }
}
