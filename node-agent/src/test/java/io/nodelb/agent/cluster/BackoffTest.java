package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BackoffTest {

    @Test
    void theCeilingDoublesUpToTheCap() {
        Backoff backoff = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(30), () -> 0.999_999);
        List<Long> waits = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            waits.add(Math.round(backoff.next().toMillis() / 100.0) * 100);
        }

        assertThat(waits).containsExactly(500L, 1000L, 2000L, 4000L, 8000L, 16000L, 30000L, 30000L, 30000L);
    }

    @Test
    void fullJitterDrawsFromZeroToTheCeiling() {
        double[] draws = {0.0, 0.5, 0.25};
        int[] i = {0};
        Backoff backoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(30), () -> draws[i[0]++]);

        assertThat(backoff.next()).isEqualTo(Duration.ZERO);
        assertThat(backoff.next()).isEqualTo(Duration.ofSeconds(1)); // half of 2 s
        assertThat(backoff.next()).isEqualTo(Duration.ofSeconds(1)); // a quarter of 4 s
    }

    @Test
    void resetStartsOver() {
        Backoff backoff = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(30), () -> 0.5);
        for (int i = 0; i < 20; i++) {
            backoff.next();
        }
        assertThat(backoff.ceiling()).isEqualTo(Duration.ofSeconds(30));

        backoff.reset();

        assertThat(backoff.ceiling()).isEqualTo(Duration.ofMillis(500));
        assertThat(backoff.next()).isEqualTo(Duration.ofMillis(250));
    }

    @Test
    void refusesACapBelowTheStart() {
        assertThatThrownBy(() -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1), () -> 0))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
