package io.nodelb.model.input;

/**
 * Which version of an object an input is, to skip work when the same one is seen again: the API
 * server's uid, resourceVersion and (custom resources) generation; all null for a file's documents.
 */
public record Revision(String uid, String resourceVersion, Long generation) {
  public static final Revision NONE = new Revision(null, null, null);

  /** The same stored object (an informer resync): false when either has no resourceVersion. */
  public boolean sameVersion(Revision other) {
    return other != null && resourceVersion != null && resourceVersion.equals(other.resourceVersion)
        && java.util.Objects.equals(uid, other.uid);
  }

  /** The same spec: the generation moves with the spec only (a status patch moves the resourceVersion). */
  public boolean sameSpec(Revision other) {
    if (other == null) {
      return false;
    }
    if (generation == null || other.generation == null) {
      return sameVersion(other);
    }
    return generation.equals(other.generation) && java.util.Objects.equals(uid, other.uid);
  }
}
