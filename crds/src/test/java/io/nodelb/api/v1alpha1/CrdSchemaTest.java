package io.nodelb.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import com.networknt.schema.Error;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.nodelb.api.v1alpha1.validation.SpecProblem;
import io.nodelb.api.v1alpha1.validation.SpecValidator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every example in deploy/examples passes the generated OpenAPI schema and the shared
 * {@link SpecValidator}; every file in src/test/resources/invalid is refused with its intended
 * message. A file's header says which layer refuses it: {@code schema} (the OpenAPI schema, checked
 * here with networknt) or {@code cel} (an x-kubernetes-validations rule: only a real API server
 * evaluates it, so here the CRD must carry a rule with that message and SpecValidator must return it).
 */
class CrdSchemaTest {
  private static final Map<String, String> CRD_BY_KIND = Map.of(
      "LoadBalancer", "loadbalancers.nodelb.io-v1.yml",
      "TargetGroup", "targetgroups.nodelb.io-v1.yml",
      "BackendDrain", "backenddrains.nodelb.io-v1.yml");
  private static final Map<String, Schema> SCHEMAS = new HashMap<>();

  static Stream<Path> examples() throws IOException {
    return yamlFiles(CrdFiles.EXAMPLES);
  }

  static Stream<Path> invalidExamples() throws IOException {
    return yamlFiles(CrdFiles.INVALID);
  }

  private static Stream<Path> yamlFiles(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList().stream();
    }
  }

  @Test
  void thereAreEnoughExamples() throws IOException {
    assertThat(examples().count()).isGreaterThanOrEqualTo(5);
    assertThat(invalidExamples().count()).isGreaterThanOrEqualTo(20);
  }

  @ParameterizedTest
  @MethodSource("examples")
  void exampleIsValid(Path file) {
    List<String> documents = CrdFiles.documents(CrdFiles.read(file));
    assertThat(documents).isNotEmpty();
    for (String document : documents) {
      assertThat(schemaErrors(document)).as("%s: schema errors", file).isEmpty();
      assertThat(validatorProblems(document)).as("%s: SpecValidator problems", file).isEmpty();
    }
  }

  @ParameterizedTest
  @MethodSource("invalidExamples")
  void invalidExampleIsRefusedWithItsMessage(Path file) {
    String yaml = CrdFiles.read(file);
    String layer = header(yaml, "layer");
    String expected = header(yaml, "expect");
    List<String> schemaErrors = schemaErrors(yaml);
    List<String> problems = validatorProblems(yaml);
    assertThat(problems).as("%s: the shared SpecValidator (used by operator and agent) must refuse it", file).isNotEmpty();
    switch (layer) {
      case "schema" -> assertThat(schemaErrors).as("%s: schema errors", file).anyMatch(e -> e.contains(expected));
      case "cel" -> {
        assertThat(schemaErrors).as("%s: the schema alone must accept it (CEL refuses it)", file).isEmpty();
        String crd = CrdFiles.read(CrdFiles.GENERATED.resolve(CRD_BY_KIND.get(kind(yaml))));
        assertThat(crdRuleMessages(crd)).as("%s: the CRD must carry a CEL rule with this message", file).contains(expected);
        assertThat(problems).as("%s: SpecValidator says what CEL says", file).anyMatch(p -> p.contains(expected));
      }
      default -> throw new IllegalArgumentException(file + ": layer must be schema or cel, got " + layer);
    }
  }

  private static String header(String yaml, String key) {
    return yaml.lines()
        .filter(l -> l.startsWith("# " + key + ": "))
        .map(l -> l.substring(("# " + key + ": ").length()).strip())
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("missing header '# " + key + ": ...'"));
  }

  private static String kind(String yaml) {
    return (String) CrdFiles.asMap(yaml).get("kind");
  }

  private static List<String> schemaErrors(String yaml) {
    Schema schema = SCHEMAS.computeIfAbsent(kind(yaml), CrdSchemaTest::loadSchema);
    String json = CrdFiles.SERIALIZATION.asJson(CrdFiles.asMap(yaml));
    return schema.validate(json, InputFormat.JSON).stream().map(Error::toString).toList();
  }

  @SuppressWarnings("unchecked")
  private static Schema loadSchema(String kind) {
    Map<String, Object> crd = CrdFiles.asMap(CrdFiles.read(CrdFiles.GENERATED.resolve(CRD_BY_KIND.get(kind))));
    Map<String, Object> spec = (Map<String, Object>) crd.get("spec");
    Map<String, Object> version = ((List<Map<String, Object>>) spec.get("versions")).getFirst();
    Object openApi = ((Map<String, Object>) version.get("schema")).get("openAPIV3Schema");
    return SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_4)
        .getSchema(CrdFiles.SERIALIZATION.asJson(openApi), InputFormat.JSON);
  }

  private static List<String> validatorProblems(String yaml) {
    List<SpecProblem> problems;
    try {
      problems = switch (kind(yaml)) {
        case "LoadBalancer" -> SpecValidator.validate(CrdFiles.SERIALIZATION.unmarshal(yaml, LoadBalancer.class).getSpec());
        case "TargetGroup" -> SpecValidator.validate(CrdFiles.SERIALIZATION.unmarshal(yaml, TargetGroup.class).getSpec());
        case "BackendDrain" -> SpecValidator.validate(CrdFiles.SERIALIZATION.unmarshal(yaml, BackendDrain.class).getSpec());
        default -> throw new IllegalArgumentException("unknown kind " + kind(yaml));
      };
    } catch (RuntimeException e) {
      // An unknown enum value never becomes an object: reading the file is the refusal.
      return List.of("cannot be read: " + e.getMessage());
    }
    return problems.stream().map(SpecProblem::toString).toList();
  }

  @SuppressWarnings("unchecked")
  private static List<String> crdRuleMessages(String crdYaml) {
    List<String> messages = new ArrayList<>();
    collectRuleMessages(CrdFiles.asMap(crdYaml), messages);
    return messages;
  }

  @SuppressWarnings("unchecked")
  private static void collectRuleMessages(Object node, List<String> messages) {
    if (node instanceof Map<?, ?> map) {
      Object rules = map.get("x-kubernetes-validations");
      if (rules instanceof List<?> list) {
        list.forEach(r -> messages.add((String) ((Map<String, Object>) r).get("message")));
      }
      map.values().forEach(v -> collectRuleMessages(v, messages));
    } else if (node instanceof List<?> list) {
      list.forEach(v -> collectRuleMessages(v, messages));
    }
  }
}
