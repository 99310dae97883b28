package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RampUpTest {
    private static final Duration WINDOW = Duration.ofSeconds(20);

    @Test
    void stepsThroughQuartersOfTheWindow() {
        assertThat(RampUp.factor(Duration.ZERO, WINDOW)).isEqualTo(0.25);
        assertThat(RampUp.factor(Duration.ofMillis(4999), WINDOW)).isEqualTo(0.25);
        assertThat(RampUp.factor(Duration.ofSeconds(5), WINDOW)).isEqualTo(0.5);
        assertThat(RampUp.factor(Duration.ofSeconds(12), WINDOW)).isEqualTo(0.75);
        assertThat(RampUp.factor(Duration.ofSeconds(19), WINDOW)).isEqualTo(1.0);
        assertThat(RampUp.factor(Duration.ofSeconds(20), WINDOW)).isEqualTo(1.0);
        assertThat(RampUp.factor(Duration.ofHours(1), WINDOW)).isEqualTo(1.0);
    }

    @Test
    void aZeroWindowGivesTheWholeWeightAtOnce() {
        assertThat(RampUp.factor(Duration.ZERO, Duration.ZERO)).isEqualTo(1.0);
        assertThat(RampUp.untilNextStep(Duration.ZERO, Duration.ZERO)).isNull();
    }

    @Test
    void saysWhenTheNextStepComes() {
        assertThat(RampUp.untilNextStep(Duration.ofSeconds(1), WINDOW)).isEqualTo(Duration.ofSeconds(4));
        assertThat(RampUp.untilNextStep(Duration.ofSeconds(16), WINDOW)).isEqualTo(Duration.ofSeconds(4));
        assertThat(RampUp.untilNextStep(Duration.ofSeconds(20), WINDOW)).isNull();
    }
}
