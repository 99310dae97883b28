package io.nodelb.agent.standalone;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.nodelb.api.v1alpha1.LoadBalancer;
import io.nodelb.api.v1alpha1.TargetGroup;
import io.nodelb.api.v1alpha1.validation.SpecProblem;
import io.nodelb.api.v1alpha1.validation.SpecValidator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads the standalone agent's desired state: LoadBalancer and TargetGroup
 * documents, the same format as the custom resources, in one YAML file. The file
 * is checked as a whole; any problem refuses all of it.
 */
public final class ConfigFile {

    public static final String API_VERSION = "nodelb.io/v1alpha1";

    public record Documents(List<LoadBalancer> loadBalancers, List<TargetGroup> targetGroups) {}

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true)
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true);

    private ConfigFile() {}

    public static Documents read(Path file) throws ConfigException {
        String name = file.getFileName().toString();
        List<JsonNode> nodes;
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(Files.newBufferedReader(file))) {
            nodes = it.readAll();
        } catch (IOException e) {
            throw new ConfigException(List.of(name + ": " + firstLine(e.getMessage())));
        }
        List<String> problems = new ArrayList<>();
        List<LoadBalancer> lbs = new ArrayList<>();
        List<TargetGroup> tgs = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        int index = 0;
        for (JsonNode node : nodes) {
            index++;
            if (node == null || node.isNull() || node.isEmpty()) {
                continue; // an empty document, e.g. after a trailing ---
            }
            String kind = node.path("kind").asText("");
            String where = name + " document " + index + " (" + (kind.isEmpty() ? "no kind" : kind)
                    + " " + node.path("metadata").path("name").asText("?") + ")";
            if (!API_VERSION.equals(node.path("apiVersion").asText())) {
                problems.add(where + ": apiVersion: must be " + API_VERSION + ", got '"
                        + node.path("apiVersion").asText("") + "'");
                continue;
            }
            Class<? extends HasMetadata> type = switch (kind) {
                case "LoadBalancer" -> LoadBalancer.class;
                case "TargetGroup" -> TargetGroup.class;
                default -> null;
            };
            if (type == null) {
                problems.add(where + ": kind: must be LoadBalancer or TargetGroup");
                continue;
            }
            if (node.path("metadata").path("name").asText("").isEmpty()) {
                problems.add(where + ": metadata.name: is required");
                continue;
            }
            HasMetadata object;
            try {
                object = YAML.treeToValue(node, type);
            } catch (JsonMappingException e) {
                problems.add(where + ": " + path(e) + ": " + firstLine(e.getOriginalMessage()));
                continue;
            } catch (IOException e) {
                problems.add(where + ": " + firstLine(e.getMessage()));
                continue;
            }
            if (object.getMetadata().getNamespace() == null) {
                object.getMetadata().setNamespace("default");
            }
            if (!seen.add(kind + "/" + object.getMetadata().getNamespace() + "/" + object.getMetadata().getName())) {
                problems.add(where + ": metadata.name: another " + kind + " already has this name");
                continue;
            }
            List<SpecProblem> specProblems = object instanceof LoadBalancer lb
                    ? (lb.getSpec() == null ? List.of(new SpecProblem("spec", "is required")) : SpecValidator.validate(lb.getSpec()))
                    : (((TargetGroup) object).getSpec() == null ? List.of(new SpecProblem("spec", "is required"))
                            : SpecValidator.validate(((TargetGroup) object).getSpec()));
            for (SpecProblem p : specProblems) {
                problems.add(where + ": " + p.field() + ": " + p.message());
            }
            if (object instanceof LoadBalancer lb) {
                lbs.add(lb);
            } else {
                tgs.add((TargetGroup) object);
            }
        }
        if (problems.isEmpty() && lbs.isEmpty()) {
            problems.add(name + ": no LoadBalancer document: nothing to program");
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new Documents(lbs, tgs);
    }

    /** The JSON path of a mapping error, e.g. {@code spec.listeners[0].port}. */
    private static String path(JsonMappingException e) {
        StringBuilder b = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                b.append(b.isEmpty() ? "" : ".").append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                b.append('[').append(r.getIndex()).append(']');
            }
        }
        return b.isEmpty() ? "(document)" : b.toString();
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unreadable";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }
}
