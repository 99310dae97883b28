package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The breaker's rules: consecutiveFailures, errorRatePercent over minimumVolume within window, half-open. */
class BreakerTest {
    private static final long S = 1_000_000_000L;
    private static final Breaker.Settings SETTINGS =
            new Breaker.Settings(3, 50, 10, Duration.ofSeconds(10), Duration.ofSeconds(30), 2);

    @Test
    void consecutiveFailuresOpenItThenItHalfOpensAndClosesAfterSuccesses() {
        Breaker breaker = new Breaker(SETTINGS);
        assertThat(breaker.record(0, 0, 1)).isFalse();
        assertThat(breaker.record(1 * S, 0, 1)).isFalse();
        assertThat(breaker.record(2 * S, 0, 1)).as("third failure in a row").isTrue();
        assertThat(breaker.state(2 * S)).isEqualTo(Breaker.State.OPEN);
        assertThat(breaker.factor(2 * S)).isZero();
        assertThat(breaker.nextChangeAt()).isEqualTo(32 * S);
        assertThat(breaker.record(10 * S, 5, 0)).as("an open breaker waits for its time").isFalse();
        assertThat(breaker.state(31 * S)).isEqualTo(Breaker.State.OPEN);
        assertThat(breaker.state(32 * S)).isEqualTo(Breaker.State.HALF_OPEN);
        assertThat(breaker.factor(32 * S)).isEqualTo(Breaker.HALF_OPEN_FACTOR);
        assertThat(breaker.record(33 * S, 1, 0)).isFalse();
        assertThat(breaker.record(34 * S, 1, 0)).as("second success in a row").isTrue();
        assertThat(breaker.state(34 * S)).isEqualTo(Breaker.State.CLOSED);
        assertThat(breaker.factor(34 * S)).isEqualTo(1.0);
    }

    @Test
    void aFailureWhileHalfOpenOpensItAgain() {
        Breaker breaker = new Breaker(SETTINGS);
        breaker.record(0, 0, 3);
        assertThat(breaker.state(30 * S)).isEqualTo(Breaker.State.HALF_OPEN);
        breaker.record(31 * S, 1, 0);
        assertThat(breaker.record(32 * S, 0, 1)).isTrue();
        assertThat(breaker.state(32 * S)).isEqualTo(Breaker.State.OPEN);
        assertThat(breaker.nextChangeAt()).isEqualTo(62 * S);
    }

    @Test
    void theErrorRateOpensItOnlyWithEnoughVolumeInTheWindow() {
        Breaker breaker = new Breaker(SETTINGS);
        // 4 of 8 failed (50 %) but below the minimum volume of 10: stays closed.
        for (int i = 0; i < 4; i++) {
            breaker.record(i * S, 1, 0);
            breaker.record(i * S, 0, 1);
        }
        assertThat(breaker.state(4 * S)).isEqualTo(Breaker.State.CLOSED);
        // Signals older than the window are forgotten: 40 % within it.
        breaker.record(20 * S, 3, 0);
        breaker.record(20 * S, 0, 2);
        breaker.record(21 * S, 3, 0);
        breaker.record(21 * S, 0, 2);
        assertThat(breaker.state(21 * S)).isEqualTo(Breaker.State.CLOSED);
        assertThat(breaker.record(22 * S, 0, 2)).as("6 of 12 within 10 s").isTrue();
        assertThat(breaker.state(22 * S)).isEqualTo(Breaker.State.OPEN);
    }
}
