package io.nodelb.validation;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CheckedRulesTest {

    private static List<String> bundledCrds() {
        List<String> crds = new ArrayList<>();
        CrdValidator.BUNDLED.forEach(name -> crds.add(CrdValidator.resource("crds/" + name)));
        return crds;
    }

    @Test
    void theBuildCheckedEveryExpressionOfTheBundledCrds() {
        Map<String, byte[]> checked = CheckedRules.bundled();
        CelRule.Compiler compiler = new CelRule.Compiler(checked);
        CrdValidator.fromCrds(bundledCrds(), compiler);

        assertThat(compiler.compiledFromText).as("expressions the agent would parse and check at start").isEmpty();
        assertThat(compiler.loadedChecked).as("rules and message expressions built from the checked form")
            .isGreaterThanOrEqualTo(checked.size()).isGreaterThanOrEqualTo(24);
    }

    @Test
    void anExpressionTheBuildDidNotSeeIsCompiledFromItsText() {
        String edited = bundledCrds().getFirst().replaceFirst("rule: \"", "rule: \"true && ");
        CelRule.Compiler compiler = new CelRule.Compiler(CheckedRules.bundled());
        CrdValidator.fromCrds(List.of(edited), compiler);

        assertThat(compiler.compiledFromText).hasSize(1);
        assertThat(compiler.compiledFromText.keySet().iterator().next()).startsWith("true && ");
    }

    @Test
    void theResourceIsWhatTheCrdsCompileTo() throws Exception {
        Map<String, byte[]> fresh = CheckedRules.read(new java.io.ByteArrayInputStream(CheckedRules.write()));
        Map<String, byte[]> bundled = CheckedRules.bundled();

        assertThat(fresh.keySet()).isEqualTo(bundled.keySet());
        fresh.forEach((expression, bytes) -> assertThat(bundled.get(expression)).as(expression).isEqualTo(bytes));
    }
}
