package io.nodelb.agent.dataplane;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * How long named steps took, in the order they ran: what an agent's start spent where (logged
 * once it is ready, and read by the adoption benchmark). A step timed twice adds up.
 */
public final class Phases {

    private final Map<String, Long> nanos = new LinkedHashMap<>();

    public <T> T time(String step, Supplier<T> work) {
        long start = System.nanoTime();
        try {
            return work.get();
        } finally {
            add(step, System.nanoTime() - start);
        }
    }

    public void time(String step, Runnable work) {
        long start = System.nanoTime();
        try {
            work.run();
        } finally {
            add(step, System.nanoTime() - start);
        }
    }

    public synchronized void add(String step, long elapsedNanos) {
        nanos.merge(step, elapsedNanos, Long::sum);
    }

    /** Every step so far, in order. */
    public synchronized Map<String, Duration> asMap() {
        Map<String, Duration> out = new LinkedHashMap<>();
        nanos.forEach((step, n) -> out.put(step, Duration.ofNanos(n)));
        return out;
    }

    public synchronized Duration total() {
        return Duration.ofNanos(nanos.values().stream().mapToLong(Long::longValue).sum());
    }

    /** {@code "load xdp 512 ms, read nlb_tables 80 ms, ..."}. */
    @Override
    public synchronized String toString() {
        return nanos.entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue() / 1_000_000 + " ms")
                .collect(Collectors.joining(", "));
    }
}
