package io.nodelb.model.input;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Typed reads of a document already checked by the CRDs' schema (as decoded from YAML or JSON:
 * maps, lists, strings, numbers): a missing field is null or empty, never an error here.
 */
final class Fields {
  private Fields() {}

  static String string(Map<String, ?> map, String field) {
    return map.get(field) instanceof String s ? s : null;
  }

  static Integer integer(Map<String, ?> map, String field) {
    return map.get(field) instanceof Number n ? n.intValue() : null;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> object(Map<String, ?> map, String field) {
    return map.get(field) instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
  }

  @SuppressWarnings("unchecked")
  static <T> List<T> list(Map<String, ?> map, String field, Function<Map<String, Object>, T> element) {
    List<T> out = new ArrayList<>();
    if (map.get(field) instanceof List<?> list) {
      for (Object item : list) {
        out.add(item instanceof Map<?, ?> m ? element.apply((Map<String, Object>) m) : null);
      }
    }
    return out.stream().filter(java.util.Objects::nonNull).toList();
  }

  static List<String> strings(Map<String, ?> map, String field) {
    List<String> out = new ArrayList<>();
    if (map.get(field) instanceof List<?> list) {
      list.forEach(item -> out.add(String.valueOf(item)));
    }
    return List.copyOf(out);
  }

  static Map<String, String> stringMap(Map<String, ?> map, String field) {
    Map<String, String> out = new LinkedHashMap<>();
    if (map.get(field) instanceof Map<?, ?> m) {
      m.forEach((k, v) -> out.put(String.valueOf(k), String.valueOf(v)));
    }
    return out;
  }

  static <T> T orNull(Map<String, Object> map, Function<Map<String, Object>, T> read) {
    return map == null ? null : read.apply(map);
  }
}
