package io.nodelb.validation;

import dev.cel.runtime.CelEvaluationException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Validates custom resources as the API server does on a create or an update: defaults from the
 * schema, then the structural OpenAPI schema (types, patterns, enums, bounds, required and unknown
 * fields), then the CEL rules of {@code x-kubernetes-validations}. Everything is read from the CRD
 * YAML itself, the bytes the API server gets; messages are worded as the API server words them.
 *
 * <p>As in the API server, the CEL rules are not run while the schema finds a blocking problem
 * (a missing or unsupported value, a wrong type, too long, too many); one more error then says so.
 */
public final class CrdValidator {

    /** The CRD files this module carries, generated from the API classes (crds/generated). */
    public static final List<String> BUNDLED = List.of(
            "loadbalancers.nodelb.io-v1.yml", "targetgroups.nodelb.io-v1.yml", "backenddrains.nodelb.io-v1.yml");

    static final String NOT_CHECKED = "some validation rules were not checked because the object was invalid;"
            + " correct the existing errors to complete validation";

    private static volatile CrdValidator bundled;

    /** One kind's schema, by apiVersion. */
    private record Version(String apiVersion, SchemaNode schema) {}

    private final Map<String, Version> byKind;

    private CrdValidator(Map<String, Version> byKind) {
        this.byKind = byKind;
    }

    /** The validator of nodelb's own CRDs, loaded once (compiling the rules takes a moment). */
    public static CrdValidator nodelb() {
        CrdValidator v = bundled;
        if (v == null) {
            synchronized (CrdValidator.class) {
                if (bundled == null) {
                    List<String> crds = new ArrayList<>();
                    for (String name : BUNDLED) {
                        crds.add(resource("crds/" + name));
                    }
                    bundled = fromCrds(crds, new CelRule.Compiler(CheckedRules.bundled()));
                }
                v = bundled;
            }
        }
        return v;
    }

    /** A validator of the given CRDs (YAML text of CustomResourceDefinitions); the first served version of each. */
    public static CrdValidator fromCrds(List<String> crdYamls) {
        return fromCrds(crdYamls, new CelRule.Compiler());
    }

    @SuppressWarnings("unchecked")
    static CrdValidator fromCrds(List<String> crdYamls, CelRule.Compiler compiler) {
        Map<String, Version> byKind = new LinkedHashMap<>();
        for (String yaml : crdYamls) {
            Map<String, Object> crd = new Yaml(new LoaderOptions()).load(yaml);
            Map<String, Object> spec = (Map<String, Object>) crd.get("spec");
            String kind = (String) ((Map<String, Object>) spec.get("names")).get("kind");
            Map<String, Object> version = ((List<Map<String, Object>>) spec.get("versions")).getFirst();
            Map<String, Object> openApi = (Map<String, Object>) ((Map<String, Object>) version.get("schema"))
                    .get("openAPIV3Schema");
            byKind.put(kind, new Version(spec.get("group") + "/" + version.get("name"),
                    new SchemaNode(openApi, kind, compiler)));
        }
        return new CrdValidator(byKind);
    }

    /** The kinds this validator knows. */
    public List<String> kinds() {
        return List.copyOf(byKind.keySet());
    }

    /** The errors of a create: no transition rule runs. */
    public List<FieldError> validate(Map<String, ?> object) {
        return validateUpdate(object, null);
    }

    /**
     * The errors of an update from {@code old} (null: a create).
     *
     * @param object an object as decoded from JSON or YAML: maps, lists, strings, numbers, booleans
     */
    @SuppressWarnings("unchecked")
    public List<FieldError> validateUpdate(Map<String, ?> object, Map<String, ?> old) {
        List<FieldError> errors = new ArrayList<>();
        Object kind = object.get("kind");
        Version version = byKind.get(kind);
        if (version == null) {
            errors.add(FieldError.notSupported("kind", kind, kinds()));
            return errors;
        }
        if (!version.apiVersion().equals(object.get("apiVersion"))) {
            errors.add(FieldError.notSupported("apiVersion", object.get("apiVersion"), List.of(version.apiVersion())));
            return errors;
        }
        Map<String, Object> self = (Map<String, Object>) withDefaults(Values.normalized(object), version.schema());
        Map<String, Object> oldSelf = old == null ? null
                : (Map<String, Object>) withDefaults(Values.normalized(old), version.schema());
        checkSchema(self, version.schema(), "", errors);
        if (errors.stream().anyMatch(CrdValidator::blocking)) {
            errors.add(new FieldError(null, FieldError.Type.INVALID, null, NOT_CHECKED));
            return errors;
        }
        checkRules(self, oldSelf, version.schema(), "", errors);
        return errors;
    }

