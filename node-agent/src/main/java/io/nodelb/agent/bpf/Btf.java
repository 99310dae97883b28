package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Read-only view of BPF Type Format data: the C types an object was compiled with. Used to
 * check the Java ABI layouts against the compiled programs and to find {@code .rodata}
 * variables by name.
 *
 * <p>A Btf parsed from a file owns its memory and must be closed; the one returned by
 * {@link BpfObject#btf()} belongs to the object and is valid while the object is open.
 */
public final class Btf implements AutoCloseable {

    /** BTF_KIND_*: the ordinal is the kind's number in the BTF encoding. */
    public enum Kind {
        UNKNOWN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT,
        FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64;

        static Kind of(int number) {
            Kind[] kinds = values();
            return number >= 0 && number < kinds.length ? kinds[number] : UNKNOWN;
        }
    }

    /**
     * A struct or union member.
     *
     * @param offset byte offset in the enclosing type (of the containing unit for a bitfield)
     * @param size byte size of the member's type, behind typedefs and modifiers
     * @param bitSize the bitfield width, or 0 for an ordinary member
     * @param kind the kind of the member's type behind typedefs and modifiers
     * @param typeName that type's name ("" for an anonymous type, e.g. an array)
     * @param declaredTypeName the name as written in C, e.g. "__be16" where typeName is
     *     "unsigned short"
     * @param typeId the id of the type behind typedefs and modifiers
     */
    public record Member(String name, long offset, long size, int bitSize, Kind kind,
            String typeName, String declaredTypeName, int typeId) {}

    /** A struct or union with its members in declaration order. */
    public record Composite(String name, Kind kind, long size, List<Member> members) {
        public Optional<Member> member(String memberName) {
            return members.stream().filter(m -> m.name().equals(memberName)).findFirst();
        }
    }

    /** A variable of a data section, e.g. a {@code const volatile} in ".rodata". */
    public record Variable(String name, long offset, long size) {}

    private static final int TYPE_HEADER_SIZE = 12; // struct btf_type: name_off, info, size/type
    private static final int ENTRY_SIZE = 12; // btf_member, btf_var_secinfo, btf_enum64
    private static final int ENUM_ENTRY_SIZE = 8; // btf_enum
    private static final int BTF_INT_SIGNED = 1;

    private final MemorySegment btf;
    private final String source;
    private final BpfObject owner; // null when this Btf owns its memory
    private boolean closed;

    private Btf(MemorySegment btf, String source, BpfObject owner) {
        this.btf = btf;
        this.source = source;
        this.owner = owner;
    }

    /** Parses the .BTF section of an ELF object file (e.g. a compiled *.bpf.o). */
    public static Btf parseElf(Path objectFile) {
        return parse(objectFile, true);
    }

    /** Parses raw BTF (e.g. /sys/kernel/btf/vmlinux) or an ELF object file. */
    public static Btf parse(Path file) {
        return parse(file, false);
    }

    private static Btf parse(Path file, boolean elfOnly) {
        try (LibBpf.LogCapture log = LibBpf.captureLog()) {
            return new Btf(LibBpf.btfParse(file, elfOnly), file.toString(), null);
        }
    }

    /**
     * The BTF the kernel holds under btfId, e.g. a pinned map's (see {@link BpfMap#info()}):
     * how the agent learns the layout of maps another build of it created.
     */
    public static Btf fromKernel(int btfId) {
        try (LibBpf.LogCapture log = LibBpf.captureLog()) {
            return new Btf(LibBpf.btfLoadFromKernel(btfId), "kernel BTF id " + btfId, null);
        }
    }

    /** The BTF a loaded or opened object holds; freed with the object. */
    static Btf ownedBy(BpfObject owner, MemorySegment btf) {
        return new Btf(btf, owner.name(), owner);
    }

    /** Where this BTF came from: a path or an object name. */
    public String source() {
        return source;
    }

    /** The id of the type called name of this kind (e.g. a typedef such as "__u32"). */
    public Optional<Integer> typeId(String name, Kind kind) {
        return find(name, kind);
    }

    /** The struct called name. */
    public Optional<Composite> struct(String name) {
        return find(name, Kind.STRUCT).map(this::composite);
    }

    /** The union called name. */
    public Optional<Composite> union(String name) {
        return find(name, Kind.UNION).map(this::composite);
    }

    /**
     * The type typeId stands for (behind typedefs and modifiers), described as a member called
     * name at offset 0: a map's key or value type, in the terms its fields are described in.
     */
    public Member typeOf(int typeId, String name) {
        return member(name, name, typeId, 0, 0);
    }

    /** The struct or union typeId stands for (behind typedefs and modifiers); empty for other kinds. */
    public Optional<Composite> compositeOf(int typeId) {
        checkOpen();
        int resolved = LibBpf.btfResolveType(btf, typeId, source + ": type " + typeId);
        Kind kind = kind(type(resolved, 0));
        return kind == Kind.STRUCT || kind == Kind.UNION ? Optional.of(composite(resolved)) : Optional.empty();
    }

    /** Whether typeId stands for a signed integer or enum (behind typedefs and modifiers). */
    public boolean isSigned(int typeId) {
        checkOpen();
        int resolved = LibBpf.btfResolveType(btf, typeId, source + ": type " + typeId);
        MemorySegment type = type(resolved, 0);
        return switch (kind(type)) {
            // struct btf_type is followed by a u32 whose bits 24-27 are the encoding; 1 = signed.
            case INT -> (LibBpf.btfTypeById(btf, resolved).reinterpret(TYPE_HEADER_SIZE + 4)
                    .get(JAVA_INT, TYPE_HEADER_SIZE) >>> 24 & BTF_INT_SIGNED) != 0;
            case ENUM, ENUM64 -> kindFlag(type);
            default -> false;
        };
    }

    /** The enumerators of the enum called name, in declaration order. */
    public Optional<Map<String, Long>> enumerators(String name) {
        Optional<Integer> id = find(name, Kind.ENUM).or(() -> find(name, Kind.ENUM64));
        return id.map(this::enumerators);
    }

    /** The names of every type of this kind (anonymous ones left out). */
    public List<String> names(Kind kind) {
        checkOpen();
        List<String> names = new ArrayList<>();
        int count = LibBpf.btfTypeCount(btf);
        for (int id = 1; id < count; id++) {
            MemorySegment type = type(id, 0);
            if (kind(type) == kind) {
                String name = name(type);
                if (!name.isEmpty()) {
                    names.add(name);
                }
            }
        }
        return names;
    }

    /**
     * The variables of a data section such as ".rodata". Their offsets are only right in
     * the BTF of an opened {@link BpfObject}: libbpf fills them in when it opens the object;
     * in a freshly compiled file they are all 0.
     */
    public List<Variable> sectionVariables(String section) {
        int id = find(section, Kind.DATASEC).orElseThrow(() -> new IllegalArgumentException(
                "no data section " + section + " in the BTF of " + source));
        MemorySegment type = type(id, -1);
        List<Variable> variables = new ArrayList<>();
        for (int i = 0; i < vlen(type); i++) {
            long entry = TYPE_HEADER_SIZE + (long) i * ENTRY_SIZE;
            MemorySegment variable = type(type.get(JAVA_INT, entry), 0);
            variables.add(new Variable(name(variable),
                    Integer.toUnsignedLong(type.get(JAVA_INT, entry + 4)),
                    Integer.toUnsignedLong(type.get(JAVA_INT, entry + 8))));
        }
        return variables;
    }

    @Override
    public void close() {
        if (owner == null && !closed) {
            LibBpf.btfFree(btf);
        }
        closed = true;
    }

    private Optional<Integer> find(String name, Kind kind) {
        checkOpen();
        int id = LibBpf.btfFindByNameKind(btf, name, kind.ordinal());
        if (id == -Errno.ENOENT) {
            return Optional.empty();
        }
        return Optional.of(LibBpf.check(id, "btf__find_by_name_kind", source + ": " + name));
    }

    private Composite composite(int id) {
        MemorySegment type = type(id, -1);
        String name = name(type);
        List<Member> members = new ArrayList<>();
        boolean bitfieldOffsets = kindFlag(type);
        for (int i = 0; i < vlen(type); i++) {
            long entry = TYPE_HEADER_SIZE + (long) i * ENTRY_SIZE;
            String memberName = LibBpf.btfNameByOffset(btf, type.get(JAVA_INT, entry));
            int memberType = type.get(JAVA_INT, entry + 4);
            int encodedOffset = type.get(JAVA_INT, entry + 8);
            // With the kind flag, the offset packs bitfield size (high 8) and bit offset (low 24).
            long bitOffset = bitfieldOffsets ? encodedOffset & 0xffffff : encodedOffset;
            int bitSize = bitfieldOffsets ? encodedOffset >>> 24 : 0;
            members.add(member(name + "." + memberName, memberName, memberType, bitOffset, bitSize));
        }
        return new Composite(name, kind(type), size(type), List.copyOf(members));
    }

    private Member member(String where, String name, int typeId, long bitOffset, int bitSize) {
        String declared = name(type(typeId, 0));
        int resolved = LibBpf.btfResolveType(btf, typeId, source + ": " + where);
        MemorySegment type = type(resolved, 0);
        return new Member(name, bitOffset / 8, LibBpf.btfResolveSize(btf, resolved, where),
                bitSize, kind(type), name(type), declared, resolved);
    }

    private Map<String, Long> enumerators(int id) {
        MemorySegment type = type(id, -1);
        boolean signed = kindFlag(type);
        boolean wide = kind(type) == Kind.ENUM64;
        Map<String, Long> values = new LinkedHashMap<>();
        for (int i = 0; i < vlen(type); i++) {
            long entry = TYPE_HEADER_SIZE + (long) i * (wide ? ENTRY_SIZE : ENUM_ENTRY_SIZE);
            String name = LibBpf.btfNameByOffset(btf, type.get(JAVA_INT, entry));
            int low = type.get(JAVA_INT, entry + 4);
            long value = wide
                    ? (long) type.get(JAVA_INT, entry + 8) << 32 | Integer.toUnsignedLong(low)
                    : signed ? low : Integer.toUnsignedLong(low);
            values.put(name, value);
        }
        return values;
    }

    /**
     * The btf_type of id, sized to its header plus trailing entries (entrySize -1: the
     * kind's own entry size; 0: header only).
     */
    private MemorySegment type(int id, int entrySize) {
        checkOpen();
        MemorySegment header = LibBpf.btfTypeById(btf, id);
        if (header.equals(MemorySegment.NULL)) {
            throw new BpfException("btf__type_by_id", source + ": type " + id, Errno.EINVAL, null);
        }
        header = header.reinterpret(TYPE_HEADER_SIZE);
        if (entrySize == 0) {
            return header;
        }
        int perEntry = kind(header) == Kind.ENUM ? ENUM_ENTRY_SIZE : ENTRY_SIZE;
        return header.reinterpret(TYPE_HEADER_SIZE + (long) vlen(header) * perEntry);
    }

    private String name(MemorySegment type) {
        String name = LibBpf.btfNameByOffset(btf, type.get(JAVA_INT, 0));
        return name == null ? "" : name;
    }

    private static Kind kind(MemorySegment type) {
        return Kind.of((type.get(JAVA_INT, 4) >>> 24) & 0x1f);
    }

    private static int vlen(MemorySegment type) {
        return type.get(JAVA_INT, 4) & 0xffff;
    }

    private static boolean kindFlag(MemorySegment type) {
        return type.get(JAVA_INT, 4) < 0;
    }

    private static long size(MemorySegment type) {
        return Integer.toUnsignedLong(type.get(JAVA_INT, 8));
    }

    private void checkOpen() {
        if (closed || (owner != null && owner.isClosed())) {
            throw new IllegalStateException("the BTF of " + source + " is closed");
        }
    }
}
