package io.nodelb.operator;

import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The store of the Pod informer behind {@link PodDrainReconciler}: it holds the Pods the drain
 * annotation concerns, not every Pod of the cluster, so the operator's memory grows with the pods
 * being drained instead of with the cluster.
 *
 * <p>What it holds, as slim copies (name, namespace, uid, resourceVersion, deletionTimestamp and the
 * two {@code nodelb.io/drain*} annotations; no spec, status, labels or other annotations):
 * <ul>
 *   <li>every Pod with {@code nodelb.io/drain=true};
 *   <li>a Pod that had it and lost it (annotation removed or set to anything else), without
 *       annotations, until the Pod is deleted. The reconcile that deletes the BackendDrain must find
 *       it here (JOSDK skips a reconcile whose primary is not in the cache), and the Pod's delete
 *       event must still reach JOSDK so it forgets its state for the Pod.
 * </ul>
 * Any other Pod is not stored: {@link #put} returns null, so the informer hands it to the
 * reconciler's event source as an "add", which the {@link DrainAnnotations#wantsDrain} add filter
 * drops. The events the reconciler sees are the ones it saw with the full cache: an add when a Pod
 * starts asking for a drain, an update (old asked, new does not, or the timeout changed) when a held
 * Pod changes.
 *
 * <p>Fabric8 7.6.1 has no metadata-only (PartialObjectMetadata) informers, so each Pod event still
 * arrives and is parsed whole; it is garbage right after {@link #put}. The informer lists in pages
 * ({@link #LIST_PAGE}) so the initial list does not hold every Pod at once either.
 *
 * <p>The informer writes from one thread at a time; reads come from reconciler threads.
 */
final class DrainAnnotatedPods implements ItemStore<Pod> {
  /** Pods per page of the informer's initial list (and relists). */
  static final long LIST_PAGE = 500;

  private final Map<String, Pod> pods = new ConcurrentHashMap<>();

  @Override
  public String getKey(Pod pod) {
    return Cache.metaNamespaceKeyFunc(pod);
  }

  @Override
  public Pod put(String key, Pod pod) {
    if (DrainAnnotations.wantsDrain(pod)) {
      return pods.put(key, slim(pod));
    }
    Pod[] before = new Pod[1];
    pods.computeIfPresent(key, (k, held) -> {
      before[0] = held;
      return slim(pod); // lost the annotation: kept so the reconcile that undrains finds it
    });
    return before[0];
  }

  @Override
  public Pod remove(String key) {
    return pods.remove(key);
  }

  @Override
  public Stream<String> keySet() {
    return pods.keySet().stream();
  }

  @Override
  public Stream<Pod> values() {
    return pods.values().stream();
  }

  @Override
  public int size() {
    return pods.size();
  }

  @Override
  public Pod get(String key) {
    return pods.get(key);
  }

  /** Not every Pod is here: the informer must not defer initial adds until it could look them up. */
  @Override
  public boolean isFullState() {
    return false;
  }

  /** What the drain annotation's reconcile reads of a Pod, nothing more. */
  static Pod slim(Pod pod) {
    ObjectMeta meta = pod.getMetadata();
    Map<String, String> annotations = new HashMap<>();
    if (meta.getAnnotations() != null) {
      for (String name : new String[] {DrainAnnotations.DRAIN, DrainAnnotations.DRAIN_TIMEOUT}) {
        String value = meta.getAnnotations().get(name);
        if (value != null) {
          annotations.put(name, value);
        }
      }
    }
    Pod slim = new Pod();
    slim.setApiVersion(pod.getApiVersion());
    slim.setKind(pod.getKind());
    slim.setMetadata(new ObjectMetaBuilder()
        .withNamespace(meta.getNamespace()).withName(meta.getName()).withUid(meta.getUid())
        .withResourceVersion(meta.getResourceVersion()).withGeneration(meta.getGeneration())
        .withDeletionTimestamp(meta.getDeletionTimestamp())
        .withAnnotations(annotations.isEmpty() ? null : annotations)
        .build());
    return slim;
  }
}
