package io.nodelb.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DrainAnnotatedPodsTest {
  private final DrainAnnotatedPods store = new DrainAnnotatedPods();

  private static Pod pod(String name, String resourceVersion, Map<String, String> annotations) {
    return new PodBuilder().withNewMetadata().withNamespace("shop").withName(name).withUid("uid-" + name)
        .withResourceVersion(resourceVersion).withAnnotations(annotations)
        .addToLabels("app", "web").addToAnnotations("kubectl.kubernetes.io/last-applied-configuration", "{...}")
        .endMetadata()
        .withNewSpec().withNodeName("n1").addNewContainer().withName("web").withImage("nginx").endContainer().endSpec()
        .withNewStatus().withPodIP("10.0.1.1").endStatus()
        .build();
  }

  @Test
  void aPodWithoutTheDrainAnnotationIsNotKept() {
    assertThat(store.put("shop/web-a", pod("web-a", "1", Map.of()))).isNull();
    assertThat(store.put("shop/web-b", pod("web-b", "1", Map.of("nodelb.io/drain", "false")))).isNull();
    assertThat(store.put("shop/web-c", pod("web-c", "1", Map.of("nodelb.io/drain-timeout", "45s")))).isNull();

    assertThat(store.size()).isZero();
    assertThat(store.get("shop/web-a")).isNull();
    assertThat(store.isFullState()).as("the informer must not defer adds until it can look them up here").isFalse();
  }

  @Test
  void aPodAskingForADrainIsKeptAsASlimCopyWithItsDrainAnnotations() {
    store.put("shop/web-a", pod("web-a", "7", Map.of("nodelb.io/drain", "true", "nodelb.io/drain-timeout", "45s")));

    Pod held = store.get("shop/web-a");
    assertThat(store.getKey(held)).isEqualTo("shop/web-a");
    assertThat(held.getKind()).isEqualTo("Pod");
    assertThat(held.getApiVersion()).isEqualTo("v1");
    assertThat(held.getMetadata().getUid()).isEqualTo("uid-web-a");
    assertThat(held.getMetadata().getResourceVersion()).isEqualTo("7");
    assertThat(held.getMetadata().getAnnotations())
        .containsExactlyInAnyOrderEntriesOf(Map.of("nodelb.io/drain", "true", "nodelb.io/drain-timeout", "45s"));
    assertThat(held.getMetadata().getLabels()).isNullOrEmpty();
    assertThat(held.getSpec()).isNull();
    assertThat(held.getStatus()).isNull();
    assertThat(DrainAnnotations.wantsDrain(held)).isTrue();
    assertThat(DrainAnnotations.timeout(held)).isEqualTo("45s");
  }

  @Test
  void aPodThatLosesTheAnnotationStaysWithoutItUntilDeletedSoTheUndrainingReconcileFindsIt() {
    store.put("shop/web-a", pod("web-a", "1", Map.of("nodelb.io/drain", "true")));

    Pod before = store.put("shop/web-a", pod("web-a", "2", Map.of()));

    assertThat(before).as("the informer sends an update with the old annotated pod")
        .satisfies(p -> assertThat(DrainAnnotations.wantsDrain(p)).isTrue());
    Pod held = store.get("shop/web-a");
    assertThat(DrainAnnotations.wantsDrain(held)).isFalse();
    assertThat(held.getMetadata().getResourceVersion()).isEqualTo("2");
    assertThat(store.put("shop/web-a", pod("web-a", "3", Map.of())).getMetadata().getResourceVersion()).isEqualTo("2");
    assertThat(store.keySet()).containsExactly("shop/web-a");

    assertThat(store.remove("shop/web-a")).isNotNull();
    assertThat(store.size()).isZero();
    assertThat(store.put("shop/web-a", pod("web-a", "4", Map.of()))).isNull();
  }

  @Test
  void aPodAskingAgainIsAnUpdateFromTheSlimCopy() {
    store.put("shop/web-a", pod("web-a", "1", Map.of("nodelb.io/drain", "true")));
    store.put("shop/web-a", pod("web-a", "2", Map.of()));

    Pod before = store.put("shop/web-a", pod("web-a", "3", Map.of("nodelb.io/drain", "true")));

    assertThat(DrainAnnotations.drainAnnotationsChanged(store.get("shop/web-a"), before)).isTrue();
    assertThat(store.values()).hasSize(1);
  }
}
