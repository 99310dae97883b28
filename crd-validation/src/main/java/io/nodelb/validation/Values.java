package io.nodelb.validation;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** JSON-shaped values as the API server decodes them: Long, Double, String, Boolean, List, Map. */
final class Values {
    private Values() {}

    /** A deep copy with every integer as a Long and every null entry of a map dropped (the API server prunes them). */
    static Object normalized(Object value) {
        return switch (value) {
            case Map<?, ?> map -> {
                Map<String, Object> copy = new LinkedHashMap<>();
                map.forEach((k, v) -> {
                    if (v != null) {
                        copy.put(String.valueOf(k), normalized(v));
                    }
                });
                yield copy;
            }
            case List<?> list -> {
                List<Object> copy = new ArrayList<>(list.size());
                list.forEach(v -> copy.add(normalized(v)));
                yield copy;
            }
            case Integer i -> i.longValue();
            case Short s -> s.longValue();
            case Byte b -> b.longValue();
            case BigInteger b -> b.bitLength() < 64 ? (Object) b.longValue() : b.doubleValue();
            case Float f -> f.doubleValue();
            case null, default -> value;
        };
    }

    /** The JSON type name of a value, as the API server names it. */
    static String typeOf(Object value) {
        return switch (value) {
            case null -> "null";
            case Map<?, ?> m -> "object";
            case List<?> l -> "array";
            case String s -> "string";
            case Boolean b -> "boolean";
            case Long l -> "integer";
            case Double d -> "number";
            default -> value.getClass().getSimpleName();
        };
    }
}
