package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.networknt.schema.Error;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * values.yaml and values.schema.json: the schema refuses a bad value with a message that names
 * the value and what is wrong; the defaults pass an independent validator; every value is
 * documented where it is defined.
 */
class ChartValuesTest {

    static Stream<Arguments> badValues() {
        return Stream.of(
                Arguments.of("a capability spelled the kernel's way", "agent:\n  capabilities: [CAP_BPF]\n",
                        "/agent/capabilities/0", "value must be one of"),
                Arguments.of("every capability", "agent:\n  capabilities: [ALL]\n",
                        "/agent/capabilities/0", "value must be one of"),
                Arguments.of("no capability at all", "agent:\n  capabilities: []\n",
                        "/agent/capabilities", "minItems"),
                Arguments.of("privileged, which the chart has no value for", "agent:\n  privileged: true\n",
                        "/agent", "additional properties 'privileged' not allowed"),
                Arguments.of("a misspelt key", "operator:\n  replica: 3\n",
                        "/operator", "additional properties 'replica' not allowed"),
                Arguments.of("no operator replica", "operator:\n  replicas: 0\n",
                        "/operator/replicas", "minimum"),
                Arguments.of("a token Kubernetes will not issue", "agent:\n  token: {expirationSeconds: 60}\n",
                        "/agent/token/expirationSeconds", "minimum"),
                Arguments.of("a port out of range", "agent:\n  metrics: {port: 70000}\n",
                        "/agent/metrics/port", "maximum"),
                Arguments.of("a digest that is a tag", "operator:\n  image: {digest: latest}\n",
                        "/operator/image/digest", "does not match pattern"),
                Arguments.of("a ratio above one", "metrics:\n  prometheusRule: {conntrackFullRatio: 1.5}\n",
                        "/metrics/prometheusRule/conntrackFullRatio", "maximum"),
                Arguments.of("a duration in words", "operator:\n  certificates: {leafValidity: ninety days}\n",
                        "/operator/certificates/leafValidity", "does not match pattern"),
                Arguments.of("a Prometheus duration in words", "metrics:\n  prometheusRule: {drainingTooLong: six hours}\n",
                        "/metrics/prometheusRule/drainingTooLong", "does not match pattern"),
                Arguments.of("a pull policy Kubernetes does not know", "agent:\n  image: {pullPolicy: Sometimes}\n",
                        "/agent/image/pullPolicy", "value must be one of"),
                Arguments.of("a Secret name with capitals", "agent:\n  tlsSecret: Nodelb-TLS\n",
                        "/agent/tlsSecret", "does not match pattern"),
                Arguments.of("a string for a switch", "crds:\n  enabled: \"yes\"\n",
                        "/crds/enabled", "got string, want boolean"),
                Arguments.of("the agent's flag value for the fast path's switch", "agent:\n  xdpFastPath: auto\n",
                        "/agent/xdpFastPath", "got string, want boolean"),
                Arguments.of("the agent's env value for the splice's switch", "agent:\n  streamSplice: \"on\"\n",
                        "/agent/streamSplice", "got string, want boolean"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badValues")
    void theSchemaRefusesABadValueSayingWhereAndWhy(String what, String values, String where, String why) {
        assertThatThrownBy(() -> Chart.renderWith(values))
                .as("helm template with %s", what)
                .hasMessageContaining("values don't meet the specifications of the schema")
                .hasMessageContaining("at '" + where + "'")
                .hasMessageContaining(why);
    }

    @Test
    void theDefaultsPassAnIndependentValidatorOfTheSchema() throws Exception {
        SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_7);
        Schema schema = registry.getSchema(Files.readString(Chart.DIR.resolve("values.schema.json")), InputFormat.JSON);

        List<Error> errors = schema.validate(Files.readString(Chart.DIR.resolve("values.yaml")), InputFormat.YAML);

        assertThat(errors).as("values.yaml against values.schema.json (networknt)").isEmpty();
        List<Error> bad = schema.validate("agent:\n  capabilities: [CAP_BPF]\n", InputFormat.YAML);
        assertThat(bad).as("and it refuses what Helm refuses").isNotEmpty();
    }

    /**
     * Every value of values.yaml is documented where it is defined: a comment directly above it,
     * or above the run of sibling keys it belongs to, or above a parent. (Keys that only group
     * others need no comment of their own.)
     */
    @Test
    void everyValueIsDocumentedWhereItIsDefined() throws Exception {
        List<String> lines = Files.readAllLines(Chart.DIR.resolve("values.yaml"));
        List<String> undocumented = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (isKey(lines.get(i)) && hasValue(lines.get(i)) && !documented(lines, i)) {
                undocumented.add((i + 1) + ": " + lines.get(i).strip());
            }
        }
        assertThat(undocumented).as("values.yaml keys without a comment").isEmpty();
    }

    private static boolean isKey(String line) {
        return line.matches("\\s*[A-Za-z][A-Za-z0-9_.-]*:.*") && !line.strip().startsWith("#");
    }

    /** A key with its value on the same line (a scalar, [] or {}), not one that groups the lines below it. */
    private static boolean hasValue(String line) {
        return !line.strip().endsWith(":");
    }

    private static int indent(String line) {
        return line.length() - line.stripLeading().length();
    }

    private static boolean documented(List<String> lines, int key) {
        int level = indent(lines.get(key));
        for (int j = key - 1; j >= 0; j--) {
            String line = lines.get(j);
            if (line.isBlank()) {
                return false; // a run of siblings ends at a blank line
            }
            int at = indent(line);
            if (at == level && line.strip().startsWith("#")) {
                return true;
            }
            if (at < level) {
                return isKey(line) && documented(lines, j); // the parent's comment covers its children
            }
            // a sibling key or something nested in one: keep walking up the run
        }
        return false;
    }
}
