package io.nodelb.operator.bench;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.server.mock.KubernetesAttributesExtractor;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.crud.Attribute;
import io.fabric8.mockwebserver.crud.AttributeSet;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * Fabric8's CRUD mock API server with an index by (API group, plural, namespace, name). The stock
 * {@link KubernetesCrudDispatcher} finds an object by scanning every stored object (a GET, PUT or
 * PATCH by name, and a POST's "already exists" check): with 40,000 objects each request costs
 * milliseconds and creating them costs minutes, so the mock, not the operator, would be measured.
 * Requests by name go through the index here; lists and watches still scan (as they do upstream).
 *
 * <p>{@link #preload} writes an object straight into the store as a POST would (metadata, resource
 * version, watch events), without HTTP: bulk set-up in seconds.
 */
final class IndexedCrudDispatcher extends KubernetesCrudDispatcher {
  /** Around the upstream locking, which the index must share: a reader never sees a write half done. */
  private final ReadWriteLock lock = new ReentrantReadWriteLock();
  private final Map<String, AttributeSet> byName = new ConcurrentHashMap<>();
  private final KubernetesAttributesExtractor extractor = (KubernetesAttributesExtractor) attributeExtractor;

  @Override
  public MockResponse handleCreate(RecordedRequest request) {
    return locked(lock.writeLock(), () -> super.handleCreate(request));
  }

  @Override
  public MockResponse handleUpdate(RecordedRequest request) {
    return locked(lock.writeLock(), () -> super.handleUpdate(request));
  }

  @Override
  public MockResponse handlePatch(RecordedRequest request) {
    return locked(lock.writeLock(), () -> super.handlePatch(request));
  }

  @Override
  public MockResponse handleDelete(String path) {
    return locked(lock.writeLock(), () -> super.handleDelete(path));
  }

  @Override
  public MockResponse handleGet(String path) {
    return locked(lock.readLock(), () -> {
      if (!path.contains("watch=true") && !path.contains("Selector=")) {
        AttributeSet query = extractor.fromPath(path);
        if (key(query) != null) {
          Map.Entry<AttributeSet, String> found = findResource(query);
          return found == null ? new MockResponse().setResponseCode(404)
              : new MockResponse().setResponseCode(200).setBody(found.getValue());
        }
      }
      return super.handleGet(path);
    });
  }

  @Override
  public Map.Entry<AttributeSet, String> findResource(AttributeSet query) {
    String key = key(query);
    if (key == null) {
      return super.findResource(query);
    }
    AttributeSet stored = byName.get(key);
    String body = stored == null ? null : map.get(stored);
    return body != null && stored.matches(query) ? Map.entry(stored, body) : null;
  }

  @Override
  public void processEvent(String path, AttributeSet pathAttributes, AttributeSet oldAttributes,
      GenericKubernetesResource resource, String newState) {
    super.processEvent(path, pathAttributes, oldAttributes, resource, newState);
    if (oldAttributes != null) {
      String key = key(oldAttributes);
      if (key != null) {
        byName.remove(key, oldAttributes);
      }
    }
    if (newState != null) {
      // The same attributes the upstream code just stored the object under.
      AttributeSet attributes = resource != null ? extractor.extract(resource) : extractor.fromResource(newState);
      if (!attributes.containsKey(KubernetesAttributesExtractor.PLURAL)) {
        attributes = AttributeSet.merge(pathAttributes, attributes);
      }
      String key = key(attributes);
      if (key != null) {
        byName.put(key, attributes);
      }
    }
  }

  /**
   * Stores {@code object} as a POST to {@code collectionPath} would (uid, resourceVersion,
   * creationTimestamp, generation 1, status dropped where it is a subresource) and sends the same
   * watch events; returns the stored object's resourceVersion.
   */
  String preload(String collectionPath, Object object) {
    GenericKubernetesResource resource = Serialization.unmarshal(Serialization.asJson(object), GenericKubernetesResource.class);
    return locked(lock.writeLock(), () -> {
      String namespace = extractor.fromKubernetesPath(collectionPath).get(KubernetesAttributesExtractor.NAMESPACE);
      resource.getMetadata().setNamespace(namespace);
      resource.getMetadata().setUid(UUID.randomUUID().toString());
      resource.getMetadata().setCreationTimestamp(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
      String version = String.valueOf(requestResourceVersion());
      resource.getMetadata().setResourceVersion(version);
      resource.getMetadata().setGeneration(1L);
      if (isStatusSubresourceEnabledForResource(collectionPath)) {
        resource.getAdditionalProperties().remove("status");
      }
      AttributeSet attributes = getKey(collectionPath)
          .add(new Attribute(KubernetesAttributesExtractor.NAME, resource.getMetadata().getName()));
      if (findResource(attributes) != null) {
        throw new IllegalStateException(collectionPath + "/" + resource.getMetadata().getName() + " exists");
      }
      processEvent(collectionPath, attributes, null, resource, Serialization.asJson(resource));
      return version;
    });
  }

  /** "group|plural|namespace|name"; null unless plural and name are known. */
  private static String key(AttributeSet attributes) {
    Attribute plural = attributes.getAttribute(KubernetesAttributesExtractor.PLURAL);
    Attribute name = attributes.getAttribute(KubernetesAttributesExtractor.NAME);
    if (plural == null || name == null) {
      return null;
    }
    return value(attributes.getAttribute(KubernetesAttributesExtractor.API)) + "|" + value(plural) + "|"
        + value(attributes.getAttribute(KubernetesAttributesExtractor.NAMESPACE)) + "|" + value(name);
  }

  private static String value(Attribute attribute) {
    return attribute == null || attribute.getValues().isEmpty() ? "" : attribute.getValues().getFirst().toString();
  }

  private static <T> T locked(Lock lock, Supplier<T> action) {
    lock.lock();
    try {
      return action.get();
    } finally {
      lock.unlock();
    }
  }
}
