package io.nodelb.model;

/** Prime numbers for choosing Maglev table sizes. */
public final class Primes {

    private Primes() {}

    /** Whether {@code n} is prime. Trial division: at most ~23,000 divisions for any int. */
    public static boolean isPrime(int n) {
        if (n < 2) {
            return false;
        }
        if (n % 2 == 0) {
            return n == 2;
        }
        for (int d = 3; d <= n / d; d += 2) {
            if (n % d == 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * The smallest prime {@code >= n} (2 for any {@code n <= 2}).
     *
     * @throws IllegalArgumentException when no int prime is that large
     */
    public static int atLeast(int n) {
        if (n <= 2) {
            return 2;
        }
        // 2^31 - 1 is prime, so the search always ends inside the int range.
        for (int candidate = n | 1; ; candidate += 2) {
            if (isPrime(candidate)) {
                return candidate;
            }
            if (candidate == Integer.MAX_VALUE) {
                throw new IllegalArgumentException("no int prime is >= " + n);
            }
        }
    }
}
