package io.nodelb.validation;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.Yaml;

/** The rules and constraints the bundled CRDs carry, read from their YAML, for coverage checks and mutations. */
final class CrdRules {
    private CrdRules() {}

    record Rule(String kind, String where, String rule, String message) {}

    static String crdText(String file) {
        try (InputStream in = CrdValidator.class.getResourceAsStream("crds/" + file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<String> crdTexts() {
        return CrdValidator.BUNDLED.stream().map(CrdRules::crdText).toList();
    }

    static List<Rule> all() {
        List<Rule> rules = new ArrayList<>();
        forEachSchema((kind, path, node) -> {
            if (node.get("x-kubernetes-validations") instanceof List<?> list) {
                for (Object o : list) {
                    Map<?, ?> r = (Map<?, ?>) o;
                    rules.add(new Rule(kind, path, (String) r.get("rule"), (String) r.get("message")));
                }
            }
        });
        return rules;
    }

    /** "LoadBalancer spec.listeners[*].port maximum", one per constraint the schema states. */
    static List<String> constraints() {
        List<String> out = new ArrayList<>();
        forEachSchema((kind, path, node) -> {
            if (path.startsWith("status")) {
                return;
            }
            for (String keyword : List.of("pattern", "enum", "maximum", "minimum", "maxLength", "minLength",
                    "maxItems", "minItems")) {
                if (node.containsKey(keyword)) {
                    out.add(kind + " " + path + " " + keyword);
                }
            }
            if (node.get("required") instanceof List<?> required) {
                required.forEach(name -> out.add(kind + " " + (path.isEmpty() ? "" : path + ".") + name + " required"));
            }
        });
        return out;
    }

    /** The schema keyword an API-server message comes from, or null for a CEL rule or a type error. */
    static String keywordOf(String message) {
        if (message.contains(": Required value")) {
            return "required";
        } else if (message.contains(": Unsupported value: ")) {
            return "enum";
        } else if (message.contains(" in body should match '")) {
            return "pattern";
        } else if (message.contains(" in body should be less than or equal to ")) {
            return "maximum";
        } else if (message.contains(" in body should be greater than or equal to ")) {
            return "minimum";
        } else if (message.contains(": Too long: ")) {
            return "maxLength";
        } else if (message.contains(" chars long")) {
            return "minLength";
        } else if (message.contains(": Too many: ")) {
            return "maxItems";
        } else if (message.contains(" in body should have at least ")) {
            return "minItems";
        }
        return null;
    }

    interface Visitor {
        void visit(String kind, String path, Map<String, Object> node);
    }

    @SuppressWarnings("unchecked")
    static void forEachSchema(Visitor visitor) {
        for (String text : crdTexts()) {
            Map<String, Object> crd = new Yaml().load(text);
            Map<String, Object> spec = (Map<String, Object>) crd.get("spec");
            String kind = (String) ((Map<String, Object>) spec.get("names")).get("kind");
            Map<String, Object> version = ((List<Map<String, Object>>) spec.get("versions")).getFirst();
            walk(kind, "", (Map<String, Object>) ((Map<String, Object>) version.get("schema")).get("openAPIV3Schema"),
                    visitor);
        }
    }

    @SuppressWarnings("unchecked")
    private static void walk(String kind, String path, Map<String, Object> node, Visitor visitor) {
        visitor.visit(kind, path, node);
        if (node.get("properties") instanceof Map<?, ?> props) {
            ((Map<String, Object>) props).forEach((name, child) ->
                    walk(kind, path.isEmpty() ? name : path + "." + name, (Map<String, Object>) child, visitor));
        }
        if (node.get("items") instanceof Map<?, ?> items) {
            walk(kind, path + "[*]", (Map<String, Object>) items, visitor);
        }
    }
}
