package io.nodelb.agent.standalone;

import io.nodelb.model.compiler.ObjectKey;
import io.nodelb.model.input.LoadBalancerInput;
import io.nodelb.model.input.Revision;
import io.nodelb.model.input.TargetGroupInput;
import io.nodelb.validation.CrdValidator;
import io.nodelb.validation.FieldError;
import io.nodelb.validation.YamlDocuments;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the standalone agent's desired state: LoadBalancer and TargetGroup documents, the same
 * format as the custom resources, in one YAML file. Each document is checked by the CRDs' own
 * schema and CEL rules ({@link CrdValidator}), with the API server's messages; every problem of
 * every document is collected, so one refusal lists them all.
 */
public final class ConfigFile {

    public static final String API_VERSION = "nodelb.io/v1alpha1";

    /**
     * What the file holds: the documents that passed validation, and the problems of the others.
     *
     * @param labels "lab.yaml document 2 (LoadBalancer web, line 9)" by "Kind namespace/name", to name a
     *     compile problem
     * @param refused "Kind namespace/name" of the documents refused here, whose absence the compiler would
     *     report again
     */
    public record Documents(List<LoadBalancerInput> loadBalancers, List<TargetGroupInput> targetGroups,
                            List<String> problems,
                            Map<String, String> labels, java.util.Set<String> refused) {}

    private ConfigFile() {}

    public static Documents read(Path file) throws ConfigException {
        String name = file.getFileName().toString();
        List<YamlDocuments.Document> documents;
        try {
            documents = YamlDocuments.read(Files.readString(file, StandardCharsets.UTF_8));
        } catch (YamlDocuments.SyntaxException e) {
            throw new ConfigException(List.of(name + " is not valid YAML: " + e.getMessage()));
        } catch (IOException e) {
            throw new ConfigException(List.of(unreadable(file, e)));
        }
        List<String> problems = new ArrayList<>();
        List<LoadBalancerInput> lbs = new ArrayList<>();
        List<TargetGroupInput> tgs = new ArrayList<>();
        Map<String, String> labels = new HashMap<>();
        java.util.Set<String> refused = new java.util.HashSet<>();
        for (YamlDocuments.Document document : documents) {
            if (document.content() == null) {
                continue; // an empty document, e.g. after a trailing ---
            }
            Map<String, Object> map = YamlDocuments.asMap(document);
            String at = name + " document " + document.index() + " (line " + document.line() + ")";
            if (map == null) {
                problems.add(at + ": a document must be a mapping with apiVersion, kind, metadata and spec");
                continue;
            }
            String kind = String.valueOf(map.getOrDefault("kind", ""));
            Object metadata = map.get("metadata");
            Object objectName = metadata instanceof Map<?, ?> m ? m.get("name") : null;
            String where = name + " document " + document.index() + " (" + (kind.isEmpty() ? "no kind" : kind)
                    + " " + (objectName == null ? "?" : objectName) + ", line " + document.line() + ")";
            if (!API_VERSION.equals(map.get("apiVersion"))) {
                problems.add(where + ": apiVersion: must be " + API_VERSION + ", got '"
                        + (map.get("apiVersion") == null ? "" : map.get("apiVersion")) + "'");
                continue;
            }
            if (!kind.equals("LoadBalancer") && !kind.equals("TargetGroup")) {
                problems.add(where + ": kind: must be LoadBalancer or TargetGroup, got '" + kind + "'"
                        + ("BackendDrain".equals(kind) ? " (a BackendDrain needs the operator: drain a standalone"
                        + " node with SIGUSR1)" : ""));
                continue;
            }
            if (!(objectName instanceof String s) || s.isEmpty()) {
                problems.add(where + ": metadata.name: Required value");
                continue;
            }
            String namespace = metadata instanceof Map<?, ?> m && m.get("namespace") instanceof String n ? n : "default";
            String key = kind + " " + namespace + "/" + s;
            if (labels.containsKey(key) || refused.contains(key)) {
                problems.add(where + ": metadata.name: Duplicate value: \"" + s + "\": another " + kind
                        + " of this file has this name");
                continue;
            }
            List<FieldError> errors = CrdValidator.nodelb().validate(map);
            // An error of the whole object (the API server's "<nil>") reads better without its field.
            errors.forEach(e -> problems.add(where + ": " + (e.field() == null ? e.body() : e.toString())));
            List<String> unused = StandaloneSupport.unused(map);
            unused.forEach(u -> problems.add(where + ": " + u));
            if (!errors.isEmpty() || !unused.isEmpty()) {
                refused.add(key);
                continue;
            }
            // The compiler's input: the document's spec as the validator completed it with the schema's defaults.
            @SuppressWarnings("unchecked")
            Map<String, Object> spec = (Map<String, Object>) CrdValidator.nodelb().withDefaults(map).get("spec");
            ObjectKey objectKey = new ObjectKey(namespace, s);
            labels.put(key, where);
            if (kind.equals("LoadBalancer")) {
                lbs.add(new LoadBalancerInput(objectKey, Revision.NONE, spec));
            } else {
                tgs.add(new TargetGroupInput(objectKey, Revision.NONE, spec));
            }
        }
        if (problems.isEmpty() && lbs.isEmpty()) {
            problems.add(name + ": no LoadBalancer document: nothing to program");
        }
        return new Documents(lbs, tgs, problems, labels, refused);
    }

    /** Why a file cannot be read, in words a person can act on. */
    static String unreadable(Path file, IOException e) {
        String why = switch (e) {
            case NoSuchFileException n -> "no such file";
            case AccessDeniedException a -> "permission denied";
            default -> Files.isDirectory(file) ? "it is a directory, not a file" : e.getMessage();
        };
        return "cannot read " + file.toAbsolutePath() + ": " + why;
    }
}
