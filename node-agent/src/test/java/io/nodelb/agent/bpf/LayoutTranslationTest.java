package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HexFormat;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The rule by name of a layout migration, on crafted layouts (src/test/bpf/layouts.bpf.c):
 * which fields are copied, widened, zeroed, dropped or refused, and the bytes that come out.
 * Parsing only: no privileges needed.
 */
class LayoutTranslationTest {

    private static Btf btf;

    @BeforeAll
    static void parse() {
        btf = Btf.parseElf(SampleObjects.path("layouts"));
    }

    @AfterAll
    static void free() {
        btf.close();
    }

    @Test
    void fieldsMoveByNameWhereverTheyAreAndNewOnesStartAtZero() {
        LayoutTranslation t = between("lt_entry_v1", "lt_entry_v2", Set.of());

        assertThat(t.problems()).as("pad shrank from 4 to 2 bytes: padding is zero either way").isEmpty();
        assertThat(t.isIdentity()).isFalse();
        assertThat(t.dropped()).containsExactly("entry.gone", "entry.old_name");
        assertThat(t.zeroed()).containsExactly("entry.new_name", "entry.fresh", "entry.inner.c");
        assertThat(t.widened()).containsExactly("entry.id (2 to 4 bytes)");
        assertThat(t.fromSize()).isEqualTo(48);
        assertThat(t.toSize()).isEqualTo(56);

        try (Arena arena = Arena.ofConfined()) {
            MemorySegment from = arena.allocate(48);
            put(t, from, "stamp", 0x0102030405060708L);
            put(t, from, "id", 0xbeefL);
            put(t, from, "port", 8443);
            put(t, from, "gone", 0xdeadL);
            put(t, from, "inner.a", 0x11223344L);
            put(t, from, "inner.b", 0x5566L);
            put(t, from, "old_name", 77);
            LayoutTranslation.Field addr = t.fromField("addr").orElseThrow();
            byte[] address = HexFormat.of().parseHex("20010db8000000000000000000000010");
            MemorySegment.copy(address, 0, from, ValueLayout.JAVA_BYTE, addr.offset(), 16);
            MemorySegment to = arena.allocate(64).fill((byte) 0xff); // stale bytes must not survive

            t.apply(from, to);

            assertThat(t.readTo(to, "stamp")).isEqualTo(0x0102030405060708L);
            assertThat(t.readTo(to, "id")).isEqualTo(0xbeefL);
            assertThat(t.readTo(to, "port")).isEqualTo(8443);
            assertThat(to.get(ValueLayout.JAVA_BYTE, t.toField("port").orElseThrow().offset()))
                    .as("__be16 stays in network order").isEqualTo((byte) (8443 >> 8));
            assertThat(t.readTo(to, "inner.a")).isEqualTo(0x11223344L);
            assertThat(t.readTo(to, "inner.b")).isEqualTo(0x5566L);
            assertThat(t.readTo(to, "inner.c")).isZero();
            assertThat(t.readTo(to, "fresh")).isZero();
            assertThat(t.readTo(to, "new_name")).isZero();
            assertThat(t.readTo(to, "pad")).isZero();
            assertThat(to.asSlice(t.toField("addr").orElseThrow().offset(), 16).toArray(ValueLayout.JAVA_BYTE))
                    .isEqualTo(address);
            assertThat(to.get(ValueLayout.JAVA_BYTE, 56)).as("past the new size: untouched").isEqualTo((byte) 0xff);
        }
    }

