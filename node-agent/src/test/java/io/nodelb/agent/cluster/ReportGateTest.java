package io.nodelb.agent.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.dataplane.v1alpha1.NodeReport;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ReportGateTest {

    private static final long S = 1_000_000_000L;
    private final NodeReport a = NodeReport.newBuilder().setAppliedVersion("a").build();
    private final NodeReport b = NodeReport.newBuilder().setAppliedVersion("a").setDraining(true).build();

    @Test
    void theFirstGoesOutThenOnlyChangesUntilTheIntervalIsUp() {
        ReportGate gate = new ReportGate(Duration.ofSeconds(30));

        assertThat(gate.admit(a, 100 * S)).as("first").isTrue();
        assertThat(gate.admit(a, 102 * S)).as("unchanged").isFalse();
        assertThat(gate.admit(b, 104 * S)).as("changed").isTrue();
        assertThat(gate.admit(b, 133 * S)).as("unchanged, 29 s later").isFalse();
        assertThat(gate.admit(b, 134 * S)).as("unchanged, 30 s later").isTrue();
        assertThat(gate.admit(a, 135 * S)).as("changed back").isTrue();
    }
}
