package io.nodelb.api.v1alpha1;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Where the CRD YAML lives and how the tests read YAML documents. */
final class CrdFiles {
  private CrdFiles() {}

  /** Written by crd-generator-maven-plugin during this build. */
  static final Path GENERATED = Path.of("target/classes/META-INF/fabric8");
  /** The committed copy that kubectl, Helm and reviewers read. */
  static final Path COMMITTED = Path.of("generated");
  static final Path EXAMPLES = Path.of("../deploy/examples");

  static final List<String> CRD_FILES = List.of(
      "loadbalancers.nodelb.io-v1.yml", "targetgroups.nodelb.io-v1.yml", "backenddrains.nodelb.io-v1.yml");

  static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  static String read(Path path) {
    try {
      return Files.readString(path);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The documents of a multi-document YAML file, each as its own YAML text. */
  static List<String> documents(String yaml) {
    List<String> documents = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : yaml.split("\n", -1)) {
      if (line.equals("---")) {
        documents.add(current.toString());
        current.setLength(0);
      } else {
        current.append(line).append('\n');
      }
    }
    documents.add(current.toString());
    documents.removeIf(d -> d.lines().allMatch(l -> l.isBlank() || l.startsWith("#")));
    return documents;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> asMap(String yaml) {
    return SERIALIZATION.unmarshal(yaml, Map.class);
  }
}
