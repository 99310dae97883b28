package io.nodelb.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class DrainTest {

    private final Instant t0 = Instant.parse("2026-12-04T10:00:00Z");

    @Test
    void eitherSourceDrainsAndEachUndrainsOnlyItsOwn() {
        Drain drain = new Drain(Clock.fixed(t0, ZoneOffset.UTC));
        assertThat(drain.draining()).isFalse();
        assertThat(drain.reason()).isEmpty();

        assertThat(drain.cluster(true)).isTrue();
        assertThat(drain.drain()).isTrue();
        assertThat(drain.drain()).as("already drained by hand").isFalse();
        assertThat(drain.reason()).hasValueSatisfying(r -> assertThat(r).contains("by this node's operator and by the cluster"));

        assertThat(drain.undrain()).isTrue();
        assertThat(drain.draining()).as("the cluster still drains").isTrue();
        assertThat(drain.since()).contains(t0);
        assertThat(drain.cluster(false)).isTrue();
        assertThat(drain.draining()).isFalse();
        assertThat(drain.cluster(false)).as("no change").isFalse();
    }
}
