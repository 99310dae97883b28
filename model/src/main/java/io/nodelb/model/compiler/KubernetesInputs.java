package io.nodelb.model.compiler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.model.input.LoadBalancerInput;
import io.nodelb.model.input.Revision;
import io.nodelb.model.input.TargetGroupInput;
import java.util.Map;

/** The compiler's inputs from Fabric8 objects: the spec as the API server would store it (JSON), and its revision. */
public final class KubernetesInputs {
  private KubernetesInputs() {}

  private static final KubernetesSerialization JSON = new KubernetesSerialization();

  public static LoadBalancerInput of(LoadBalancer lb) {
    return new LoadBalancerInput(ObjectKey.of(lb), revision(lb), spec(lb.getSpec()));
  }

  public static TargetGroupInput of(TargetGroup tg) {
    return new TargetGroupInput(ObjectKey.of(tg), revision(tg), spec(tg.getSpec()));
  }

  public static Revision revision(HasMetadata object) {
    var m = object.getMetadata();
    return new Revision(m.getUid(), m.getResourceVersion(), m.getGeneration());
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> spec(Object spec) {
    return spec == null ? null : JSON.convertValue(spec, Map.class);
  }
}
