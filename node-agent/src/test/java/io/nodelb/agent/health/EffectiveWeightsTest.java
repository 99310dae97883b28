package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.health.EffectiveWeights.Input;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EffectiveWeightsTest {
    private static Input healthy(String key, int weight) {
        return new Input(key, weight, true, true, 1, 1, 1);
    }

    @Test
    void allWellKeepsTheConfiguredWeights() {
        var result = EffectiveWeights.combine(List.of(healthy("a", 3), healthy("b", 2), healthy("c", 1)));
        assertThat(result.weights()).isEqualTo(Map.of("a", 3, "b", 2, "c", 1));
        assertThat(result.failOpen()).isFalse();
    }

    @Test
    void anUnhealthyBackendsShareGoesToTheOthersInProportion() {
        var result = EffectiveWeights.combine(List.of(healthy("a", 3),
                new Input("b", 2, true, false, 1, 1, 1), healthy("c", 1)));
        assertThat(result.weights()).isEqualTo(Map.of("a", 300, "b", 0, "c", 100));
        assertThat(result.failOpen()).isFalse();
    }

    @Test
    void factorsMultiplyAndAWeightAboveZeroStaysInService() {
        var result = EffectiveWeights.combine(List.of(healthy("a", 1),
                new Input("b", 1, true, true, 0.25, 1, 1),
                new Input("c", 1, true, true, 0.5, 0.25, 1),
                new Input("d", 1, true, true, 1, 1, 0.001),
                new Input("e", 1, true, true, 1, 0, 1)));
        assertThat(result.weights()).isEqualTo(Map.of("a", 100, "b", 25, "c", 13, "d", 1, "e", 0));
    }

    @Test
    void everyBackendOutFailsOpenWithTheConfiguredWeights() {
        var result = EffectiveWeights.combine(List.of(new Input("a", 3, true, false, 1, 1, 1),
                new Input("b", 2, true, true, 1, 0, 1), new Input("c", 1, false, true, 1, 1, 1)));
        assertThat(result.weights()).isEqualTo(Map.of("a", 3, "b", 2, "c", 1));
        assertThat(result.failOpen()).isTrue();
    }

    @Test
    void drainingBackendsDoNotKeepAGroupFromFailingOpenNorServeIt() {
        var drainingOnly = EffectiveWeights.combine(List.of(new Input("a", 1, false, true, 1, 1, 1)));
        assertThat(drainingOnly.failOpen()).as("nothing may serve: nothing to fail open to").isFalse();
        var result = EffectiveWeights.combine(List.of(new Input("a", 1, false, true, 1, 1, 1),
                new Input("b", 1, true, true, 0.5, 1, 1)));
        assertThat(result.weights().get("b")).isEqualTo(50);
    }
}
