package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A relay loop's wake-ups: every task handed to it from another thread runs, however they interleave. */
class RelayLoopTest {
    private static final RelayLoop.Events NONE = new RelayLoop.Events() {
        @Override
        public void copied(long bytes) {}

        @Override
        public void ended(StreamConnection connection) {}

        @Override
        public boolean route(Opening opening) {
            return false;
        }

        @Override
        public StreamConnection connected(Opening opening) {
            throw new UnsupportedOperationException();
        }

        @Override
        public ByteBuffer opening(Opening opening) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void refused(Opening opening, String outcome) {}
    };

    @Test
    void noTaskWaitsForAWakeUpThatWasLost() throws Exception {
        RelayLoop loop = new RelayLoop(NONE);
        Thread thread = Thread.ofPlatform().daemon().name("relay-loop-test").start(loop);
        try {
            // Bursts from several threads, each burst waited for: one task left behind would hang it
            // (a wake-up lost once leaves the loop asleep in epoll_wait with no timeout).
            for (int burst = 0; burst < 2_000; burst++) {
                CountDownLatch ran = new CountDownLatch(4);
                for (int t = 0; t < 4; t++) {
                    Thread.ofPlatform().start(() -> loop.submit(ran::countDown));
                }
                assertThat(ran.await(5, TimeUnit.SECONDS)).as("burst %d ran whole", burst).isTrue();
            }
        } finally {
            loop.close();
            thread.join(5_000);
        }
        assertThat(thread.isAlive()).as("the loop stops once closed").isFalse();
    }
}
