package io.nodelb.validation;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.representer.Representer;
import org.yaml.snakeyaml.resolver.Resolver;

/**
 * Reads a multi-document YAML text as the API server's clients do: each document a JSON-shaped
 * value; no timestamps (a date stays a string), no duplicate keys. A syntax error names its line
 * and column.
 */
public final class YamlDocuments {
    private YamlDocuments() {}

    /**
     * One document of a file.
     *
     * @param index 1-based position in the file
     * @param line 1-based line the document starts on
     * @param content its value; null for an empty document
     */
    public record Document(int index, int line, Object content) {}

    /** A text that is not YAML; the message names the line and column. */
    public static final class SyntaxException extends Exception {
        public SyntaxException(String message) {
            super(message);
        }
    }

    public static List<Document> read(String text) throws SyntaxException {
        try {
            List<Integer> lines = new ArrayList<>();
            for (Node node : yaml().composeAll(new java.io.StringReader(text))) {
                lines.add(node == null ? 1 : node.getStartMark().getLine() + 1);
            }
            List<Document> documents = new ArrayList<>();
            Iterator<Object> values = yaml().loadAll(text).iterator();
            int index = 0;
            while (values.hasNext()) {
                Object value = values.next();
                documents.add(new Document(index + 1, index < lines.size() ? lines.get(index) : 1, value));
                index++;
            }
            return documents;
        } catch (MarkedYAMLException e) {
            throw new SyntaxException(describe(e));
        } catch (YAMLException e) {
            throw new SyntaxException(e.getMessage());
        }
    }

    /** "line 7, column 3: mapping values are not allowed here". */
    private static String describe(MarkedYAMLException e) {
        Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
        String problem = e.getProblem() != null ? e.getProblem() : e.getContext();
        String where = mark == null ? "" : "line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1) + ": ";
        String context = e.getContext() != null && e.getProblem() != null && e.getContextMark() != null
                ? " (" + e.getContext() + " at line " + (e.getContextMark().getLine() + 1) + ")" : "";
        return where + problem + context;
    }

    private static Yaml yaml() {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        return new Yaml(new SafeConstructor(options), new Representer(new DumperOptions()), new DumperOptions(),
                options, new NoTimestamps());
    }

    /** YAML 1.1 resolution without timestamps: Kubernetes reads a date as a string. */
    private static final class NoTimestamps extends Resolver {
        @Override
        protected void addImplicitResolvers() {
            addImplicitResolver(org.yaml.snakeyaml.nodes.Tag.BOOL, BOOL, "yYnNtTfFoO");
            addImplicitResolver(org.yaml.snakeyaml.nodes.Tag.INT, INT, "-+0123456789");
            addImplicitResolver(org.yaml.snakeyaml.nodes.Tag.FLOAT, FLOAT, "-+0123456789.");
            addImplicitResolver(org.yaml.snakeyaml.nodes.Tag.MERGE, MERGE, "<");
            addImplicitResolver(org.yaml.snakeyaml.nodes.Tag.NULL, NULL, "~nN\0");
            addImplicitResolver(org.yaml.snakeyaml.nodes.Tag.NULL, EMPTY, null);
        }
    }

    /** The document as a map, or null when it is not one. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> asMap(Document d) {
        return d.content() instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
    }
}
