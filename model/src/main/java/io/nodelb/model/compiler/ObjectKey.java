package io.nodelb.model.compiler;

/** Namespace and name of a namespaced object; printed as "namespace/name" like kubectl does. */
public record ObjectKey(String namespace, String name) implements Comparable<ObjectKey> {
  /** Objects read from files may carry no namespace: they live in "default", as kubectl would put them. */
  public static final String DEFAULT_NAMESPACE = "default";

  /** A key of a namespace as an object's metadata has it (null or empty: the default namespace). */
  public static ObjectKey of(String namespace, String name) {
    return new ObjectKey(namespace == null || namespace.isEmpty() ? DEFAULT_NAMESPACE : namespace, name);
  }

  @Override
  public int compareTo(ObjectKey other) {
    int byNamespace = namespace.compareTo(other.namespace);
    return byNamespace != 0 ? byNamespace : name.compareTo(other.name);
  }

  @Override
  public String toString() {
    return namespace + "/" + name;
  }
}
