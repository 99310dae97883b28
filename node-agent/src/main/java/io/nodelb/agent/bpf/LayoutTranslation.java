package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * How the bytes of one BTF type become the bytes of another, field by field by name: the way
 * map entries move from one data-plane layout to the next (bpf/README.md, "Layout versions").
 * Built once per map key or value from the two types, then applied to every entry.
 *
 * <p>The rule, per field (into nested structs by name; a key or value that is not a struct is
 * one field, path ""):
 *
 * <ul>
 *   <li>in both, the same kind and size, in the same byte order: copied;
 *   <li>padding (the header pads by hand with fields called {@code pad}, {@code pad2}, ...: always
 *       zero) that changed size: zero;
 *   <li>in both, unsigned host-order integers, the new one wider: copied and zero-extended
 *       ("widened");
 *   <li>only in the new type: zero ("zeroed");
 *   <li>only in the old type: dropped;
 *   <li>anything else (narrower, signed and wider, another byte order, another kind, a union or
 *       array of another size, a bitfield, an anonymous member): a problem. A translation with
 *       problems must not be applied, unless whoever applies it writes those fields itself and
 *       says so with {@code claimed} (a converter: renames and meaning changes are invisible to
 *       names and sizes, so they need one too).
 * </ul>
 */
public final class LayoutTranslation {

    /** A leaf field: a number, an array or a union, at offset of the whole key or value. */
    public record Field(String path, long offset, long size, boolean bigEndian) {}

    /** One copy: size bytes from fromOffset; a wider target is zero-extended. */
    private record Copy(long fromOffset, long fromSize, long toOffset, long toSize) {}

    private final String what;
    private final long fromSize;
    private final long toSize;
    private final List<Copy> copies;
    private final Map<String, Field> fromFields;
    private final Map<String, Field> toFields;
    private final List<String> problems;
    private final List<String> dropped;
    private final List<String> zeroed;
    private final List<String> widened;
    private final boolean identity;

    private LayoutTranslation(String what, long fromSize, long toSize, Planner p) {
        this.what = what;
        this.fromSize = fromSize;
        this.toSize = toSize;
        this.copies = merge(p.copies);
        this.fromFields = Collections.unmodifiableMap(p.fromFields);
        this.toFields = Collections.unmodifiableMap(p.toFields);
        this.problems = List.copyOf(p.problems);
        this.dropped = List.copyOf(p.dropped);
        this.zeroed = List.copyOf(p.zeroed);
        this.widened = List.copyOf(p.widened);
        this.identity = fromSize == toSize && problems.isEmpty() && dropped.isEmpty() && zeroed.isEmpty()
                && widened.isEmpty() && p.claimedSeen == 0 && copies.size() == 1
                && copies.getFirst().equals(new Copy(0, fromSize, 0, toSize));
    }

    /**
     * The translation from type fromTypeId of from to type toTypeId of to.
     *
     * @param what names the key or value in messages, e.g. "nlb_conntrack value"
     * @param claimed field paths of the new type that the caller writes itself: left alone here
     */
    public static LayoutTranslation between(Btf from, int fromTypeId, Btf to, int toTypeId, String what,
            Set<String> claimed) {
        Btf.Member f = from.typeOf(fromTypeId, "");
        Btf.Member t = to.typeOf(toTypeId, "");
        Planner planner = new Planner(from, to, what, claimed);
        planner.field("", f, 0, t, 0);
        return new LayoutTranslation(what, f.size(), t.size(), planner);
    }

    public String what() {
        return what;
    }

    public long fromSize() {
        return fromSize;
    }

    public long toSize() {
        return toSize;
    }

    /** Whether the two types are the same bytes: an entry is copied as it is. */
    public boolean isIdentity() {
        return identity;
    }

    /** Why the rule by name cannot carry this type (each naming the field); empty when it can. */
    public List<String> problems() {
        return problems;
    }

    /** Fields only the old type has ("what.path"). */
    public List<String> dropped() {
        return dropped;
    }

    /** Fields only the new type has: zero after the translation. */
    public List<String> zeroed() {
        return zeroed;
    }

    /** Fields the new type holds in more bytes. */
    public List<String> widened() {
        return widened;
    }

    /** A leaf field of the old type by path, e.g. "last_seen_ns". */
    public Optional<Field> fromField(String path) {
        return Optional.ofNullable(fromFields.get(path));
    }

    /** A leaf field of the new type by path. */
    public Optional<Field> toField(String path) {
        return Optional.ofNullable(toFields.get(path));
    }

