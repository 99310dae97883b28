package io.nodelb.model.input;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.model.compiler.ObjectKey;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The compiler's inputs bound from documents as YAML or JSON decode them, with no Kubernetes types. */
class InputsTest {

    @Test
    void aLoadBalancerDocumentBindsEveryFieldTheCompilerReads() {
        Map<String, Object> spec = Map.of(
                "nodeSelector", Map.of("pool", "edge"),
                "interfaces", List.of("eth1", "eth0"),
                "natMode", "FullNAT",
                "snatAddress", "10.0.0.9",
                "idleTimeouts", Map.of("udp", "30s"),
                "listeners", List.of(Map.of("name", "dns", "address", "10.1.1.1", "port", 53L, "protocol", "UDP",
                        "targetGroup", "resolvers",
                        "sourceRoutes", List.of(Map.of("cidr", "192.0.2.0/24", "targetGroup", "canary")))));
        var input = new LoadBalancerInput(new ObjectKey("default", "edge"), Revision.NONE, spec);

        LoadBalancerInput.Spec bound = input.bound();

        assertThat(bound.fullNat()).isTrue();
        assertThat(bound.snatAddress()).isEqualTo("10.0.0.9");
        assertThat(bound.nodeSelector()).containsExactly(Map.entry("pool", "edge"));
        assertThat(bound.interfaces()).containsExactly("eth1", "eth0");
        assertThat(bound.idleTimeouts()).isEqualTo(new LoadBalancerInput.IdleTimeouts(null, null, "30s"));
        LoadBalancerInput.ListenerSpec listener = bound.listeners().getFirst();
        assertThat(listener.port()).isEqualTo(53);
        assertThat(listener.udp()).isTrue();
        assertThat(listener.sourceRoutes()).containsExactly(new LoadBalancerInput.SourceRoute("192.0.2.0/24", "canary"));
        assertThat(input.targetGroupNames()).containsExactly("resolvers", "canary");
    }

    @Test
    void aServicePortIsANumberOrAName() {
        Map<String, Object> spec = Map.of("services", List.of(
                Map.of("name", "api", "port", 8080), Map.of("name", "web", "port", "http", "weight", 3)));
        var input = new TargetGroupInput(new ObjectKey("shop", "front"), Revision.NONE, spec);

        assertThat(input.bound().services()).containsExactly(
                new TargetGroupInput.ServiceBackend("api", 8080, null, null),
                new TargetGroupInput.ServiceBackend("web", null, "http", 3));
        assertThat(input.serviceNames()).containsExactly("api", "web");
    }

    @Test
    void namesAreReadToleratingAnInvalidSpec() {
        Map<String, Object> spec = Map.of("listeners", List.of("not a listener", Map.of("targetGroup", 7)),
                "services", "not a list");

        assertThat(new LoadBalancerInput(new ObjectKey("default", "x"), Revision.NONE, spec).targetGroupNames()).isEmpty();
        assertThat(new TargetGroupInput(new ObjectKey("default", "x"), Revision.NONE, spec).serviceNames()).isEmpty();
        assertThat(new LoadBalancerInput(new ObjectKey("default", "x"), Revision.NONE, null).targetGroupNames()).isEmpty();
    }

    @Test
    void aRevisionWithoutVersionIsNeverTheSame() {
        assertThat(Revision.NONE.sameVersion(Revision.NONE)).isFalse();
        assertThat(new Revision("u", "7", 2L).sameSpec(new Revision("u", "8", 2L))).isTrue();
        assertThat(new Revision("u", "7", 2L).sameSpec(new Revision("u", "8", 3L))).isFalse();
        assertThat(new Revision("u", "7", null).sameSpec(new Revision("u", "7", null))).isTrue();
    }
}
