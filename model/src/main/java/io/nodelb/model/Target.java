package io.nodelb.model;

import java.util.Objects;

/**
 * One backend offered to {@link MaglevTable#build}.
 *
 * @param key identifies the backend stably on every node and across restarts, for example
 *     {@code "10.1.2.2:8080"}; the table depends on its UTF-8 bytes, never on list order
 * @param weight relative share of new flows, any non-negative int (1:3, 100:1, 7:7:7 ...);
 *     0 keeps the backend out of the table (draining)
 */
public record Target(String key, int weight) {

    public Target {
        Objects.requireNonNull(key, "key");
        if (key.isEmpty()) {
            throw new IllegalArgumentException("a target key must not be empty");
        }
        if (weight < 0) {
            throw new IllegalArgumentException(
                    "target " + key + " has weight " + weight + "; weights must be >= 0");
        }
    }
}
