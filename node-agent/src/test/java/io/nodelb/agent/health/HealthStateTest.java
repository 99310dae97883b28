package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HealthStateTest {
    @Test
    void turnsUnhealthyAfterTheThresholdOfFailuresInARowAndBackAfterSuccesses() {
        HealthState state = new HealthState(2, 3);
        assertThat(state.healthy()).as("a backend starts healthy").isTrue();
        assertThat(state.record(false, "refused")).isFalse();
        assertThat(state.record(false, "refused")).isFalse();
        assertThat(state.record(true, "ok")).as("a success resets the failures").isFalse();
        assertThat(state.record(false, "refused")).isFalse();
        assertThat(state.record(false, "refused")).isFalse();
        assertThat(state.record(false, "HTTP 503")).as("third failure in a row").isTrue();
        assertThat(state.healthy()).isFalse();
        assertThat(state.reason()).isEqualTo("HTTP 503");
        assertThat(state.record(true, "ok")).isFalse();
        assertThat(state.record(false, "refused")).isFalse();
        assertThat(state.record(true, "ok")).isFalse();
        assertThat(state.record(true, "ok")).as("second success in a row").isTrue();
        assertThat(state.healthy()).isTrue();
    }
}
