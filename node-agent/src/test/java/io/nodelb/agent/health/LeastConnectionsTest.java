package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LeastConnectionsTest {
    @Test
    void aBackendAtOrBelowTheMeanLoadKeepsItsWeight() {
        assertThat(LeastConnections.raw(10, 1, 30, 3)).isEqualTo(1.0);
        assertThat(LeastConnections.raw(0, 1, 30, 3)).isEqualTo(1.0);
        // Weighted: 20 flows on weight 2 is the same load as 10 on weight 1.
        assertThat(LeastConnections.raw(20, 2, 40, 4)).isEqualTo(1.0);
    }

    @Test
    void aBackendHoldingMostFlowsGetsNoNewOnes() {
        // 50 long-lived connections on be1, none on be2: mean 25, be1 is far above.
        assertThat(LeastConnections.raw(50, 1, 50, 2)).isZero();
        // Slightly above the mean: a little less weight.
        assertThat(LeastConnections.raw(12, 1, 33, 3)).isBetween(0.7, 0.9);
    }

    @Test
    void levelsMoveInQuarterStepsWithHysteresis() {
        LeastConnections lc = new LeastConnections();
        assertThat(lc.update(0.9)).as("less than a step from 1").isEqualTo(1.0);
        assertThat(lc.update(0.6)).isEqualTo(0.5);
        assertThat(lc.update(0.7)).as("wobbling near the boundary keeps the level").isEqualTo(0.5);
        assertThat(lc.update(0.4)).isEqualTo(0.5);
        assertThat(lc.update(0.76)).isEqualTo(0.75);
        assertThat(lc.update(0.05)).isZero();
        assertThat(lc.update(1.0)).isEqualTo(1.0);
    }
}
