package io.nodelb.agent.dataplane;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Btf;
import io.nodelb.agent.bpf.LayoutTranslation;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * How a converter completes what the rule by name cannot carry, on crafted layouts
 * (src/test/bpf/layouts.bpf.o): here a rename (old_name became new_name) and entries that no
 * longer make sense (gone set), dropped with a reason. Parsing only: no privileges needed.
 */
class LayoutMigrationTest {

    /** The converter a layout change with a rename would register in LayoutMigration.CONVERTERS. */
    static final class Rename implements LayoutMigration.Converter {
        @Override
        public Set<String> valueFields() {
            return Set.of("new_name");
        }

        @Override
        public String convert(LayoutTranslation key, LayoutTranslation value, MemorySegment oldKey,
                              MemorySegment oldValue, MemorySegment newKey, MemorySegment newValue) {
            if (value.readFrom(oldValue, "gone") != 0) {
                return "gone is set";
            }
            value.writeTo(newValue, "new_name", value.readFrom(oldValue, "old_name"));
            return null;
        }
    }

    @Test
    void aConverterWritesTheFieldsItClaimsAndMayDropAnEntryWithAReason() throws Exception {
        try (Btf btf = Btf.parseElf(Path.of(getClass().getClassLoader().getResource("bpf/layouts.bpf.o").toURI()));
             Arena arena = Arena.ofConfined()) {
            Rename rename = new Rename();
            int u32 = btf.typeId("__u32", Btf.Kind.TYPEDEF).orElseThrow();
            LayoutTranslation key = LayoutTranslation.between(btf, u32, btf, u32, "m key", Set.of());
            LayoutTranslation value = LayoutTranslation.between(btf, btf.typeId("lt_entry_v1", Btf.Kind.STRUCT)
                    .orElseThrow(), btf, btf.typeId("lt_entry_v2", Btf.Kind.STRUCT).orElseThrow(), "m value",
                    rename.valueFields());
            LayoutMigration.MapPlan plan = new LayoutMigration.MapPlan("m", null, key, value, rename);
            assertThat(value.zeroed()).as("claimed, so not zeroed").containsExactly("m value.fresh",
                    "m value.inner.c");
            assertThat(plan.isIdentity()).isFalse();

            MemorySegment oldKey = arena.allocate(ValueLayout.JAVA_INT);
            oldKey.set(ValueLayout.JAVA_INT, 0, 7);
            MemorySegment oldValue = arena.allocate(value.fromSize());
            LayoutTranslation.Field oldName = value.fromField("old_name").orElseThrow();
            oldValue.set(ValueLayout.JAVA_INT, oldName.offset(), 1234);
            MemorySegment newKey = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment newValue = arena.allocate(value.toSize());

            assertThat(plan.translate(oldKey, oldValue, newKey, newValue)).isNull();
            assertThat(newKey.get(ValueLayout.JAVA_INT, 0)).isEqualTo(7);
            assertThat(value.readTo(newValue, "new_name")).isEqualTo(1234);

            oldValue.set(ValueLayout.JAVA_INT, value.fromField("gone").orElseThrow().offset(), 1);
            assertThat(plan.translate(oldKey, oldValue, newKey, newValue)).isEqualTo("gone is set");
        }
    }
}
