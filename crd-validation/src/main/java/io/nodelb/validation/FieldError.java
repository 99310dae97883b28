package io.nodelb.validation;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * One problem with one field, worded as the Kubernetes API server words it ({@code field.Error} of
 * apimachinery): {@code spec.natMode: Unsupported value: "SNAT": supported values: "DNAT", "FullNAT"}.
 *
 * @param field the field's path, e.g. {@code spec.listeners[0].port}; null for the object as a whole
 * @param type what kind of problem
 * @param value the offending value as the API server shows it; {@link #OMIT} shows none
 * @param detail what is wrong, may be empty
 */
public record FieldError(String field, Type type, Object value, String detail) {

    /** Marks an error that shows no value. */
    public static final Object OMIT = new Object();

    /** The error types of apimachinery, with their words. */
    public enum Type {
        REQUIRED("Required value"),
        INVALID("Invalid value"),
        TYPE_INVALID("Invalid value"),
        NOT_SUPPORTED("Unsupported value"),
        DUPLICATE("Duplicate value"),
        FORBIDDEN("Forbidden"),
        TOO_LONG("Too long"),
        TOO_MANY("Too many"),
        /** Not an apimachinery type: strict decoding refuses a field the schema does not know. */
        UNKNOWN_FIELD("unknown field");

        private final String words;

        Type(String words) {
            this.words = words;
        }
    }

    public static FieldError required(String field) {
        return new FieldError(field, Type.REQUIRED, OMIT, "");
    }

    public static FieldError invalid(String field, Object value, String detail) {
        return new FieldError(field, Type.INVALID, value, detail);
    }

    public static FieldError notSupported(String field, Object value, List<?> supported) {
        return new FieldError(field, Type.NOT_SUPPORTED, value, "supported values: "
                + supported.stream().map(FieldError::quoted).collect(Collectors.joining(", ")));
    }

    public static FieldError unknownField(String field) {
        return new FieldError(field, Type.UNKNOWN_FIELD, OMIT, "");
    }

    /** The text after {@code field: }. */
    public String body() {
        if (type == Type.UNKNOWN_FIELD) {
            return "unknown field \"" + field + "\"";
        }
        String s = switch (type) {
            case REQUIRED, FORBIDDEN, TOO_LONG -> type.words;
            default -> value == OMIT ? type.words : type.words + ": " + shown(value);
        };
        return detail.isEmpty() ? s : s + ": " + detail;
    }

    @Override
    public String toString() {
        return (field == null ? "<nil>" : field) + ": " + body();
    }

    /** As Go's %v for numbers and booleans and %q for strings. */
    static String shown(Object value) {
        return switch (value) {
            case null -> "null";
            case String s -> quoted(s);
            case Double d when d == Math.rint(d) && !d.isInfinite() -> Long.toString(d.longValue());
            case Number n -> n.toString();
            case Boolean b -> b.toString();
            case Map<?, ?> m -> "map" + m;
            default -> value.toString();
        };
    }

    static String quoted(Object value) {
        String s = String.valueOf(value);
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\t' -> b.append("\\t");
                default -> b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
