package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The mechanical ABI check: the Java layouts in {@link Abi} against the BTF clang wrote for
 * nodelb_abi.h (through src/test/bpf/abi_probe.bpf.c, which uses every type), and against
 * the header's text for what BTF does not carry (the list of types, the #defines).
 *
 * <p>Needs libbpf.so.1 but no privileges: BTF is only parsed, nothing is loaded.
 */
class AbiLayoutTest {
    private static final String HEADER = "io/nodelb/bpf/include/nodelb_abi.h";
    /** The production objects: checked too once they are on the class path. */
    private static final List<String> PRODUCTION_OBJECTS =
            List.of("io/nodelb/bpf/xdp_lb.bpf.o", "io/nodelb/bpf/tc_lb.bpf.o");

    @Test
    void javaLayoutsMatchTheCompiledHeader() {
        try (Btf btf = Btf.parseElf(SampleObjects.path(SampleObjects.ABI_PROBE))) {
            assertThat(AbiCheck.differences(btf, true))
                    .as("Abi vs the BTF of abi_probe.bpf.o")
                    .isEmpty();
        }
    }

    @Test
    void javaCoversEveryTypeAndDefineOfTheHeader() throws IOException {
        String header = header();

        assertThat(names(header, "(?:struct|union)")).as("structs and unions of " + HEADER)
                .isEqualTo(Abi.structs().stream().map(l -> l.name().orElseThrow())
                        .collect(Collectors.toCollection(TreeSet::new)));
        assertThat(names(header, "enum")).as("enums of " + HEADER)
                .isEqualTo(new TreeSet<>(Abi.ENUMS.keySet()));

        Map<String, Long> defines = new LinkedHashMap<>();
        Matcher define = Pattern.compile("(?m)^#define\\s+(NLB_\\w+)\\s+(\\d+)(?:ULL)?\\s*$").matcher(header);
        while (define.find()) {
            defines.put(define.group(1), Long.parseUnsignedLong(define.group(2))); // 64-bit multipliers: unsigned
        }
        assertThat(defines).as("#defines of " + HEADER).isEqualTo(Abi.DEFINES);
    }

    @Test
    void theCheckNamesTheStructAndFieldThatDiffer() {
        // nlb_listener_key with a misnamed union member, the port in host order, and proto
        // and family swapped.
        StructLayout wrongKey = MemoryLayout.structLayout(
                MemoryLayout.unionLayout(
                        ValueLayout.JAVA_INT.withName("v4"),
                        MemoryLayout.sequenceLayout(4, ValueLayout.JAVA_INT).withName("v6"),
                        MemoryLayout.sequenceLayout(16, ValueLayout.JAVA_BYTE).withName("octets"))
                        .withName("addr"),
                ValueLayout.JAVA_SHORT.withName("port"),
                ValueLayout.JAVA_BYTE.withName("family"),
                ValueLayout.JAVA_BYTE.withName("proto")).withName("nlb_listener_key");
        // nlb_route one field short.
        StructLayout shortRoute = MemoryLayout.structLayout(
                ValueLayout.JAVA_INT.withName("group")).withName("nlb_route");
        Map<String, Map<String, Long>> wrongEnum = Map.of("nlb_ct_state",
                Map.of("NLB_CT_SYN", 1L, "NLB_CT_ESTABLISHED", 3L, "NLB_CT_CLOSING", 3L,
                        "NLB_CT_UDP", 4L));

        try (Btf btf = Btf.parseElf(SampleObjects.path(SampleObjects.ABI_PROBE))) {
            List<String> problems = AbiCheck.differences(btf,
                    List.<GroupLayout>of(wrongKey, shortRoute), wrongEnum, true);

            assertThat(problems).containsExactlyInAnyOrder(
                    "struct nlb_listener_key.addr (union nlb_addr).octets: C has 'bytes' in this"
                            + " place (member 3)",
                    "struct nlb_listener_key.port: is __be16 in C but host order in Java",
                    "struct nlb_listener_key.family: C has 'proto' in this place (member 3)",
                    "struct nlb_listener_key.proto: C has 'family' in this place (member 4)",
                    "struct nlb_route: size is 4 in Java, 8 in C",
                    "struct nlb_route.pad: in C, not in Java",
                    "enum nlb_ct_state.NLB_CT_ESTABLISHED: is 3 in Java, 2 in C");
        }
    }

    @Test
    void productionObjectsOnTheClassPathMatchToo(@TempDir Path temp) throws IOException {
        List<String> checked = new ArrayList<>();
        for (String resource : PRODUCTION_OBJECTS) {
            try (InputStream in = getClass().getClassLoader().getResourceAsStream(resource)) {
                if (in == null) {
                    continue; // not built yet on this branch
                }
                Path copy = temp.resolve(Path.of(resource).getFileName());
                Files.write(copy, in.readAllBytes());
                try (Btf btf = Btf.parseElf(copy)) {
                    assertThat(AbiCheck.differences(btf, false)).as("Abi vs " + resource).isEmpty();
                }
                checked.add(resource);
            }
        }
        System.out.println("ABI checked against production objects: " + checked);
    }

    private static TreeSet<String> names(String header, String keyword) {
        TreeSet<String> names = new TreeSet<>();
        Matcher m = Pattern.compile("(?m)^" + keyword + "\\s+(nlb_\\w+)\\s*\\{").matcher(header);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    private static String header() throws IOException {
        try (InputStream in = AbiLayoutTest.class.getClassLoader().getResourceAsStream(HEADER)) {
            assertThat(in).as(HEADER + " on the class path (shipped by nodelb-bpf)").isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
