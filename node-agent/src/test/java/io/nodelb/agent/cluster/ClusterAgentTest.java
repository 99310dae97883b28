package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ClusterAgentTest {
    @Test
    void checkLatenciesAreReportedAsPowersOfTwoMicroseconds() {
        assertThat(ClusterAgent.roundedMicros(0)).as("not checked").isZero();
        assertThat(ClusterAgent.roundedMicros(1)).isEqualTo(1);
        assertThat(ClusterAgent.roundedMicros(1_000)).isEqualTo(1);
        assertThat(ClusterAgent.roundedMicros(1_001)).isEqualTo(2);
        assertThat(ClusterAgent.roundedMicros(900_000)).isEqualTo(1024);
        assertThat(ClusterAgent.roundedMicros(1_024_000)).isEqualTo(1024);
        assertThat(ClusterAgent.roundedMicros(1_300_000)).isEqualTo(2048);
    }
}
