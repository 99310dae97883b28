package io.nodelb.agent.dataplane;

import java.io.IOException;
import java.io.UncheckedIOException;
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

    /** The entries of a file {@link #write} wrote (any {@link Properties} file reads the same). */
    static Map<String, String> read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8); // what earlier agents wrote; ASCII now
        } catch (NoSuchFileException e) {
            return new TreeMap<>();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the agent state file " + file + ": " + e.getMessage()
                    + " (remove it to start from what the maps hold)", e);
        }
        if (text.indexOf('\\') >= 0 && text.contains("\\\n")) {
            return viaProperties(file, text); // continued lines: never written here, leave them to Properties
        }
        Map<String, String> out = new TreeMap<>();
        try {
            for (String line : text.split("\n")) {
                // Leading blanks are not part of the key; trailing ones are part of the value.
                String stripped = line.stripLeading();
                parseLine(stripped.endsWith("\r") ? stripped.substring(0, stripped.length() - 1) : stripped, out);
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("cannot read the agent state file " + file + ": " + e.getMessage()
                    + " (remove it to start from what the maps hold)", e);
        }
        return out;
    }

    /** One {@code key=value} line as {@link Properties#load} reads it; comments and blank lines add nothing. */
    private static void parseLine(String line, Map<String, String> out) {
        if (line.isEmpty() || line.charAt(0) == '#' || line.charAt(0) == '!') {
            return;
        }
        StringBuilder key = new StringBuilder();
        int i = 0;
        for (; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\\') {
                i = unescape(line, i, key);
            } else if (c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f') {
                break;
            } else {
                key.append(c);
            }
        }
        // The separator: blanks, then at most one '=' or ':', then blanks.
        while (i < line.length() && (line.charAt(i) == ' ' || line.charAt(i) == '\t' || line.charAt(i) == '\f')) {
            i++;
        }
        if (i < line.length() && (line.charAt(i) == '=' || line.charAt(i) == ':')) {
            i++;
        }
        while (i < line.length() && (line.charAt(i) == ' ' || line.charAt(i) == '\t' || line.charAt(i) == '\f')) {
            i++;
        }
        StringBuilder value = new StringBuilder();
        for (; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\\') {
                i = unescape(line, i, value);
            } else {
                value.append(c);
            }
        }
        out.put(key.toString(), value.toString());
    }

    /** Appends the character escaped at {@code line[at]} (a backslash); returns the index of its last char. */
    private static int unescape(String line, int at, StringBuilder out) {
        if (at + 1 >= line.length()) {
            return at;
        }
        char c = line.charAt(at + 1);
        switch (c) {
            case 't' -> out.append('\t');
            case 'n' -> out.append('\n');
            case 'r' -> out.append('\r');
            case 'f' -> out.append('\f');
            case 'u' -> {
                if (at + 6 > line.length()) {
                    throw new IllegalArgumentException("malformed \\uxxxx encoding");
                }
                out.append((char) Integer.parseInt(line, at + 2, at + 6, 16));
                return at + 5;
            }
            default -> out.append(c);
        }
        return at + 1;
    }

    private static Map<String, String> viaProperties(Path file, String text) {
        Properties p = new Properties();
        try {
            p.load(new java.io.StringReader(text));
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("cannot read the agent state file " + file + ": " + e.getMessage()
                    + " (remove it to start from what the maps hold)", e);
        }
        Map<String, String> out = new TreeMap<>();
        p.forEach((k, v) -> out.put((String) k, (String) v));
        return out;
    }

    /**
     * Writes {@code content} in the format of {@link Properties#store} (read back by
     * {@link Properties#load}), sorted by key, without the date comment; built in one string
     * because the ids file of a big node has tens of thousands of entries.
     */
    static void write(Path file, Map<String, String> content) {
        StringBuilder text = new StringBuilder(content.size() * 40);
        new TreeMap<>(content).forEach((key, value) -> {
            escape(key, text);
            text.append('=');
            escape(value, text);
            text.append('\n');
        });
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(tmp, text, StandardCharsets.ISO_8859_1);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the agent state file " + file, e);
        }
    }

    /** The escapes of {@link Properties#store}: separators, comment marks, spaces, and \\uXXXX past ASCII. */
    private static void escape(String s, StringBuilder out) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\', ':', '=', '#', '!', ' ' -> out.append('\\').append(c);
                case '\t' -> out.append("\\t");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        out.append(String.format("\\u%04X", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
    }
}
