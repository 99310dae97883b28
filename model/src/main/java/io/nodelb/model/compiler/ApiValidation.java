package io.nodelb.model.compiler;

import io.nodelb.validation.CrdValidator;
import io.nodelb.validation.FieldError;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The CRDs' own schema and CEL rules applied to a spec, through the one validator: the API
 * server has already run them on a real cluster, but the compiler's inputs may come from elsewhere
 * (a mock API server, a file), and what it compiles must be valid all the same.
 */
public final class ApiValidation {
  private ApiValidation() {}

  /** Problems of a spec as decoded from JSON or YAML (maps, lists, strings, numbers); empty when valid. */
  public static List<Problem> problems(String kind, ObjectKey key, Map<String, Object> spec) {
    Map<String, Object> object = new LinkedHashMap<>();
    object.put("apiVersion", "nodelb.io/v1alpha1");
    object.put("kind", kind);
    object.put("metadata", Map.of("name", key.name()));
    if (spec != null) {
      object.put("spec", spec);
    }
    List<Problem> problems = new ArrayList<>();
    if (spec == null) {
      problems.add(new Problem(kind, key.toString(), "spec", Problem.INVALID, "Required value"));
    }
    for (FieldError e : CrdValidator.nodelb().validate(object)) {
      problems.add(new Problem(kind, key.toString(), e.field() == null ? "spec" : e.field(), Problem.INVALID, e.body()));
    }
    return problems;
  }
}
