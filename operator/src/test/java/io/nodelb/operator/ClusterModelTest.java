package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.nodelb.api.v1alpha1.BackendDrain;
import io.nodelb.api.v1alpha1.BackendDrainSpec;
import io.nodelb.api.v1alpha1.PodRef;
import io.nodelb.api.v1alpha1.ServiceBackend;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.TargetGroupSpec;
import io.nodelb.model.compiler.ObjectKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** {@link ClusterModel#reflects}: when a drain may believe the model's count of its backends. */
class ClusterModelTest {
  private static final ObjectKey WEB = new ObjectKey("shop", "web");

  /** What informers would hold. */
  private static final class Cluster implements ClusterModel.ClusterView {
    final List<TargetGroup> groups = new ArrayList<>();
    final Map<ObjectKey, Service> services = new HashMap<>();
    final List<EndpointSlice> slices = new ArrayList<>();

    @Override
    public List<TargetGroup> targetGroups() {
      return groups;
    }

    @Override
    public Optional<Service> service(ObjectKey key) {
      return Optional.ofNullable(services.get(key));
    }

    @Override
    public List<EndpointSlice> slicesOf(ObjectKey service) {
      return slices.stream().filter(s -> service.name().equals(s.getMetadata().getLabels().get("kubernetes.io/service-name"))
          && service.namespace().equals(s.getMetadata().getNamespace())).toList();
    }
  }

  private static TargetGroup group(long generation, String resourceVersion) {
    TargetGroup tg = new TargetGroup();
    tg.getMetadata().setNamespace("shop");
    tg.getMetadata().setName("web");
    tg.getMetadata().setUid("uid-web");
    tg.getMetadata().setGeneration(generation);
    tg.getMetadata().setResourceVersion(resourceVersion);
    tg.setSpec(new TargetGroupSpec());
    tg.getSpec().services = new ArrayList<>(List.of(new ServiceBackend("web", new IntOrString("http"), 1)));
    return tg;
  }

  private static Service service(String resourceVersion) {
    return new ServiceBuilder().withNewMetadata().withNamespace("shop").withName("web").withResourceVersion(resourceVersion)
        .endMetadata().withNewSpec().addNewPort().withName("http").withPort(80).withProtocol("TCP")
        .withTargetPort(new IntOrString(8080)).endPort().endSpec().build();
  }

  private static EndpointSlice slice(String resourceVersion, String... pods) {
    var slice = new EndpointSliceBuilder().withNewMetadata().withNamespace("shop").withName("web-1")
        .withResourceVersion(resourceVersion).addToLabels("kubernetes.io/service-name", "web").endMetadata()
        .withAddressType("IPv4").addNewPort().withName("http").withPort(8080).withProtocol("TCP").endPort();
    for (int i = 0; i < pods.length; i++) {
      slice.addToEndpoints(new EndpointBuilder().withAddresses("10.0.1." + (i + 1)).withNodeName("n1")
          .withNewConditions().withReady(true).endConditions()
          .withNewTargetRef().withKind("Pod").withNamespace("shop").withName(pods[i]).endTargetRef().build());
    }
    return slice.build();
  }

  private static BackendDrain podDrain(String pod) {
    BackendDrain drain = new BackendDrain();
    drain.getMetadata().setNamespace("shop");
    drain.getMetadata().setName("drain-" + pod);
    drain.getMetadata().setResourceVersion("1");
    drain.setSpec(new BackendDrainSpec());
    drain.getSpec().pod = new PodRef(pod);
    return drain;
  }

  private static int drained(ClusterModel model, BackendDrain drain) {
    return model.read(c -> c.backendsDrainedBy(KubernetesInputs.key(drain)));
  }

  @Test
  void aModelThatHasNotSeenTheGroupsDoesNotReflectTheClusterAndCountsNothing() {
    ClusterModel model = new ClusterModel(new InMemorySnapshotStore());
    Cluster cluster = new Cluster();
    cluster.groups.add(group(1, "10"));
    cluster.services.put(WEB, service("11"));
    cluster.slices.add(slice("12", "web-a", "web-b"));
    BackendDrain drain = podDrain("web-a");
    model.update(c -> c.putBackendDrain(KubernetesInputs.of(drain)));

    // The operator just started: the drain is looked at before its TargetGroup is compiled.
    assertThat(drained(model, drain)).isZero();
    assertThat(model.reflects(cluster)).isFalse();

    model.putTargetGroup(cluster.groups.getFirst(), Map.of(WEB, service("11")), Map.of(WEB, List.of(slice("12", "web-a", "web-b"))));
    assertThat(model.reflects(cluster)).isTrue();
    assertThat(drained(model, drain)).isEqualTo(1);
  }

  @Test
  void aSliceOrServiceTheModelHasNotSeenYetMeansNotReflected() {
    ClusterModel model = new ClusterModel(new InMemorySnapshotStore());
    Cluster cluster = new Cluster();
    cluster.groups.add(group(1, "10"));
    cluster.services.put(WEB, service("11"));
    cluster.slices.add(slice("12", "web-a"));
    model.putTargetGroup(group(1, "10"), Map.of(WEB, service("11")), Map.of(WEB, List.of(slice("12", "web-a"))));
    assertThat(model.reflects(cluster)).isTrue();

    cluster.slices.set(0, slice("13"));
    assertThat(model.reflects(cluster)).as("the slice changed, the model has the old one").isFalse();
    model.putTargetGroup(group(1, "10"), Map.of(WEB, service("11")), Map.of(WEB, List.of(slice("13"))));
    assertThat(model.reflects(cluster)).isTrue();

    cluster.slices.add(slice("14").edit().editMetadata().withName("web-2").endMetadata().build());
    assertThat(model.reflects(cluster)).as("a slice the model has not seen").isFalse();
    cluster.slices.removeLast();

    cluster.services.remove(WEB);
    assertThat(model.reflects(cluster)).as("the Service went away").isFalse();
    Map<ObjectKey, Service> missing = new HashMap<>();
    missing.put(WEB, null);
    model.putTargetGroup(group(1, "10"), missing, Map.of(WEB, List.of(slice("13"))));
    assertThat(model.reflects(cluster)).isTrue();
  }

  @Test
  void groupsCompareByGenerationSoTheirOwnStatusPatchesDoNotHoldDrainsBack() {
    ClusterModel model = new ClusterModel(new InMemorySnapshotStore());
    Cluster cluster = new Cluster();
    cluster.services.put(WEB, service("11"));
    cluster.slices.add(slice("12", "web-a"));
    model.putTargetGroup(group(1, "10"), Map.of(WEB, service("11")), Map.of(WEB, List.of(slice("12", "web-a"))));

    cluster.groups.add(group(1, "20")); // a status patch: new resourceVersion, same generation
    assertThat(model.reflects(cluster)).isTrue();
    cluster.groups.set(0, group(2, "21")); // a spec change
    assertThat(model.reflects(cluster)).isFalse();

    TargetGroup deleting = group(2, "22");
    deleting.getMetadata().setDeletionTimestamp("2026-01-01T00:00:00Z");
    cluster.groups.set(0, deleting);
    assertThat(model.reflects(cluster)).as("a group on its way out is not waited for").isTrue();
    model.removeTargetGroup(WEB);
    cluster.groups.clear();
    assertThat(model.reflects(cluster)).isTrue();
  }
}
