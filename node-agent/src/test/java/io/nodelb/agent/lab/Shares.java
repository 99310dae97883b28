package io.nodelb.agent.lab;

import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Checks that answers spread over backends as their weights say.
 *
 * <p>The Maglev table gives every backend its weighted share of slots to within one slot of
 * 4093 (MaglevTableTest), so that error is negligible here. What remains is chance: each new
 * connection or datagram has a fresh source port, so its flow hash lands on backend k with
 * probability {@code p = w_k / W}, independently, and the count of n is binomial with
 * standard deviation {@code sqrt(n p (1 - p))}. A count may stray {@value #SIGMAS} standard
 * deviations from {@code n p}: one check then fails by chance with probability 6e-5, and a
 * lab run of a few dozen such checks about once in a thousand runs (three deviations would
 * be about once in twenty runs).
 */
public final class Shares {
    public static final double SIGMAS = 4;

    private Shares() {}

    /**
     * {@code answers} (backend name to count) must come only from backends with a positive
     * weight in {@code weights}, each within {@value #SIGMAS} standard deviations of its share.
     */
    public static void assertFollowWeights(String what, Map<String, Integer> answers, Map<String, Integer> weights) {
        int total = answers.values().stream().mapToInt(Integer::intValue).sum();
        int weightSum = weights.values().stream().mapToInt(Integer::intValue).sum();
        StringBuilder table = new StringBuilder(String.format("%s: %d answers%n  %-8s %6s %8s %9s %9s%n",
                what, total, "backend", "weight", "answers", "expected", "allowed"));
        boolean ok = total > 0;
        TreeSet<String> names = new TreeSet<>(weights.keySet());
        names.addAll(answers.keySet());
        for (String name : names) {
            int weight = weights.getOrDefault(name, 0);
            int count = answers.getOrDefault(name, 0);
            double p = weightSum == 0 ? 0 : (double) weight / weightSum;
            double expected = total * p;
            double allowed = SIGMAS * Math.sqrt(total * p * (1 - p));
            boolean within = weight == 0 ? count == 0 : Math.abs(count - expected) <= allowed;
            ok &= within;
            table.append(String.format("  %-8s %6d %8d %9.1f %9s%s%n", name, weight, count, expected,
                    weight == 0 ? "0" : String.format("±%.1f", allowed), within ? "" : "   <-- outside"));
        }
        if (!ok) {
            throw new AssertionError(table.toString());
        }
        System.out.print(table);
    }

    /** Weights by backend name, from pairs: {@code weights("be1", 3, "be2", 1)}. */
    public static Map<String, Integer> weights(Object... nameWeightPairs) {
        Map<String, Integer> weights = new TreeMap<>();
        for (int i = 0; i < nameWeightPairs.length; i += 2) {
            weights.put((String) nameWeightPairs[i], (Integer) nameWeightPairs[i + 1]);
        }
        return weights;
    }
}
