package io.nodelb.validation;

import dev.cel.bundle.Cel;
import dev.cel.bundle.CelFactory;
import dev.cel.common.CelOptions;
import dev.cel.common.CelValidationException;
import dev.cel.common.types.SimpleType;
import dev.cel.extensions.CelExtensions;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * One {@code x-kubernetes-validations} entry, compiled once: the rule, its message (or message
 * expression), the field it blames and its reason. A rule that reads {@code oldSelf} is a
 * transition rule and runs only on an update, as in the API server.
 */
record CelRule(String rule, String message, CelRuntime.Program program, CelRuntime.Program messageProgram,
               String fieldPath, FieldError.Type reason, boolean transition) {

    private static final Pattern OLD_SELF = Pattern.compile("\\boldSelf\\b");

    /** What a rule says when it is false. */
    String messageFor(Object self, Object oldSelf) {
        if (messageProgram != null) {
            try {
                Object text = messageProgram.eval(activation(self, oldSelf));
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

    /** Compiles rules in the environment the API server gives them: self, oldSelf and the Kubernetes libraries. */
    static final class Compiler {
        private final Cel cel = CelFactory.standardCelBuilder()
                .setOptions(CelOptions.current().enableHeterogeneousNumericComparisons(true).build())
                .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
                .addVar("self", SimpleType.DYN)
                .addVar("oldSelf", SimpleType.DYN)
                .addCompilerLibraries(CelExtensions.strings(), CelExtensions.sets(CelOptions.current().build()))
                .addRuntimeLibraries(CelExtensions.strings(), CelExtensions.sets(CelOptions.current().build()))
                .addFunctionDeclarations(KubernetesNetLibrary.declarations())
                .addFunctionBindings(KubernetesNetLibrary.bindings())
                .build();

        CelRule compile(Map<String, Object> entry, String where) {
            String rule = (String) entry.get("rule");
            String messageExpression = (String) entry.get("messageExpression");
            return new CelRule(rule, (String) entry.get("message"), program(rule, where),
                    messageExpression == null ? null : program(messageExpression, where),
                    (String) entry.get("fieldPath"), reason((String) entry.get("reason"), where),
                    OLD_SELF.matcher(rule).find());
        }

        private CelRuntime.Program program(String expression, String where) {
            try {
                return cel.createProgram(cel.compile(expression).getAst());
            } catch (CelValidationException | CelEvaluationException e) {
                throw new IllegalArgumentException(where + ": CEL rule '" + expression + "' does not compile: "
                        + e.getMessage(), e);
            }
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
