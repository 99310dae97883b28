package io.nodelb.validation;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Each CEL rule of the CRDs decides something: negating it alone (in a copy of the CRD YAML)
 * changes the verdict on at least one example, valid or invalid. A rule that could never fail,
 * or that no example reaches, is caught here.
 */
class RuleMutationTest {

    @Test
    void negatingAnyRuleChangesAVerdict() {
        List<Map<String, Object>> documents = new ArrayList<>();
        for (Path dir : List.of(Examples.VALID, Examples.INVALID)) {
            Examples.files(dir).forEach(f -> documents.addAll(Examples.documents(f)));
        }
        List<String> verdicts = verdicts(CrdValidator.nodelb(), documents);
        List<CrdRules.Rule> rules = CrdRules.all();
        assertThat(rules).hasSizeGreaterThanOrEqualTo(20);
        List<String> survivors = new ArrayList<>();
        for (CrdRules.Rule rule : rules) {
            CrdValidator mutant = CrdValidator.fromCrds(CrdRules.crdTexts().stream()
                    .map(text -> negate(text, rule)).toList());
            if (verdicts(mutant, documents).equals(verdicts)) {
                survivors.add(rule.kind() + " " + rule.where() + ": " + rule.rule());
            }
        }
        assertThat(survivors).as("rules whose negation no example notices").isEmpty();
    }

    private static List<String> verdicts(CrdValidator validator, List<Map<String, Object>> documents) {
        List<String> verdicts = new ArrayList<>(documents.stream().map(d -> validator.validate(d).toString()).toList());
        // Transition rules judge updates: one that keeps the spec, one that changes it.
        verdicts.add(validator.validateUpdate(drain("web-0"), drain("web-0")).toString());
        verdicts.add(validator.validateUpdate(drain("web-0"), drain("web-1")).toString());
        return verdicts;
    }

    private static Map<String, Object> drain(String pod) {
        return Map.of("apiVersion", "nodelb.io/v1alpha1", "kind", "BackendDrain", "metadata", Map.of("name", "d"),
                "spec", Map.of("pod", Map.of("name", pod)));
    }

    /** The CRD text with one rule replaced by its negation; the rule is found by its message, unique per node. */
    private static String negate(String crdText, CrdRules.Rule rule) {
        Map<String, Object> crd = new org.yaml.snakeyaml.Yaml().load(crdText);
        boolean[] found = {false};
        mutate(crd, rule, found);
        return found[0] ? new org.yaml.snakeyaml.Yaml().dump(crd) : crdText;
    }

    @SuppressWarnings("unchecked")
    private static void mutate(Object node, CrdRules.Rule rule, boolean[] found) {
        if (node instanceof Map<?, ?> map) {
            if (map.get("x-kubernetes-validations") instanceof List<?> list) {
                for (Object o : list) {
                    Map<String, Object> r = (Map<String, Object>) o;
                    if (!found[0] && rule.rule().equals(r.get("rule")) && rule.message().equals(r.get("message"))) {
                        r.put("rule", "!(" + rule.rule() + ")");
                        found[0] = true;
                    }
                }
            }
            map.values().forEach(v -> mutate(v, rule, found));
        } else if (node instanceof List<?> list) {
            list.forEach(v -> mutate(v, rule, found));
        }
    }
}
