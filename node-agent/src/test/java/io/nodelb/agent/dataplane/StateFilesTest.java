package io.nodelb.agent.dataplane;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateFilesTest {

    @TempDir
    Path dir;

    /** Names as ids use them, and every character the Properties format escapes. */
    private static final Map<String, String> AWKWARD = new TreeMap<>(Map.of(
            "backend.[fd00:1:2::11]:8080", "17",
            "backend.10.1.2.11:8080", "3",
            "listener.default/lb/http@10.1.1.1", "1",
            "group.default/web/ipv4", "2",
            "net/ipv4/ip_local_reserved_ports", "30000-32767,61000-65535",
            "odd key = with: #all !sorts\\of\tthings", " leading and trailing ",
            "empty", "",
            "non-ascii \u00e9\u4e2d", "\u00fc"));

    @Test
    void whatIsWrittenReadsBackExactly() {
        Path file = dir.resolve("state.properties");
        StateFiles.write(file, AWKWARD);
        assertThat(StateFiles.read(file)).isEqualTo(AWKWARD);
        assertThat(dir.resolve("state.properties.tmp")).doesNotExist();
    }

    @Test
    void propertiesReadsWhatIsWrittenTheSame() throws Exception {
        Path file = dir.resolve("state.properties");
        StateFiles.write(file, AWKWARD);
        Properties p = new Properties();
        try (var in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(in);
        }
        Map<String, String> loaded = new TreeMap<>();
        p.forEach((k, v) -> loaded.put((String) k, (String) v));
        assertThat(loaded).isEqualTo(AWKWARD);
    }

    @Test
    void aFileAnEarlierAgentWroteWithPropertiesStoreReadsTheSame() throws Exception {
        Path file = dir.resolve("old.properties");
        Properties p = new Properties();
        p.putAll(AWKWARD);
        try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            p.store(out, "a comment");
        }
        assertThat(StateFiles.read(file)).isEqualTo(AWKWARD);
    }

    @Test
    void aMissingFileIsEmpty() {
        assertThat(StateFiles.read(dir.resolve("none"))).isEmpty();
    }
}