    /** The object with every default of its schema filled in, as the API server stores it. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> withDefaults(Map<String, ?> object) {
        Version version = byKind.get(object.get("kind"));
        Object normalized = Values.normalized(object);
        return (Map<String, Object>) (version == null ? normalized : withDefaults(normalized, version.schema()));
    }

    private static boolean blocking(FieldError e) {
        return switch (e.type()) {
            case NOT_SUPPORTED, REQUIRED, TOO_LONG, TOO_MANY, TYPE_INVALID -> true;
            default -> false;
        };
    }

    @SuppressWarnings("unchecked")
    private static Object withDefaults(Object value, SchemaNode node) {
        if (value instanceof Map<?, ?> raw) {
            Map<String, Object> map = (Map<String, Object>) raw;
            if (node.properties != null) {
                node.properties.forEach((name, child) -> {
                    if (!map.containsKey(name) && child.defaultValue != null) {
                        map.put(name, Values.normalized(child.defaultValue));
                    }
                });
                map.replaceAll((name, v) -> node.properties.containsKey(name)
                        ? withDefaults(v, node.properties.get(name)) : v);
            } else if (node.additionalProperties != null) {
                map.replaceAll((name, v) -> withDefaults(v, node.additionalProperties));
            }
        } else if (value instanceof List<?> raw && node.items != null) {
            List<Object> list = (List<Object>) raw;
            list.replaceAll(v -> withDefaults(v, node.items));
        }
        return value;
    }

    // ---- the structural schema ----

    @SuppressWarnings("unchecked")
    private static void checkSchema(Object value, SchemaNode node, String path, List<FieldError> errors) {
        if (!typeMatches(value, node)) {
            String expected = node.intOrString ? "integer,string" : node.type;
            String actual = Values.typeOf(value);
            errors.add(new FieldError(field(path), FieldError.Type.TYPE_INVALID, actual,
                    field(path) + " in body must be of type " + expected + ": " + FieldError.quoted(actual)));
            return;
        }
        if (node.enumValues != null && !node.enumValues.contains(value)) {
            errors.add(FieldError.notSupported(field(path), value, node.enumValues));
        }
        switch (value) {
            case String s -> checkString(s, node, path, errors);
            case Long l -> checkNumber(l.doubleValue(), value, node, path, errors);
            case Double d -> checkNumber(d, value, node, path, errors);
            case List<?> list -> {
                if (node.maxItems != null && list.size() > node.maxItems) {
                    errors.add(new FieldError(field(path), FieldError.Type.TOO_MANY, (long) list.size(),
                            "must have at most " + node.maxItems + " items"));
                }
                if (node.minItems != null && list.size() < node.minItems) {
                    errors.add(FieldError.invalid(field(path), (long) list.size(),
                            field(path) + " in body should have at least " + node.minItems + " items"));
                }
                if (node.items != null) {
                    for (int i = 0; i < list.size(); i++) {
                        checkSchema(list.get(i), node.items, path + "[" + i + "]", errors);
                    }
                }
            }
            case Map<?, ?> raw -> checkObject((Map<String, Object>) raw, node, path, errors);
            default -> { }
        }
    }

    private static void checkObject(Map<String, Object> map, SchemaNode node, String path, List<FieldError> errors) {
        for (String name : node.required) {
            if (!map.containsKey(name)) {
                errors.add(FieldError.required(child(path, name)));
            }
        }
        for (var e : map.entrySet()) {
            String name = e.getKey();
            if (node.properties != null && node.properties.containsKey(name)) {
                checkSchema(e.getValue(), node.properties.get(name), child(path, name), errors);
            } else if (node.additionalProperties != null) {
                checkSchema(e.getValue(), node.additionalProperties, path + "[" + name + "]", errors);
            } else if (path.isEmpty() && List.of("apiVersion", "kind", "metadata").contains(name)) {
                // the API server checks these itself, for every kind
            } else if (!node.preserveUnknownFields) {
                errors.add(FieldError.unknownField(child(path, name)));
            }
        }
    }

    private static void checkString(String s, SchemaNode node, String path, List<FieldError> errors) {
        long length = s.codePointCount(0, s.length());
        if (node.maxLength != null && length > node.maxLength) {
            errors.add(new FieldError(field(path), FieldError.Type.TOO_LONG, FieldError.OMIT,
                    "may not be more than " + node.maxLength + " bytes"));
        }
        if (node.minLength != null && length < node.minLength) {
            errors.add(FieldError.invalid(field(path), s,
                    field(path) + " in body should be at least " + node.minLength + " chars long"));
        }
        if (node.pattern != null && !node.pattern.matcher(s).find()) {
            errors.add(FieldError.invalid(field(path), s,
                    field(path) + " in body should match '" + node.patternText + "'"));
        }
    }

    private static void checkNumber(double n, Object value, SchemaNode node, String path, List<FieldError> errors) {
        if (node.maximum != null && n > node.maximum) {
            errors.add(FieldError.invalid(field(path), value,
                    field(path) + " in body should be less than or equal to " + FieldError.shown(node.maximum)));
        }
        if (node.minimum != null && n < node.minimum) {
            errors.add(FieldError.invalid(field(path), value,
                    field(path) + " in body should be greater than or equal to " + FieldError.shown(node.minimum)));
        }
    }

    private static boolean typeMatches(Object value, SchemaNode node) {
        if (node.intOrString) {
            return value instanceof Long || value instanceof String;
        }
        if (node.type == null) {
            return true;
        }
        return switch (node.type) {
            case "object" -> value instanceof Map;
            case "array" -> value instanceof List;
            case "string" -> value instanceof String;
            case "integer" -> value instanceof Long;
            case "number" -> value instanceof Long || value instanceof Double;
            case "boolean" -> value instanceof Boolean;
            default -> false;
        };
    }

    // ---- the CEL rules ----

    @SuppressWarnings("unchecked")
    private static void checkRules(Object value, Object old, SchemaNode node, String path, List<FieldError> errors) {
        for (CelRule rule : node.rules) {
            if (rule.transition() && old == null) {
                continue;
            }
            String blamed = rule.fieldPath() == null ? field(path)
                    : path + (rule.fieldPath().startsWith(".") || rule.fieldPath().startsWith("[") ? "" : ".")
                            + rule.fieldPath();
            try {
                Object verdict = rule.program().eval(CelRule.activation(value, old));
                if (!Boolean.TRUE.equals(verdict)) {
                    errors.add(new FieldError(blamed, rule.reason(),
                            rule.reason() == FieldError.Type.INVALID ? node.typeName() : FieldError.OMIT,
                            rule.messageFor(value, old)));
                }
            } catch (CelEvaluationException e) {
                errors.add(FieldError.invalid(blamed, node.typeName(), "rule '" + rule.rule()
                        + "' could not be evaluated: " + e.getMessage()));
            }
        }
        if (value instanceof Map<?, ?> raw) {
            Map<String, Object> map = (Map<String, Object>) raw;
            Map<String, Object> oldMap = old instanceof Map<?, ?> o ? (Map<String, Object>) o : Map.of();
            for (var e : map.entrySet()) {
                SchemaNode child = node.properties != null ? node.properties.get(e.getKey()) : node.additionalProperties;
                if (child != null) {
                    String childPath = node.properties != null ? child(path, e.getKey()) : path + "[" + e.getKey() + "]";
                    checkRules(e.getValue(), oldMap.get(e.getKey()), child, childPath, errors);
                }
            }
        } else if (value instanceof List<?> list && node.items != null) {
            // Items of an atomic list have no old value to compare with, as in the API server.
            for (int i = 0; i < list.size(); i++) {
                checkRules(list.get(i), null, node.items, path + "[" + i + "]", errors);
            }
        }
    }

    private static String child(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    private static String field(String path) {
        return path.isEmpty() ? null : path;
    }

    static String resource(String name) {
        try (InputStream in = CrdValidator.class.getResourceAsStream(name)) {
            return new String(Objects.requireNonNull(in, "missing resource " + name).readAllBytes(),
                    StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