    @Test
    void aClaimedFieldIsLeftToTheConverterThatClaimsIt() {
        LayoutTranslation t = between("lt_entry_v1", "lt_entry_v2", Set.of("new_name"));

        assertThat(t.zeroed()).doesNotContain("entry.new_name");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment from = arena.allocate(48);
            put(t, from, "old_name", 77);
            MemorySegment to = arena.allocate(56);
            t.apply(from, to);
            // What a converter for the rename old_name -> new_name does after the copy by name:
            t.writeTo(to, "new_name", t.readFrom(from, "old_name"));

            assertThat(t.readTo(to, "new_name")).isEqualTo(77);
        }
    }

    @Test
    void anUnchangedLayoutIsCopiedByteForByte() {
        LayoutTranslation t = between("lt_entry_v1", "lt_entry_v1", Set.of());

        assertThat(t.isIdentity()).isTrue();
        assertThat(t.dropped()).isEmpty();
        assertThat(t.zeroed()).isEmpty();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment from = arena.allocate(48);
            for (int i = 0; i < 48; i++) {
                from.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + 1));
            }
            MemorySegment to = arena.allocate(48);
            t.apply(from, to);
            assertThat(to.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(from.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void aKeyOrValueThatIsNotAStructIsOneField() {
        int u32 = btf.typeId("__u32", Btf.Kind.TYPEDEF).orElseThrow();
        int u64 = btf.typeId("__u64", Btf.Kind.TYPEDEF).orElseThrow();

        assertThat(LayoutTranslation.between(btf, u32, btf, u32, "slot", Set.of()).isIdentity()).isTrue();
        LayoutTranslation wider = LayoutTranslation.between(btf, u32, btf, u64, "slot", Set.of());
        assertThat(wider.widened()).containsExactly("slot (4 to 8 bytes)");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment from = arena.allocate(ValueLayout.JAVA_INT);
            from.set(ValueLayout.JAVA_INT, 0, 0xfffffffe);
            MemorySegment to = arena.allocate(ValueLayout.JAVA_LONG);
            wider.apply(from, to);
            assertThat(to.get(ValueLayout.JAVA_LONG, 0)).as("zero-extended").isEqualTo(0xfffffffeL);
        }
        assertThat(LayoutTranslation.between(btf, u64, btf, u32, "slot", Set.of()).problems())
                .containsExactly("slot: narrowed from 8 to 4 bytes");
    }

    @Test
    void whatNamesAloneCannotCarryIsRefusedFieldByField() {
        LayoutTranslation t = between("lt_bad_v1", "lt_bad_v2", Set.of());

        assertThat(t.problems()).containsExactly(
                "entry.narrowed: narrowed from 4 to 2 bytes",
                "entry.order: was __u16, is __be16 (another byte order)",
                "entry.sign: widened from 1 to 2 bytes, but signed (only unsigned host-order numbers widen)",
                "entry.bytes: array of 4 bytes is now 8 bytes",
                "entry.kind: was int unsigned int, is array",
                "entry.bits: a bitfield (the ABI has none)",
                "entry.more: a bitfield (the ABI has none)");
        assertThat(t.dropped()).containsExactly("entry.pad");
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> t.apply(arena.allocate(20), arena.allocate(24)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("cannot translate entry: entry.narrowed: narrowed from 4 to 2 bytes");
        }

        assertThat(between("lt_bad_v1", "lt_bad_v2", Set.of("narrowed", "order")).problems())
                .as("claimed by a converter").doesNotContain(
                        "entry.narrowed: narrowed from 4 to 2 bytes",
                        "entry.order: was __u16, is __be16 (another byte order)")
                .hasSize(5);
    }

    private static LayoutTranslation between(String from, String to, Set<String> claimed) {
        return LayoutTranslation.between(btf, btf.typeId(from, Btf.Kind.STRUCT).orElseThrow(),
                btf, btf.typeId(to, Btf.Kind.STRUCT).orElseThrow(), "entry", claimed);
    }

    /** Writes a number field of an old entry, in the field's byte order. */
    private static void put(LayoutTranslation t, MemorySegment from, String path, long value) {
        LayoutTranslation.Field f = t.fromField(path).orElseThrow();
        for (int i = 0; i < f.size(); i++) {
            int shift = 8 * (f.bigEndian() ? (int) f.size() - 1 - i : i);
            from.set(ValueLayout.JAVA_BYTE, f.offset() + i, (byte) (value >>> shift));
        }
    }
}