    /**
     * Writes the translation of from (fromSize bytes) into the first toSize bytes of to: every
     * byte of them, zero where nothing is copied.
     */
    public void apply(MemorySegment from, MemorySegment to) {
        if (!problems.isEmpty()) {
            throw new IllegalStateException("cannot translate " + what + ": " + String.join("; ", problems));
        }
        if (from.byteSize() < fromSize || to.byteSize() < toSize) {
            throw new IllegalArgumentException(what + ": translating " + fromSize + " bytes into " + toSize
                    + " needs segments that large, not " + from.byteSize() + " and " + to.byteSize());
        }
        if (identity) {
            MemorySegment.copy(from, 0, to, 0, toSize);
            return;
        }
        to.asSlice(0, toSize).fill((byte) 0);
        boolean littleEndian = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
        for (Copy c : copies) {
            // Widening: the value's low bytes sit first on a little-endian host, last on a big-endian one.
            long at = c.toOffset + (littleEndian ? 0 : c.toSize - c.fromSize);
            MemorySegment.copy(from, c.fromOffset, to, at, c.fromSize);
        }
    }

    /** Reads a number field (1, 2, 4 or 8 bytes) of an old entry, unsigned, in its byte order. */
    public long readFrom(MemorySegment from, String path) {
        return read(from, field(fromFields, path));
    }

    /** Reads a number field of a new entry. */
    public long readTo(MemorySegment to, String path) {
        return read(to, field(toFields, path));
    }

    /** Writes a number field of a new entry (what a converter does for the fields it claims). */
    public void writeTo(MemorySegment to, String path, long value) {
        Field f = field(toFields, path);
        for (int i = 0; i < f.size; i++) {
            int shift = 8 * (f.bigEndian ? (int) f.size - 1 - i : i);
            to.set(JAVA_BYTE, f.offset + i, (byte) (value >>> shift));
        }
    }

    @Override
    public String toString() {
        return "LayoutTranslation[" + what + (identity ? ", identity" : ", " + copies.size() + " copies")
                + (problems.isEmpty() ? "" : ", problems " + problems) + "]";
    }

    private Field field(Map<String, Field> fields, String path) {
        Field f = fields.get(path);
        if (f == null || f.size > 8) {
            throw new IllegalArgumentException(what + " has no number field " + (path.isEmpty() ? "(the whole)" : path));
        }
        return f;
    }

    private static long read(MemorySegment segment, Field f) {
        long value = 0;
        for (int i = 0; i < f.size; i++) {
            int shift = 8 * (f.bigEndian ? (int) f.size - 1 - i : i);
            value |= Byte.toUnsignedLong(segment.get(JAVA_BYTE, f.offset + i)) << shift;
        }
        return value;
    }

    /** Joins copies that continue each other in both types (the common case: unchanged runs of fields). */
    private static List<Copy> merge(List<Copy> copies) {
        List<Copy> sorted = new ArrayList<>(copies);
        sorted.sort((a, b) -> Long.compare(a.fromOffset, b.fromOffset));
        List<Copy> merged = new ArrayList<>();
        for (Copy c : sorted) {
            Copy last = merged.isEmpty() ? null : merged.getLast();
            if (last != null && last.fromSize == last.toSize && c.fromSize == c.toSize
                    && last.fromOffset + last.fromSize == c.fromOffset && last.toOffset + last.toSize == c.toOffset) {
                merged.set(merged.size() - 1,
                        new Copy(last.fromOffset, last.fromSize + c.fromSize, last.toOffset, last.toSize + c.toSize));
            } else {
                merged.add(c);
            }
        }
        return List.copyOf(merged);
    }

    /** Walks both types by name and collects the copies and the notes. */
    private static final class Planner {
        final Btf from;
        final Btf to;
        final String what;
        final Set<String> claimed;
        final List<Copy> copies = new ArrayList<>();
        final Map<String, Field> fromFields = new LinkedHashMap<>();
        final Map<String, Field> toFields = new LinkedHashMap<>();
        final List<String> problems = new ArrayList<>();
        final List<String> dropped = new ArrayList<>();
        final List<String> zeroed = new ArrayList<>();
        final List<String> widened = new ArrayList<>();
        int claimedSeen;

        Planner(Btf from, Btf to, String what, Set<String> claimed) {
            this.from = from;
            this.to = to;
            this.what = what;
            this.claimed = claimed;
        }

        String name(String path) {
            return path.isEmpty() ? what : what + "." + path;
        }

