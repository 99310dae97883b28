package io.nodelb.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The chart as the tests see it: rendered with helm-java (Helm's own code, no helm binary) for
 * a release "nodelb" in "nodelb-system", and read back as Fabric8 objects, strictly.
 */
final class Chart {

    static final Path DIR = Path.of(System.getProperty("nodelb.chart", "nodelb")).toAbsolutePath().normalize();
    static final Path TOP = Path.of(System.getProperty("nodelb.top", "..")).toAbsolutePath().normalize();
    static final String NAMESPACE = "nodelb-system";
    /** The oldest Kubernetes the chart supports (Chart.yaml kubeVersion): CEL isIP() in the CRDs. */
    static final String KUBE_VERSION = "1.31.0";
    static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private Chart() {}

    /** helm template with values given as {@code --set key=value} pairs. */
    static Rendered render(String... set) {
        TemplateCommand template = template();
        for (int i = 0; i < set.length; i += 2) {
            template = template.set(set[i], set[i + 1]);
        }
        return new Rendered(template.call());
    }

    /** helm template with a values file of this YAML. */
    static Rendered renderWith(String valuesYaml) {
        try {
            Path file = Files.createTempFile("nodelb-values-", ".yaml");
            try {
                Files.writeString(file, valuesYaml);
                return new Rendered(template().withValuesFile(file).call());
            } finally {
                Files.delete(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static TemplateCommand template() {
        return new Helm(DIR).template().withName("nodelb").withNamespace(NAMESPACE).withKubeVersion(KUBE_VERSION);
    }

    /** values.yaml as a tree. */
    static JsonNode values() {
        try {
            return YAML.readTree(DIR.resolve("values.yaml").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The documents of a rendered chart, each as its Fabric8 type. */
    record Rendered(String yaml, List<HasMetadata> objects) {

        Rendered(String yaml) {
            this(yaml, parse(yaml));
        }

        <T extends HasMetadata> T get(Class<T> type, String name) {
            return find(type, name).orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name
                    + " in the rendered chart; it has " + kinds()));
        }

        <T extends HasMetadata> Optional<T> find(Class<T> type, String name) {
            return objects.stream().filter(type::isInstance).map(type::cast)
                    .filter(o -> o.getMetadata().getName().equals(name)).findFirst();
        }

        <T extends HasMetadata> List<T> all(Class<T> type) {
            return objects.stream().filter(type::isInstance).map(type::cast).toList();
        }

        List<String> kinds() {
            return objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()).toList();
        }
    }

    /** Splits the output of helm template into documents and reads each into its Fabric8 type, strictly. */
    static List<HasMetadata> parse(String yaml) {
        List<HasMetadata> objects = new ArrayList<>();
        for (String document : yaml.split("(?m)^---\\s*$")) {
            if (document.lines().allMatch(line -> line.isBlank() || line.startsWith("#"))) {
                continue;
            }
            String source = document.lines().filter(l -> l.startsWith("# Source:")).findFirst().orElse("(no source)");
            Object object = SERIALIZATION.unmarshal(document);
            assertThat(object).as("a document of %s", source).isInstanceOf(HasMetadata.class);
            assertThat(object).as("%s must deserialize into a Fabric8 type, not a generic resource", source)
                    .isNotInstanceOf(GenericKubernetesResource.class);
            List<String> unknown = new ArrayList<>();
            unknownFields(object, ((HasMetadata) object).getKind(), unknown);
            assertThat(unknown).as("fields of %s that its Fabric8 type does not know (a typo, a wrong level)", source)
                    .isEmpty();
            objects.add((HasMetadata) object);
        }
        return objects;
    }

    /**
     * Fabric8's model classes keep every field they do not know in {@code additionalProperties}
     * instead of failing: walk the object and collect those, with their path.
     */
    static void unknownFields(Object value, String path, List<String> unknown) {
        if (value == null || value instanceof String || value instanceof Number || value instanceof Boolean
                || value instanceof Enum<?>) {
            return;
        }
        if (value instanceof Collection<?> items) {
            int i = 0;
            for (Object item : items) {
                unknownFields(item, path + "[" + i++ + "]", unknown);
            }
            return;
        }
        if (value instanceof Map<?, ?> map) {
            map.forEach((k, v) -> unknownFields(v, path + "." + k, unknown));
            return;
        }
        if (!value.getClass().getName().startsWith("io.fabric8.")) {
            return;
        }
        for (Method getter : value.getClass().getMethods()) {
            if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers())
                    || getter.getDeclaringClass() == Object.class
                    || !(getter.getName().startsWith("get") || getter.getName().startsWith("is"))) {
                continue;
            }
            Object child;
            try {
                child = getter.invoke(value);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(getter.toString(), e);
            }
            String field = getter.getName().replaceFirst("^(get|is)", "");
            if (field.equals("AdditionalProperties") && child instanceof Map<?, ?> extra) {
                extra.keySet().forEach(k -> unknown.add(path + "." + k));
            } else {
                unknownFields(child, path + "." + Character.toLowerCase(field.charAt(0)) + field.substring(1), unknown);
            }
        }
    }
}
