package io.nodelb.api.v1alpha1;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * docs/crd-reference.md, written from the committed CRD YAML (crds/generated/): every field of spec
 * and status with its type, constraints, default and description, the CEL rules with their
 * messages, and the columns of kubectl get. The schema is the only source, so the page cannot say
 * something the API server does not enforce.
 */
final class CrdReference {
  private CrdReference() {}

  static String markdown(List<Map<String, Object>> crds) {
    StringBuilder out = new StringBuilder("""
        # Custom resource reference (nodelb.io/v1alpha1)

        Generated from the CRD schemas in `crds/generated/` by `CrdReferenceTest`: do not edit by hand. The
        same rules are enforced by the API server (schema and CEL), so a value this page calls invalid is
        refused at `kubectl apply` with the rule's message.

        """);
    for (Map<String, Object> crd : crds) {
      kind(crd, out);
    }
    return out.toString();
  }

  private static void kind(Map<String, Object> crd, StringBuilder out) {
    Map<String, Object> spec = map(crd.get("spec"));
    Map<String, Object> names = map(spec.get("names"));
    Map<String, Object> version = map(((List<?>) spec.get("versions")).getFirst());
    out.append("## ").append(names.get("kind")).append("\n\n");
    out.append("`").append(map(crd.get("metadata")).get("name")).append("`, version `").append(version.get("name"))
        .append("`, ").append("Namespaced".equals(spec.get("scope")) ? "namespaced" : "cluster-wide");
    if (names.get("shortNames") instanceof List<?> shortNames && !shortNames.isEmpty()) {
      out.append(", short name").append(shortNames.size() > 1 ? "s" : "").append(" `")
          .append(String.join("`, `", shortNames.stream().map(String::valueOf).toList())).append("`");
    }
    out.append(".\n\n");
    if (version.get("additionalPrinterColumns") instanceof List<?> columns && !columns.isEmpty()) {
      out.append("`kubectl get` shows: ").append(String.join(", ", columns.stream().map(c -> map(c))
          .map(c -> c.get("name") + " (`" + c.get("jsonPath") + "`)").toList())).append(".\n\n");
    }
    Map<String, Object> schema = map(map(version.get("schema")).get("openAPIV3Schema"));
    Map<String, Object> properties = map(schema.get("properties"));
    for (String part : List.of("spec", "status")) {
      if (!properties.containsKey(part)) {
        continue;
      }
      Map<String, Object> partSchema = map(properties.get(part));
      out.append("### ").append(part).append("\n\n");
      if (partSchema.get("description") != null) {
        out.append(oneLine(partSchema.get("description"))).append("\n\n");
      }
      rules(partSchema, out, "");
      out.append("| field | type | description |\n|---|---|---|\n");
      List<String> rows = new ArrayList<>();
      fields(part, partSchema, rows);
      rows.forEach(r -> out.append(r).append('\n'));
      out.append('\n');
    }
  }

  private static void fields(String path, Map<String, Object> schema, List<String> rows) {
    Map<String, Object> properties = map(schema.get("properties"));
    Set<String> required = new TreeSet<>();
    if (schema.get("required") instanceof List<?> r) {
      r.forEach(x -> required.add(String.valueOf(x)));
    }
    for (Map.Entry<String, Object> field : properties.entrySet()) {
      Map<String, Object> fieldSchema = map(field.getValue());
      String fieldPath = path + "." + field.getKey();
      Map<String, Object> element = "array".equals(fieldSchema.get("type")) ? map(fieldSchema.get("items")) : null;
      StringBuilder description = new StringBuilder(oneLine(fieldSchema.getOrDefault("description", "")));
      List<String> rules = new ArrayList<>();
      collectRules(fieldSchema, rules);
      if (element != null) {
        collectRules(element, rules);
      }
      rules.forEach(r -> description.append(description.isEmpty() ? "" : "<br>").append(r));
      rows.add("| `" + fieldPath + "` | " + type(fieldSchema, required.contains(field.getKey())) + " | "
          + description + " |");
      if (element != null && element.get("properties") != null) {
        fields(fieldPath + "[]", element, rows);
      } else if (fieldSchema.get("properties") != null) {
        fields(fieldPath, fieldSchema, rows);
      }
    }
  }

  private static String type(Map<String, Object> schema, boolean required) {
    List<String> parts = new ArrayList<>();
    Object type = schema.get("type");
    if (Boolean.TRUE.equals(schema.get("x-kubernetes-int-or-string"))) {
      parts.add("integer or string");
    } else if ("array".equals(type)) {
      Map<String, Object> items = map(schema.get("items"));
      parts.add("array of " + (items.get("properties") != null ? "objects" : items.getOrDefault("type", "any")));
      constraints(items, parts, "each ");
    } else {
      parts.add(String.valueOf(type == null ? "any" : type));
    }
    if (required) {
      parts.add("**required**");
    }
    constraints(schema, parts, "");
    if (schema.containsKey("default")) {
      parts.add("default `" + schema.get("default") + "`");
    }
    return String.join(", ", parts);
  }

  private static void constraints(Map<String, Object> schema, List<String> parts, String prefix) {
    if (schema.get("enum") instanceof List<?> values) {
      parts.add(prefix + "one of " + String.join(", ", values.stream().map(v -> "`" + v + "`").toList()));
    }
    if (schema.containsKey("minimum") || schema.containsKey("maximum")) {
      parts.add(prefix + number(schema.get("minimum"), "…") + "–" + number(schema.get("maximum"), "…"));
    }
    if (schema.containsKey("minItems")) {
      parts.add("at least " + number(schema.get("minItems"), "") + " item(s)");
    }
    if (schema.containsKey("maxItems")) {
      parts.add("at most " + number(schema.get("maxItems"), "") + " item(s)");
    }
    if (schema.containsKey("maxLength")) {
      parts.add(prefix + "at most " + number(schema.get("maxLength"), "") + " characters");
    }
    if (schema.containsKey("pattern")) {
      parts.add(prefix + "pattern `" + schema.get("pattern").toString().replace("|", "\\|") + "`");
    }
  }

  private static String number(Object value, String none) {
    if (value == null) {
      return none;
    }
    double d = ((Number) value).doubleValue();
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }

  private static void rules(Map<String, Object> schema, StringBuilder out, String indent) {
    List<String> rules = new ArrayList<>();
    collectRules(schema, rules);
    rules.forEach(r -> out.append(indent).append("- ").append(r.replace("<br>", " ")).append('\n'));
    if (!rules.isEmpty()) {
      out.append('\n');
    }
  }

  private static void collectRules(Map<String, Object> schema, List<String> rules) {
    if (schema.get("x-kubernetes-validations") instanceof List<?> validations) {
      for (Object v : validations) {
        Map<String, Object> rule = map(v);
        rules.add("Rule: `" + String.valueOf(rule.get("rule")).replace("|", "\\|") + "` — "
            + oneLine(rule.getOrDefault("message", "")));
      }
    }
  }

  private static String oneLine(Object text) {
    return String.valueOf(text).replaceAll("\\s+", " ").trim().replace("|", "\\|");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object value) {
    return value == null ? Map.of() : (Map<String, Object>) value;
  }
}
