package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Test;

/** helm lint --strict: a warning fails like an error. */
class ChartLintTest {

    @Test
    void lintsStrictlyWithNoWarning() {
        LintResult result = new Helm(Chart.DIR).lint().strict().call();

        assertThat(result.isFailed()).as("helm lint --strict: %s", result.getMessages()).isFalse();
        assertThat(result.getMessages()).as("lint messages other than the one about an icon")
                .allSatisfy(m -> assertThat(m).startsWith("[INFO]"));
    }
}
