package io.nodelb.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** The committed CRD YAML must be what the annotated classes generate. */
class CrdFreshnessTest {
  static final java.util.List<String> files = CrdFiles.CRD_FILES;

  @ParameterizedTest
  @FieldSource("files")
  void committedCrdMatchesTheJavaClasses(String file) {
    String generated = CrdFiles.read(CrdFiles.GENERATED.resolve(file));
    String committed = CrdFiles.read(CrdFiles.COMMITTED.resolve(file));
    assertThat(committed)
        .as("crds/generated/%s is stale. Refresh it with:%n"
            + "  ./mvnw -B -q process-classes -pl crds && cp crds/target/classes/META-INF/fabric8/*.yml crds/generated/", file)
        .isEqualTo(generated);
  }
}
