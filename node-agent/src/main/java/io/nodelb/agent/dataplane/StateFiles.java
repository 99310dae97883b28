package io.nodelb.agent.dataplane;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Small key-value files in the agent's state directory (beside the pins, on a tmpfs that
 * lives as long as they do). Written to a temporary file and renamed, so a kill at any
 * moment leaves the old content or the new one, never a torn file.
 */
final class StateFiles {

    private StateFiles() {}

    static Map<String, String> read(Path file) {
        Properties p = new Properties();
        try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(in);
        } catch (NoSuchFileException e) {
            return new TreeMap<>();
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("cannot read the agent state file " + file + ": " + e.getMessage()
                    + " (remove it to start from what the maps hold)", e);
        }
        Map<String, String> out = new TreeMap<>();
        p.forEach((k, v) -> out.put((String) k, (String) v));
        return out;
    }

    static void write(Path file, Map<String, String> content) {
        Properties p = new Properties();
        p.putAll(content);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.createDirectories(file.getParent());
            try (Writer out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                p.store(out, null);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the agent state file " + file, e);
        }
    }
}
