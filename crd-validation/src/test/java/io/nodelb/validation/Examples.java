package io.nodelb.validation;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** The example files: valid ones in deploy/examples, invalid ones here, each with its expected message. */
final class Examples {
    private Examples() {}

    static final Path VALID = Path.of("../deploy/examples");
    static final Path INVALID = Path.of("src/test/resources/invalid");

    static List<Path> files(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every non-empty document of a file, as maps. */
    static List<Map<String, Object>> documents(Path file) {
        try {
            return YamlDocuments.read(read(file)).stream().map(YamlDocuments::asMap)
                    .filter(m -> m != null).toList();
        } catch (YamlDocuments.SyntaxException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** The lines "# expect: ..." of an invalid example: each error the API server must give, in full. */
    static List<String> expected(Path file) {
        return read(file).lines().filter(l -> l.startsWith("# expect: "))
                .map(l -> l.substring("# expect: ".length()).strip()).toList();
    }
}
