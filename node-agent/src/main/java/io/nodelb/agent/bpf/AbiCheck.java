package io.nodelb.agent.bpf;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.SequenceLayout;
import java.lang.foreign.UnionLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Compares the Java side of the ABI ({@link Abi}) with the BTF of compiled BPF code: every
 * struct's name, size and members (name, offset, size, kind, byte order of {@code __be}
 * fields), and every enum's enumerators. The agent can run it on the objects it loads; the
 * build runs it on a probe object that uses every type of the header.
 */
public final class AbiCheck {
    private AbiCheck() {}

    /**
     * The differences, one readable line each naming the struct and field; empty when the
     * two sides agree.
     *
     * @param requireAll true: every struct and enum of {@link Abi} must be in the BTF (a
     *     probe object); false: check only those the BTF has (a real program uses a subset)
     */
    public static List<String> differences(Btf btf, boolean requireAll) {
        return differences(btf, Abi.structs(), Abi.ENUMS, requireAll);
    }

    /** The same check for any layouts and enums (the tests feed it wrong ones). */
    static List<String> differences(Btf btf, List<GroupLayout> structs,
            Map<String, Map<String, Long>> enums, boolean requireAll) {
        List<String> problems = new ArrayList<>();
        for (GroupLayout layout : structs) {
            String name = layout.name().orElseThrow();
            Optional<Btf.Composite> compiled = layout instanceof UnionLayout
                    ? btf.union(name)
                    : btf.struct(name);
            if (compiled.isEmpty()) {
                if (requireAll) {
                    problems.add(kindName(layout) + " " + name + ": not in the BTF of " + btf.source());
                }
                continue;
            }
            compareGroup(btf, kindName(layout) + " " + name, layout, compiled.get(), problems);
        }
        for (Map.Entry<String, Map<String, Long>> entry : enums.entrySet()) {
            Optional<Map<String, Long>> compiled = btf.enumerators(entry.getKey());
            if (compiled.isEmpty()) {
                if (requireAll) {
                    problems.add("enum " + entry.getKey() + ": not in the BTF of " + btf.source());
                }
                continue;
            }
            compareEnum("enum " + entry.getKey(), entry.getValue(), compiled.get(), problems);
        }
        return problems;
    }

    private static void compareGroup(Btf btf, String where, GroupLayout java, Btf.Composite c,
            List<String> problems) {
        Btf.Kind expectedKind = java instanceof UnionLayout ? Btf.Kind.UNION : Btf.Kind.STRUCT;
        if (c.kind() != expectedKind) {
            problems.add(where + ": is a " + c.kind() + " in C");
            return;
        }
        if (java.byteSize() != c.size()) {
            problems.add(where + ": size is " + java.byteSize() + " in Java, " + c.size() + " in C");
        }
        List<MemoryLayout> members = java.memberLayouts();
        long offset = 0;
        int index = 0;
        for (MemoryLayout member : members) {
            long javaOffset = java instanceof UnionLayout ? 0 : offset;
            offset += member.byteSize();
            if (member instanceof PaddingLayout) {
                problems.add(where + ": Java has unnamed padding at offset " + javaOffset
                        + "; the header pads with named fields only");
                continue;
            }
            String name = member.name().orElse("?");
            if (index >= c.members().size()) {
                problems.add(where + "." + name + ": in Java, not in C");
                index++;
                continue;
            }
            Btf.Member cMember = c.members().get(index++);
            String field = where + "." + name;
            if (!cMember.name().equals(name)) {
                problems.add(field + ": C has '" + cMember.name() + "' in this place (member "
                        + index + ")");
                continue;
            }
            compareMember(btf, field, member, javaOffset, cMember, problems);
        }
        for (int i = index; i < c.members().size(); i++) {
            problems.add(where + "." + c.members().get(i).name() + ": in C, not in Java");
        }
    }

    private static void compareMember(Btf btf, String field, MemoryLayout java, long javaOffset,
            Btf.Member c, List<String> problems) {
        if (c.bitSize() != 0) {
            problems.add(field + ": is a bitfield in C; the ABI has none");
            return;
        }
        if (javaOffset != c.offset()) {
            problems.add(field + ": offset is " + javaOffset + " in Java, " + c.offset() + " in C");
        }
        if (java.byteSize() != c.size()) {
            problems.add(field + ": size is " + java.byteSize() + " in Java, " + c.size() + " in C");
        }
        switch (java) {
            case GroupLayout group -> {
                // The member's layout carries the field name, not the type's: compare contents.
                Optional<Btf.Composite> nested = switch (c.kind()) {
                    case UNION -> btf.union(c.typeName());
                    case STRUCT -> btf.struct(c.typeName());
                    default -> Optional.empty();
                };
                nested.ifPresentOrElse(
                        n -> compareGroup(btf, field + " (" + describe(c) + ")", group, n, problems),
                        () -> problems.add(field + ": a struct or union in Java, "
                                + describe(c) + " in C"));
            }
            case SequenceLayout sequence -> {
                if (c.kind() != Btf.Kind.ARRAY) {
                    problems.add(field + ": an array in Java, " + describe(c) + " in C");
                }
            }
            case ValueLayout value -> {
                if (c.kind() != Btf.Kind.INT && c.kind() != Btf.Kind.ENUM) {
                    problems.add(field + ": a number in Java, " + describe(c) + " in C");
                }
                boolean cBigEndian = c.declaredTypeName().startsWith("__be");
                boolean javaBigEndian = value.order() == ByteOrder.BIG_ENDIAN
                        && ByteOrder.nativeOrder() != ByteOrder.BIG_ENDIAN;
                if (cBigEndian != javaBigEndian) {
                    problems.add(field + ": is " + c.declaredTypeName() + " in C but "
                            + (javaBigEndian ? "big-endian" : "host order") + " in Java");
                }
            }
            default -> problems.add(field + ": unexpected Java layout " + java);
        }
    }

    private static void compareEnum(String where, Map<String, Long> java, Map<String, Long> c,
            List<String> problems) {
        c.forEach((name, value) -> {
            Long javaValue = java.get(name);
            if (javaValue == null) {
                problems.add(where + "." + name + ": in C (" + value + "), not in Java");
            } else if (!javaValue.equals(value)) {
                problems.add(where + "." + name + ": is " + javaValue + " in Java, " + value + " in C");
            }
        });
        java.keySet().stream()
                .filter(name -> !c.containsKey(name))
                .forEach(name -> problems.add(where + "." + name + ": in Java, not in C"));
    }

    private static String describe(Btf.Member c) {
        return c.kind().name().toLowerCase()
                + (c.typeName().isEmpty() ? "" : " " + c.typeName());
    }

    private static String kindName(GroupLayout layout) {
        return layout instanceof UnionLayout ? "union" : "struct";
    }
}
