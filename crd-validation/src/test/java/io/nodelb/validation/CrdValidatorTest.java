package io.nodelb.validation;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CRDs' own schema and CEL rules, evaluated: every example in deploy/examples passes, every
 * file in src/test/resources/invalid is refused with exactly the errors its "# expect:" lines give
 * (the API server's words), and every rule of every CRD is the reason some example is refused.
 */
class CrdValidatorTest {
    private static final CrdValidator VALIDATOR = CrdValidator.nodelb();

    static List<Path> examples() {
        return Examples.files(Examples.VALID);
    }

    static List<Path> invalidExamples() {
        return Examples.files(Examples.INVALID);
    }

    @ParameterizedTest
    @MethodSource("examples")
    void exampleIsValid(Path file) {
        List<Map<String, Object>> documents = Examples.documents(file);
        assertThat(documents).isNotEmpty();
        for (Map<String, Object> document : documents) {
            assertThat(VALIDATOR.validate(document)).as("%s: %s", file, document.get("metadata")).isEmpty();
        }
    }

    @ParameterizedTest
    @MethodSource("invalidExamples")
    void invalidExampleIsRefusedWithTheApiServersWords(Path file) {
        List<String> expected = Examples.expected(file);
        assertThat(expected).as("%s needs '# expect: ' lines", file).isNotEmpty();
        List<Map<String, Object>> documents = Examples.documents(file);
        assertThat(documents).as("%s: one document", file).hasSize(1);
        assertThat(VALIDATOR.validate(documents.getFirst()).stream().map(FieldError::toString).toList())
                .as(file.toString()).containsExactlyElementsOf(expected);
    }

    @Test
    void thereAreEnoughInvalidExamples() {
        assertThat(invalidExamples()).hasSizeGreaterThanOrEqualTo(60);
    }

    @Test
    void everyRuleRefusesSomeExample() {
        Set<String> expectedMessages = new TreeSet<>();
        invalidExamples().forEach(f -> expectedMessages.addAll(Examples.expected(f)));
        List<String> untested = new ArrayList<>();
        for (CrdRules.Rule rule : CrdRules.all()) {
            if (rule.rule().contains("oldSelf")) {
                continue; // a transition rule judges an update: aTransitionRuleRunsOnlyOnUpdate
            }
            if (expectedMessages.stream().noneMatch(m -> m.endsWith(": " + rule.message()))) {
                untested.add(rule.kind() + " " + rule.where() + ": " + rule.message());
            }
        }
        assertThat(untested).as("rules no invalid example is refused by").isEmpty();
    }

    @Test
    void everySchemaConstraintRefusesSomeExample() {
        Set<String> hit = new TreeSet<>();
        for (Path file : invalidExamples()) {
            for (String line : Examples.expected(file)) {
                String kind = Examples.documents(file).getFirst().get("kind").toString();
                String field = line.substring(0, line.indexOf(": ")).replaceAll("\\[[0-9]+]", "[*]");
                String keyword = CrdRules.keywordOf(line);
                if (keyword != null) {
                    hit.add(kind + " " + field + " " + keyword);
                }
            }
        }
        List<String> missing = CrdRules.constraints().stream().filter(c -> !hit.contains(c)).toList();
        assertThat(missing).as("schema constraints no invalid example is refused by").isEmpty();
    }

    @Test
    void aTransitionRuleRunsOnlyOnUpdate() {
        Map<String, Object> drain = drain("web-0");
        assertThat(VALIDATOR.validate(drain)).isEmpty();
        assertThat(VALIDATOR.validateUpdate(drain, drain("web-0"))).isEmpty();
        assertThat(VALIDATOR.validateUpdate(drain, drain("web-1")).stream().map(FieldError::toString))
                .containsExactly("spec: Invalid value: \"object\": spec is immutable; delete the BackendDrain and"
                        + " create a new one");
    }

    @Test
    void schemaErrorsThatDoNotBlockLeaveTheRulesRunning() {
        // A pattern error is not blocking: the CEL rules run too, as in the API server.
        Map<String, Object> lb = loadBalancer(Map.of("name", "web", "port", 80L, "targetGroup", "web",
                "address", "10.0.0.256"));
        assertThat(VALIDATOR.validate(lb).stream().map(FieldError::toString)).anyMatch(e -> e.contains("should match"))
                .anyMatch(e -> e.endsWith("address must be an IPv4 or IPv6 address"));
    }

    @Test
    void unknownKindAndApiVersionAreNamed() {
        assertThat(VALIDATOR.validate(Map.of("apiVersion", "nodelb.io/v1alpha1", "kind", "Gateway")).toString())
                .contains("kind: Unsupported value: \"Gateway\": supported values: \"LoadBalancer\", \"TargetGroup\","
                        + " \"BackendDrain\"");
        assertThat(VALIDATOR.validate(Map.of("apiVersion", "nodelb.io/v1", "kind", "LoadBalancer")).toString())
                .contains("apiVersion: Unsupported value: \"nodelb.io/v1\": supported values: \"nodelb.io/v1alpha1\"");
    }

    @Test
    void defaultsAreFilledBeforeTheRules() {
        Map<String, Object> lb = VALIDATOR.withDefaults(loadBalancer(Map.of("name", "web", "port", 80L,
                "targetGroup", "web")));
        @SuppressWarnings("unchecked")
        Map<String, Object> spec = (Map<String, Object>) lb.get("spec");
        assertThat(spec).containsEntry("natMode", "DNAT");
        assertThat(((List<?>) spec.get("listeners")).getFirst().toString()).contains("protocol=TCP");
    }

    private static Map<String, Object> drain(String pod) {
        Map<String, Object> drain = new LinkedHashMap<>();
        drain.put("apiVersion", "nodelb.io/v1alpha1");
        drain.put("kind", "BackendDrain");
        drain.put("metadata", Map.of("name", "d"));
        drain.put("spec", Map.of("pod", Map.of("name", pod)));
        return drain;
    }

    private static Map<String, Object> loadBalancer(Map<String, Object> listener) {
        Map<String, Object> lb = new LinkedHashMap<>();
        lb.put("apiVersion", "nodelb.io/v1alpha1");
        lb.put("kind", "LoadBalancer");
        lb.put("metadata", Map.of("name", "web"));
        lb.put("spec", Map.of("interfaces", List.of("eth0"), "listeners", List.of(listener)));
        return lb;
    }
}
