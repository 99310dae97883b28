package io.nodelb.agent.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class EventConsumerTest {

    private static Names names() {
        return new Names(DesiredState::empty, Optional::empty, "node-a");
    }

    @Test
    void aSinkThatStallsCostsDropsCountedNotMemory() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        List<FlowRecord> seen = new CopyOnWriteArrayList<>();
        EventConsumer.Sink stalled = (record, end) -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            seen.add(record);
        };
        try (EventConsumer consumer = EventConsumer.start(100, names(), List.of(stalled))) {
            int offered = 10_000;
            int accepted = 0;
            for (int i = 0; i < offered; i++) {
                accepted += consumer.offer(Events.newFlow(i % 60000 + 1)) ? 1 : 0;
            }
            // The writer holds at most one batch; the queue holds its capacity: the rest is dropped, and counted.
            assertThat(consumer.waiting()).isLessThanOrEqualTo(100);
            assertThat(accepted).isLessThanOrEqualTo(100 + EventConsumer.BATCH);
            assertThat(consumer.dropped()).isEqualTo(offered - accepted);
            release.countDown();
            int expected = accepted;
            await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == expected);
            assertThat(consumer.delivered()).isEqualTo(expected);
        }
    }

    @Test
    void batchesEndWithEndOfBatchAndEveryRecordIsNamed() {
        List<Boolean> ends = new CopyOnWriteArrayList<>();
        List<FlowRecord> seen = new CopyOnWriteArrayList<>();
        try (EventConsumer consumer = EventConsumer.start(EventConsumer.DEFAULT_CAPACITY, names(),
                List.of((r, end) -> {
                    seen.add(r);
                    ends.add(end);
                }))) {
            for (int i = 0; i < 5000; i++) {
                consumer.offer(i % 2 == 0 ? Events.newFlow(1000 + i) : Events.end(1000 + i, Abi.END_RST, 1000));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 5000);
        }
        assertThat(ends.getLast()).as("the last record ends a batch").isTrue();
        assertThat(ends.stream().filter(b -> b).count()).isBetween(1L, 5000L);
        assertThat(seen).allMatch(r -> r.node().equals("node-a"));
        assertThat(seen.get(1).endReason()).isEqualTo("rst");
        assertThat(seen).as("nothing applied: no backend names").allMatch(r -> r.backendKey() == null);
    }

    @Test
    void aFailingSinkDoesNotStopTheOthers() throws Exception {
        CountDownLatch all = new CountDownLatch(100);
        try (EventConsumer consumer = EventConsumer.start(1000, names(), List.of(
                (r, end) -> {
                    throw new IllegalStateException("disk full");
                },
                (r, end) -> all.countDown()))) {
            for (int i = 0; i < 100; i++) {
                consumer.offer(Events.newFlow(2000 + i));
            }
            assertThat(all.await(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void closeDeliversWhatWasQueued() {
        List<FlowRecord> seen = new CopyOnWriteArrayList<>();
        EventConsumer consumer = EventConsumer.start(10_000, names(), List.of((r, end) -> seen.add(r)));
        for (int i = 0; i < 3000; i++) {
            consumer.offer(Events.drop(i + 1));
        }
        consumer.close();
        assertThat(seen).hasSize(3000);
        assertThat(seen.getFirst().dropReason()).isEqualTo("drop_no_backend");
    }
}
