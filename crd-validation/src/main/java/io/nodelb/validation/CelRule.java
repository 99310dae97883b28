package io.nodelb.validation;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.cel.common.CelAbstractSyntaxTree;
import dev.cel.common.CelOptions;
import dev.cel.common.CelProtoAbstractSyntaxTree;
import dev.cel.common.CelValidationException;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.expr.CheckedExpr;
import dev.cel.extensions.CelExtensions;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * One {@code x-kubernetes-validations} entry, compiled once: the rule, its message (or message
 * expression), the field it blames and its reason. A rule that reads {@code oldSelf} is a
 * transition rule and runs only on an update, as in the API server.
 */
record CelRule(String rule, String message, Supplier<CelRuntime.Program> lazyProgram,
               Supplier<CelRuntime.Program> lazyMessageProgram,
               String fieldPath, FieldError.Type reason, boolean transition) {

    private static final Pattern OLD_SELF = Pattern.compile("\\boldSelf\\b");

    /** The rule's program, built on its first use: a file the schema refuses never builds one. */
    CelRuntime.Program program() {
        return lazyProgram.get();
    }

    /** What a rule says when it is false. */
    String messageFor(Object self, Object oldSelf) {
        if (lazyMessageProgram != null) {
            try {
                Object text = lazyMessageProgram.get().eval(activation(self, oldSelf));
                if (text instanceof String s && !s.isBlank()) {
                    return s;
                }
            } catch (CelEvaluationException e) {
                // the API server falls back to the message (or the default) too
            }
        }
        return message != null ? message : "failed rule: " + rule;
    }

    static Map<String, Object> activation(Object self, Object oldSelf) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("self", self);
        if (oldSelf != null) {
            vars.put("oldSelf", oldSelf);
        }
        return vars;
    }

    /**
     * Compiles rules in the environment the API server gives them: self, oldSelf and the Kubernetes
     * libraries. An expression found among the {@code checked} ones (type-checked at build time, by
     * {@link CheckedRules}) skips parsing and checking, which is most of a cold start; any other
     * expression (a CRD edited since, a test's mutated rule) is compiled from its text.
     */
    static final class Compiler {
        private final Map<String, byte[]> checked;
        /** Every expression compiled from text, checked: what {@link CheckedRules} writes. */
        final Map<String, CelAbstractSyntaxTree> compiledFromText = new TreeMap<>();
        int loadedChecked;

        Compiler() {
            this(Map.of());
        }

        Compiler(Map<String, byte[]> checked) {
            this.checked = checked;
        }

        private static final CelOptions OPTIONS = CelOptions.current().enableHeterogeneousNumericComparisons(true).build();

        // Programs run here; a runtime alone loads neither the parser nor the checker. Built on the first
        // program: a start that refuses a file by its schema never pays for it.
        private final Supplier<CelRuntime> runtime = memoized(() -> CelRuntimeFactory.standardCelRuntimeBuilder()
                .setOptions(OPTIONS)
                .addLibraries(CelExtensions.strings(), CelExtensions.sets(OPTIONS))
                .addFunctionBindings(KubernetesNetLibrary.bindings())
                .build());
        private CelCompiler textCompiler;

        /** Parser and checker, built on the first expression that has no checked form. */
        private CelCompiler textCompiler() {
            if (textCompiler == null) {
                textCompiler = CelCompilerFactory.standardCelCompilerBuilder()
                        .setOptions(OPTIONS)
                        .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
                        .addVar("self", SimpleType.DYN)
                        .addVar("oldSelf", SimpleType.DYN)
                        .addLibraries(CelExtensions.strings(), CelExtensions.sets(OPTIONS))
                        .addFunctionDeclarations(KubernetesNetLibrary.declarations())
                        .build();
            }
            return textCompiler;
        }

        CelRule compile(Map<String, Object> entry, String where) {
            String rule = (String) entry.get("rule");
            String messageExpression = (String) entry.get("messageExpression");
            return new CelRule(rule, (String) entry.get("message"), program(rule, where),
                    messageExpression == null ? null : program(messageExpression, where),
                    (String) entry.get("fieldPath"), reason((String) entry.get("reason"), where),
                    OLD_SELF.matcher(rule).find());
        }

        /** A checked expression's program, built when first asked for; any other is compiled now (errors early). */
        private Supplier<CelRuntime.Program> program(String expression, String where) {
            byte[] bytes = checked.get(expression);
            if (bytes != null) {
                loadedChecked++;
                return memoized(() -> {
                    try {
                        return createProgram(CelProtoAbstractSyntaxTree.fromCheckedExpr(CheckedExpr.parseFrom(bytes))
                                .getAst(), expression, where);
                    } catch (InvalidProtocolBufferException e) {
                        throw new IllegalStateException(where + ": the build's checked form of '" + expression
                                + "' is unreadable; rebuild crd-validation", e);
                    }
                });
            }
            try {
                CelAbstractSyntaxTree ast = textCompiler().compile(expression).getAst();
                compiledFromText.put(expression, ast);
                CelRuntime.Program program = createProgram(ast, expression, where);
                return () -> program;
            } catch (CelValidationException e) {
                throw new IllegalArgumentException(where + ": CEL rule '" + expression + "' does not compile: "
                        + e.getMessage(), e);
            }
        }

        private CelRuntime.Program createProgram(CelAbstractSyntaxTree ast, String expression, String where) {
            try {
                return runtime.get().createProgram(ast);
            } catch (CelEvaluationException e) {
                throw new IllegalArgumentException(where + ": CEL rule '" + expression + "' does not compile: "
                        + e.getMessage(), e);
            }
        }

        /** The value of {@code make}, computed once, on the first get (validators may be shared by threads). */
        private static <T> Supplier<T> memoized(Supplier<T> make) {
            return new Supplier<>() {
                private volatile T value;

                @Override
                public T get() {
                    T v = value;
                    if (v == null) {
                        synchronized (this) {
                            if (value == null) {
                                value = make.get();
                            }
                            v = value;
                        }
                    }
                    return v;
                }
            };
        }

        private static FieldError.Type reason(String reason, String where) {
            return switch (reason == null ? "FieldValueInvalid" : reason) {
                case "FieldValueInvalid" -> FieldError.Type.INVALID;
                case "FieldValueForbidden" -> FieldError.Type.FORBIDDEN;
                case "FieldValueRequired" -> FieldError.Type.REQUIRED;
                case "FieldValueDuplicate" -> FieldError.Type.DUPLICATE;
                default -> throw new IllegalArgumentException(where + ": unknown rule reason " + reason);
            };
        }
    }
}
