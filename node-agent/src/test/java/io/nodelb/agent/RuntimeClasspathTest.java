package io.nodelb.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The privileged agent carries what it needs and no more: no Kubernetes client, no Jackson, no API
 * classes (the model compiler takes its own input types). Read from the runtime classpath Maven
 * resolves for the agent (target/runtime-classpath.txt, written by the build before the tests).
 */
class RuntimeClasspathTest {

    private static List<String> runtimeJars() throws Exception {
        String classpath = Files.readString(Path.of("target/runtime-classpath.txt")).strip();
        return Arrays.stream(classpath.split(File.pathSeparator)).map(p -> Path.of(p).getFileName().toString()).toList();
    }

    @Test
    void holdsTheCompilerAndTheValidatorButNoKubernetesClientNorJackson() throws Exception {
        String repository = Path.of(System.getProperty("user.home"), ".m2", "repository").toString();
        String classpath = Files.readString(Path.of("target/runtime-classpath.txt"));
        List<String> jars = runtimeJars();

        assertThat(jars).anyMatch(j -> j.startsWith("nodelb-model")).anyMatch(j -> j.startsWith("nodelb-crd-validation"));
        assertThat(jars).noneMatch(j -> j.startsWith("nodelb-crds"));
        assertThat(classpath.replace(repository, ""))
                .as("Fabric8 and Jackson jars on the agent's runtime classpath")
                .doesNotContain("/io/fabric8/").doesNotContain("/com/fasterxml/").doesNotContain("/tools/jackson/");
    }
}
