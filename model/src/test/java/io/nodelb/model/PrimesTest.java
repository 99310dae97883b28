package io.nodelb.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class PrimesTest {

    @Test
    void recognisesPrimes() {
        assertThat(IntStream.rangeClosed(-3, 30).filter(Primes::isPrime))
                .containsExactly(2, 3, 5, 7, 11, 13, 17, 19, 23, 29);
        assertThat(Primes.isPrime(4093)).isTrue();
        assertThat(Primes.isPrime(65537)).isTrue();
        assertThat(Primes.isPrime(Integer.MAX_VALUE)).isTrue();
        assertThat(Primes.isPrime(4095)).isFalse();
        assertThat(Primes.isPrime(65535)).isFalse();
        assertThat(Primes.isPrime(46337 * 46327)).isFalse(); // two primes just below the square root of 2^31
    }

    @Test
    void findsTheSmallestPrimeAtLeastN() {
        assertThat(Primes.atLeast(-5)).isEqualTo(2);
        assertThat(Primes.atLeast(2)).isEqualTo(2);
        assertThat(Primes.atLeast(3)).isEqualTo(3);
        assertThat(Primes.atLeast(4)).isEqualTo(5);
        assertThat(Primes.atLeast(4092)).isEqualTo(4093);
        assertThat(Primes.atLeast(4094)).isEqualTo(4099);
        assertThat(Primes.atLeast(65536)).isEqualTo(65537);
        assertThat(Primes.atLeast(1000)).isEqualTo(1009);
        assertThat(Primes.atLeast(2147483630)).isEqualTo(Integer.MAX_VALUE);
    }
}
