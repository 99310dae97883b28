package io.nodelb.api.v1alpha1.validation;

/**
 * One thing wrong with a spec.
 *
 * @param field JSON path under the object, e.g. {@code spec.listeners[1].port}
 * @param message what is wrong, written for the person who fixes it
 */
public record SpecProblem(String field, String message) {
  @Override
  public String toString() {
    return field + ": " + message;
  }
}
