package io.nodelb.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * docs/crd-reference.md is what {@link CrdReference} writes from the committed CRDs. When a field
 * changes, the CRD YAML changes (CrdFreshnessTest) and so must the page: the failure says how.
 */
class CrdReferenceTest {
  static final Path PAGE = Path.of("../docs/crd-reference.md");
  static final String REGENERATE =
      "./mvnw -B -o -pl crds -Dtest=CrdReferenceTest -Dsurefire.failIfNoSpecifiedTests=false -Dnodelb.regenerate=true verify";

  @Test
  void theReferencePageIsGeneratedFromTheCommittedCrds() throws IOException {
    // In the order a reader meets them: where traffic enters, where it goes, how it drains.
    List<Map<String, Object>> crds = List.of("loadbalancers.nodelb.io-v1.yml", "targetgroups.nodelb.io-v1.yml",
        "backenddrains.nodelb.io-v1.yml").stream().map(f -> CrdFiles.asMap(CrdFiles.read(CrdFiles.COMMITTED.resolve(f))))
        .toList();
    String expected = CrdReference.markdown(crds);
    if (Boolean.getBoolean("nodelb.regenerate")) {
      Files.writeString(PAGE, expected);
    }
    assertThat(PAGE).as("docs/crd-reference.md").exists();
    assertThat(Files.readString(PAGE))
        .as("docs/crd-reference.md is stale (a CRD changed); regenerate it with:%n  %s%n", REGENERATE)
        .isEqualTo(expected);
    assertThat(expected).contains("## LoadBalancer", "## TargetGroup", "## BackendDrain",
        "`spec.listeners[].port`", "**required**");
  }
}
