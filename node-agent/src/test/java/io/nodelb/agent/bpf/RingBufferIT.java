package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.testing.Privileged;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** RingBuffer reading the records a real program wrote into a real BPF_MAP_TYPE_RINGBUF. */
@Privileged
class RingBufferIT {
    private static final int XDP_PASS = 2;
    private static final int RECORD = 16;

    /** struct record of test_progs.bpf.c. */
    private record Record(long seq, int len, int marker) {
        static Record of(MemorySegment data) {
            assertThat(data.byteSize()).isEqualTo(RECORD);
            return new Record(data.get(ValueLayout.JAVA_LONG, 0),
                    data.get(ValueLayout.JAVA_INT, 8), data.get(ValueLayout.JAVA_INT, 12));
        }
    }

    @Test
    void pollHandsOverEveryRecordInOrder() {
        try (BpfObject object = loaded()) {
            List<Record> seen = new ArrayList<>();
            try (RingBuffer ring = RingBuffer.open(object.map("records"),
                    data -> seen.add(Record.of(data)))) {
                assertThat(ring.poll(Duration.ZERO)).isZero();
                byte[] packet = Packets.udp4();
                for (int i = 0; i < 3; i++) {
                    assertThat(object.program("xdp_ringbuf").testRun(packet).retval())
                            .isEqualTo(XDP_PASS);
                }

                assertThat(ring.poll(Duration.ofSeconds(1))).isEqualTo(3);
                assertThat(seen).containsExactly(new Record(1, packet.length, 0x55667788),
                        new Record(2, packet.length, 0x55667788),
                        new Record(3, packet.length, 0x55667788));
                assertThat(ring.poll(Duration.ofMillis(10))).isZero();
                assertThat(ring.epollFd()).isPositive();
            }
        }
    }

    @Test
    void aFullRingRefusesRecordsUntilConsumed() {
        try (BpfObject object = loaded()) {
            List<Long> seqs = new ArrayList<>();
            try (RingBuffer ring = RingBuffer.open(object.map("records"),
                    data -> seqs.add(data.get(ValueLayout.JAVA_LONG, 0)))) {
                BpfProgram program = object.program("xdp_ringbuf");
                int written = 0;
                while (program.testRun(Packets.udp4()).retval() == XDP_PASS) {
                    written++;
                }
                // 4096 bytes hold 170 records of 16 bytes plus their 8-byte headers.
                assertThat(written).isEqualTo(4096 / (RECORD + 8));

                assertThat(ring.consume()).isEqualTo(written);
                assertThat(seqs).hasSize(written).startsWith(1L).endsWith((long) written);
                assertThat(program.testRun(Packets.udp4()).retval()).isEqualTo(XDP_PASS);
                assertThat(ring.consume()).isEqualTo(1);
            }
        }
    }

    @Test
    void recordsAreValidOnlyDuringTheCallback() {
        try (BpfObject object = loaded()) {
            AtomicReference<MemorySegment> kept = new AtomicReference<>();
            try (RingBuffer ring = RingBuffer.open(object.map("records"), kept::set)) {
                object.program("xdp_ringbuf").testRun(Packets.udp4());
                assertThat(ring.consume()).isEqualTo(1);
            }
            assertThatThrownBy(() -> kept.get().get(ValueLayout.JAVA_LONG, 0))
                    .isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void aFailingCallbackStopsThePollAndIsRethrown() {
        try (BpfObject object = loaded()) {
            List<Long> seqs = new ArrayList<>();
            try (RingBuffer ring = RingBuffer.open(object.map("records"), data -> {
                long seq = data.get(ValueLayout.JAVA_LONG, 0);
                if (seq == 2 && !seqs.contains(-2L)) {
                    seqs.add(-2L);
                    throw new IllegalArgumentException("bad record " + seq);
                }
                seqs.add(seq);
            })) {
                for (int i = 0; i < 3; i++) {
                    object.program("xdp_ringbuf").testRun(Packets.udp4());
                }
                assertThatThrownBy(() -> ring.poll(Duration.ofSeconds(1)))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("bad record 2");
                // The record that threw is consumed; the next poll goes on after it.
                assertThat(ring.poll(Duration.ofSeconds(1))).isEqualTo(1);
                assertThat(seqs).containsExactly(1L, -2L, 3L);
            }
        }
    }

    @Test
    void closeIsIdempotentAndOnlyRingBuffersOpen() {
        try (BpfObject object = loaded()) {
            RingBuffer ring = RingBuffer.open(object.map("records"), data -> {});
            ring.close();
            ring.close();
            assertThatThrownBy(() -> ring.poll(Duration.ZERO))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("is closed");
            assertThatThrownBy(() -> RingBuffer.open(object.map("counts"), data -> {}))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("is not a ring buffer");
        }
    }

    private static BpfObject loaded() {
        BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
        object.setRodata("cfg_marker", 0x1122334455667788L);
        object.load();
        return object;
    }
}
