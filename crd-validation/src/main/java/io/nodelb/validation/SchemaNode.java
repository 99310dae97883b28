package io.nodelb.validation;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * One node of a CRD's structural OpenAPI v3 schema, with the CEL rules attached to it, read from the
 * CRD's own YAML. Only what a structural schema may hold and our CRDs use is understood; a keyword
 * this class does not know makes loading fail, so a CRD can never carry a constraint that is
 * silently not checked here.
 */
final class SchemaNode {
    private static final List<String> KNOWN = List.of("type", "description", "properties", "additionalProperties",
            "items", "required", "enum", "pattern", "maxLength", "minLength", "maxItems", "minItems", "maximum",
            "minimum", "default", "x-kubernetes-validations", "x-kubernetes-int-or-string", "anyOf",
            "x-kubernetes-preserve-unknown-fields", "nullable", "format");

    final String type;
    final boolean intOrString;
    final boolean preserveUnknownFields;
    final Map<String, SchemaNode> properties;
    final SchemaNode additionalProperties;
    final SchemaNode items;
    final List<String> required;
    final List<Object> enumValues;
    final Pattern pattern;
    final String patternText;
    final Long maxLength;
    final Long minLength;
    final Long maxItems;
    final Long minItems;
    final Double maximum;
    final Double minimum;
    final Object defaultValue;
    final List<CelRule> rules;

    @SuppressWarnings("unchecked")
    SchemaNode(Map<String, Object> schema, String where, CelRule.Compiler compiler) {
        for (String key : schema.keySet()) {
            if (!KNOWN.contains(key)) {
                throw new IllegalArgumentException(where + ": schema keyword '" + key + "' is not checked by this"
                        + " validator; teach SchemaNode about it before using it in a CRD");
            }
        }
        type = (String) schema.get("type");
        intOrString = Boolean.TRUE.equals(schema.get("x-kubernetes-int-or-string"));
        preserveUnknownFields = Boolean.TRUE.equals(schema.get("x-kubernetes-preserve-unknown-fields"));
        Map<String, SchemaNode> props = null;
        if (schema.get("properties") instanceof Map<?, ?> p) {
            props = new LinkedHashMap<>();
            for (var e : ((Map<String, Object>) p).entrySet()) {
                props.put(e.getKey(), new SchemaNode((Map<String, Object>) e.getValue(), where + "." + e.getKey(),
                        compiler));
            }
        }
        properties = props;
        additionalProperties = schema.get("additionalProperties") instanceof Map<?, ?> a
                ? new SchemaNode((Map<String, Object>) a, where + "[*]", compiler) : null;
        items = schema.get("items") instanceof Map<?, ?> i
                ? new SchemaNode((Map<String, Object>) i, where + "[*]", compiler) : null;
        required = schema.get("required") instanceof List<?> r ? (List<String>) r : List.of();
        enumValues = schema.get("enum") instanceof List<?> e ? Values.normalized(e) instanceof List<?> n
                ? (List<Object>) n : null : null;
        patternText = (String) schema.get("pattern");
        pattern = patternText == null ? null : Pattern.compile(patternText);
        maxLength = longOrNull(schema.get("maxLength"));
        minLength = longOrNull(schema.get("minLength"));
        maxItems = longOrNull(schema.get("maxItems"));
        minItems = longOrNull(schema.get("minItems"));
        maximum = schema.get("maximum") instanceof Number n ? n.doubleValue() : null;
        minimum = schema.get("minimum") instanceof Number n ? n.doubleValue() : null;
        defaultValue = Values.normalized(schema.get("default"));
        List<CelRule> compiled = new ArrayList<>();
        if (schema.get("x-kubernetes-validations") instanceof List<?> list) {
            for (Object rule : list) {
                compiled.add(compiler.compile((Map<String, Object>) rule, where));
            }
        }
        rules = List.copyOf(compiled);
    }

    /** The schema's name for the node's type, as the API server shows it in a CEL error. */
    String typeName() {
        return type == null ? "" : type;
    }

    private static Long longOrNull(Object value) {
        return value instanceof Number n ? n.longValue() : null;
    }
}