        void field(String path, Btf.Member f, long fromBase, Btf.Member t, long toBase) {
            long fromOffset = fromBase + f.offset();
            long toOffset = toBase + t.offset();
            if (claimed.contains(path)) {
                claimedSeen++;
                leaves(from, path, f, fromOffset, fromFields);
                leaves(to, path, t, toOffset, toFields);
                return; // the converter writes it
            }
            if (f.bitSize() != 0 || t.bitSize() != 0) {
                problems.add(name(path) + ": a bitfield (the ABI has none)");
                return;
            }
            if (f.kind() == Btf.Kind.STRUCT && t.kind() == Btf.Kind.STRUCT) {
                struct(path, f, fromOffset, t, toOffset);
                return;
            }
            if (isPadding(path) && f.size() != t.size()) {
                leaves(to, path, t, toOffset, toFields);
                return; // zero before and after: nothing to carry
            }
            boolean fNumber = isNumber(f.kind());
            boolean tNumber = isNumber(t.kind());
            if (fNumber != tNumber || (!fNumber && f.kind() != t.kind())) {
                problems.add(name(path) + ": was " + describe(f) + ", is " + describe(t));
                return;
            }
            leaves(from, path, f, fromOffset, fromFields);
            leaves(to, path, t, toOffset, toFields);
            if (!fNumber) { // an array or a union: its bytes, when it keeps its size
                if (f.size() != t.size()) {
                    problems.add(name(path) + ": " + describe(f) + " of " + f.size() + " bytes is now "
                            + t.size() + " bytes");
                } else {
                    copies.add(new Copy(fromOffset, f.size(), toOffset, t.size()));
                }
                return;
            }
            boolean fBig = bigEndian(f);
            boolean tBig = bigEndian(t);
            if (fBig != tBig) {
                problems.add(name(path) + ": was " + f.declaredTypeName() + ", is " + t.declaredTypeName()
                        + " (another byte order)");
            } else if (f.size() == t.size()) {
                copies.add(new Copy(fromOffset, f.size(), toOffset, t.size()));
            } else if (f.size() > t.size()) {
                problems.add(name(path) + ": narrowed from " + f.size() + " to " + t.size() + " bytes");
            } else if (fBig || from.isSigned(f.typeId()) || to.isSigned(t.typeId())) {
                problems.add(name(path) + ": widened from " + f.size() + " to " + t.size()
                        + " bytes, but " + (fBig ? "big-endian" : "signed") + " (only unsigned host-order numbers widen)");
            } else {
                copies.add(new Copy(fromOffset, f.size(), toOffset, t.size()));
                widened.add(name(path) + " (" + f.size() + " to " + t.size() + " bytes)");
            }
        }

        void struct(String path, Btf.Member f, long fromOffset, Btf.Member t, long toOffset) {
            Btf.Composite fs = from.compositeOf(f.typeId()).orElseThrow();
            Btf.Composite ts = to.compositeOf(t.typeId()).orElseThrow();
            String prefix = path.isEmpty() ? "" : path + ".";
            for (Btf.Member tm : ts.members()) {
                if (tm.name().isEmpty()) {
                    problems.add(name(path) + ": an anonymous member (name its fields' holder)");
                    continue;
                }
                Optional<Btf.Member> fm = fs.member(tm.name());
                if (fm.isPresent()) {
                    field(prefix + tm.name(), fm.get(), fromOffset, tm, toOffset);
                } else if (claimed.contains(prefix + tm.name())) {
                    claimedSeen++;
                    leaves(to, prefix + tm.name(), tm, toOffset + tm.offset(), toFields);
                } else {
                    leaves(to, prefix + tm.name(), tm, toOffset + tm.offset(), toFields);
                    zeroed.add(name(prefix + tm.name()));
                }
            }
            for (Btf.Member fm : fs.members()) {
                if (fm.name().isEmpty()) {
                    problems.add(name(path) + ": an anonymous member in the old layout");
                } else if (ts.member(fm.name()).isEmpty()) {
                    leaves(from, prefix + fm.name(), fm, fromOffset + fm.offset(), fromFields);
                    dropped.add(name(prefix + fm.name()));
                }
            }
        }

        /** Records the leaf fields under a member (for readFrom/readTo and converters). */
        void leaves(Btf btf, String path, Btf.Member m, long offset, Map<String, Field> into) {
            if (m.kind() == Btf.Kind.STRUCT) {
                String prefix = path.isEmpty() ? "" : path + ".";
                for (Btf.Member inner : btf.compositeOf(m.typeId()).orElseThrow().members()) {
                    leaves(btf, prefix + inner.name(), inner, offset + inner.offset(), into);
                }
            } else {
                into.put(path, new Field(path, offset, m.size(), isNumber(m.kind()) && bigEndian(m)));
            }
        }

        static boolean isPadding(String path) {
            return path.substring(path.lastIndexOf('.') + 1).matches("pad\\d*");
        }

        static boolean isNumber(Btf.Kind kind) {
            return kind == Btf.Kind.INT || kind == Btf.Kind.ENUM || kind == Btf.Kind.ENUM64;
        }

        /** The ABI's byte-order convention: __be16/__be32/__be64 are network order, everything else host order. */
        static boolean bigEndian(Btf.Member m) {
            return m.declaredTypeName().startsWith("__be");
        }

        static String describe(Btf.Member m) {
            return m.kind().name().toLowerCase() + (m.typeName().isEmpty() ? "" : " " + m.typeName());
        }
    }
}
