package io.nodelb.agent.events;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.logging.log4j.layout.template.json.util.JsonReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AccessLogTest {

    /** The CLF grammar of docs/access-log.md, kept equal to it by {@link #theDocumentedGrammarIsThisOne}. */
    static final Pattern CLF = Pattern.compile(
            "^(\\S+) (\\S+) (\\S+) \\[(\\d{2}/[A-Z][a-z]{2}/\\d{4}:\\d{2}:\\d{2}:\\d{2}\\.\\d{3} [+-]\\d{4})\\]"
            + " \"(NEW_FLOW|FLOW_END|DROP) (TCP|UDP) (\\S+)\" (\\S+) (\\S+) (dnat|fullnat) (\\S+) (\\d+|-)"
            + " (\\d+) (\\d+) (\\d+) (\\d+)$");

    @TempDir
    Path dir;

    private static List<Abi.Event> sample(int n) {
        List<Abi.Event> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(switch (i % 3) {
                case 0 -> Events.newFlow(40000 + i % 20000);
                case 1 -> Events.end(40000 + i % 20000, Abi.END_FIN, 1_500_000_000L);
                default -> Events.drop(40000 + i % 20000);
            });
        }
        return out;
    }

    private List<String> writeAll(AccessLog.Settings settings, int n) throws IOException {
        try (AccessLog log = AccessLog.open(settings)) {
            List<Abi.Event> events = sample(n);
            for (int i = 0; i < events.size(); i++) {
                log.write(Events.named(events.get(i)), i % 50 == 49 || i == events.size() - 1);
            }
        }
        List<String> lines = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                lines.addAll(Files.readAllLines(f));
            }
        }
        return lines;
    }

    @Test
    void everyJsonLineParsesWithEveryDocumentedField() throws IOException {
        List<String> lines = writeAll(new AccessLog.Settings(dir.resolve("access.log").toString(),
                AccessLog.Format.JSON, 10_000_000, 3), 300);

        assertThat(lines).hasSize(300);
        for (String line : lines) {
            @SuppressWarnings("unchecked")
            Map<String, Object> fields = (Map<String, Object>) JsonReader.read(line);
            assertThat(AccessLog.JSON_FIELDS).containsAll(fields.keySet());
            assertThat(fields).containsKeys("time", "type", "node", "protocol", "client", "vip", "nat",
                    "packets_to_backend", "bytes_to_backend", "packets_to_client", "bytes_to_client");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> end = (Map<String, Object>) JsonReader.read(lines.get(1));
        assertThat(end).containsEntry("type", "FLOW_END").containsEntry("time", "2026-12-06T01:02:03.456Z")
                .containsEntry("client", "10.1.0.1:40001").containsEntry("vip", "10.0.0.100:80")
                .containsEntry("backend", "10.2.0.1:8080").containsEntry("backend_name", "pod/default/web-0")
                .containsEntry("listener", "default/web/http").containsEntry("node", "node-a")
                .containsEntry("nat", "fullnat").containsEntry("protocol", "TCP").containsEntry("end_reason", "fin")
                .doesNotContainKey("drop_reason");
        assertThat(((Number) end.get("duration_seconds")).doubleValue()).isEqualTo(1.5);
        assertThat(((Number) end.get("bytes_to_client")).longValue()).isEqualTo(56_789);
        assertThat(((Number) end.get("packets_to_backend")).longValue()).isEqualTo(12);
        @SuppressWarnings("unchecked")
        Map<String, Object> drop = (Map<String, Object>) JsonReader.read(lines.get(2));
        assertThat(drop).containsEntry("type", "DROP").containsEntry("drop_reason", "drop_no_backend")
                .containsEntry("client", "[fd00::1]:40002").containsEntry("protocol", "UDP")
                .doesNotContainKeys("backend", "backend_name", "listener", "duration_seconds", "end_reason");
    }

    @Test
    void everyClfLineMatchesTheGrammar() throws IOException {
        List<String> lines = writeAll(new AccessLog.Settings(dir.resolve("access.log").toString(),
                AccessLog.Format.CLF, 10_000_000, 3), 300);

        assertThat(lines).hasSize(300).allMatch(l -> CLF.matcher(l).matches(), "matches the CLF grammar");
        assertThat(lines.get(1)).isEqualTo("10.1.0.1:40001 node-a default/web/http [06/Dec/2026:01:02:03.456 +0000]"
                + " \"FLOW_END TCP 10.0.0.100:80\" 10.2.0.1:8080 pod/default/web-0 fullnat fin 1500 12 1234 10 56789");
        assertThat(lines.get(2)).isEqualTo("[fd00::1]:40002 node-a - [06/Dec/2026:01:02:03.456 +0000]"
                + " \"DROP UDP [fd00::100]:53\" - - dnat drop_no_backend - 1 80 0 0");
    }

    @Test
    void filesRotateAtTheSizeAndNoMoreThanTheMaximumAreKept() throws IOException {
        long maxSize = 8 * 1024;
        int maxFiles = 4;
        writeAll(new AccessLog.Settings(dir.resolve("access.log").toString(), AccessLog.Format.JSON, maxSize,
                maxFiles), 2_000); // ~ 700 KB of lines: many rotations

        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.sorted().toList();
        }
        assertThat(files).extracting(p -> p.getFileName().toString())
                .containsExactly("access.log", "access.log.1", "access.log.2", "access.log.3");
        for (Path f : files) {
            // Rotation is checked before each line: a file ends at most one line past the size.
            assertThat(Files.size(f)).isLessThanOrEqualTo(maxSize + 600);
            for (String line : Files.readAllLines(f)) {
                assertThat(JsonReader.read(line)).isInstanceOf(Map.class);
            }
        }
        assertThat(Files.size(files.get(1))).isGreaterThan(maxSize / 2);
    }

    @Test
    void theDocumentedGrammarIsThisOne() throws IOException {
        String doc = Files.readString(Path.of("../docs/access-log.md"));
        assertThat(doc).contains(CLF.pattern());
        AccessLog.JSON_FIELDS.forEach(field -> assertThat(doc).contains("`" + field + "`"));
    }
}
