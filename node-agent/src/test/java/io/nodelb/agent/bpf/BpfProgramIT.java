package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.nodelb.agent.testing.Privileged;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** Loading objects, configuring them before load, and running programs with BPF_PROG_TEST_RUN. */
@Privileged
class BpfProgramIT {
    private static final int XDP_DROP = 1;
    private static final int XDP_PASS = 2;
    private static final int COUNT_XDP = 0;
    private static final int MARKER = 2;

    @Test
    void xdpPassFromTheJarPassesThePacketUntouched() {
        try (BpfObject object = BpfObject.openResource(SampleObjects.XDP_PASS_RESOURCE)) {
            object.load();
            BpfProgram program = object.program("xdp_pass");
            byte[] packet = Packets.udp4();

            BpfProgram.TestRunResult result = program.testRun(packet);

            assertThat(result.retval()).isEqualTo(XDP_PASS);
            assertThat(result.output()).isEqualTo(packet);
            assertThat(object.name()).isEqualTo("xdp_pass");
        }
    }

    @Test
    void testRunCanBeCalledInALoopAndRepeated() {
        try (BpfObject object = BpfObject.openResource(SampleObjects.XDP_PASS_RESOURCE)) {
            object.load();
            BpfProgram program = object.program("xdp_pass");
            byte[] packet = Packets.udp4();
            for (int i = 0; i < 2_000; i++) {
                assertThat(program.testRun(packet).retval()).isEqualTo(XDP_PASS);
            }
            BpfProgram.TestRunResult repeated = program.testRun(packet, 1_000);
            assertThat(repeated.retval()).isEqualTo(XDP_PASS);
            assertThat(repeated.durationNs()).isLessThan(1_000_000); // mean per run, not total
            // A bigger packet grows the reused buffers.
            byte[] jumbo = new byte[3000];
            System.arraycopy(packet, 0, jumbo, 0, packet.length);
            assertThat(program.testRun(jumbo).output()).isEqualTo(jumbo);
        }
    }

    @Test
    void rodataVariablesConfigureTheProgramBeforeLoad() {
        try (BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
                Arena arena = Arena.ofConfined()) {
            object.setRodata("cfg_xdp_verdict", XDP_DROP);
            object.setRodata("cfg_marker", 0x1122334455667788L);
            object.load();

            BpfProgram.TestRunResult result = object.program("xdp_count").testRun(Packets.udp4());

            assertThat(result.retval()).isEqualTo(XDP_DROP);
            BpfMap counts = object.map("counts");
            assertThat(counter(counts, MARKER, arena)).isEqualTo(0x1122334455667788L);
            assertThat(counter(counts, COUNT_XDP, arena)).isEqualTo(1);
        }
    }

    @Test
    void rodataRefusesWhatCannotBeRight() {
        try (BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS))) {
            assertThatThrownBy(() -> object.setRodata("cfg_missing", 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("no .rodata variable cfg_missing");
            assertThatThrownBy(() -> object.setRodata("cfg_xdp_verdict", 1L << 32))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("does not fit test_progs: cfg_xdp_verdict (32 bits)");
            assertThatThrownBy(() -> object.setRodata("cfg_marker", new byte[4]))
                    .hasMessageContaining("cfg_marker is 8 bytes, the value 4");
            object.load();
            assertThatThrownBy(() -> object.setRodata("cfg_xdp_verdict", 2))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("after load");
        }
        try (BpfObject object = BpfObject.openResource(SampleObjects.XDP_PASS_RESOURCE)) {
            assertThatThrownBy(() -> object.setRodata("anything", 1))
                    .hasMessageContaining("no data section .rodata");
        }
    }

    @Test
    void verifierRejectionCarriesTheVerifierLog() {
        try (BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.VERIFIER_REJECT))) {
            assertThatThrownBy(object::load)
                    .isInstanceOfSatisfying(BpfException.class, e -> {
                        assertThat(e.errno()).isEqualTo(Errno.EACCES);
                        assertThat(e.operation()).isEqualTo("bpf_object__load");
                        assertThat(e.errnoText()).isEqualTo("Permission denied");
                        assertThat(e.libbpfLog()).contains("BEGIN PROG LOAD LOG");
                    })
                    .hasMessageContaining("bpf_object__load(verifier_reject): Permission denied (EACCES)")
                    .hasMessageContaining("xdp_unchecked_read")
                    .hasMessageContaining("invalid access to packet");
            assertThat(object.isLoaded()).isFalse();
        }
    }

    @Test
    void missingProgramsAndMapsAreNotFound() {
        try (BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS))) {
            assertThatThrownBy(() -> object.program("nope"))
                    .isInstanceOfSatisfying(BpfException.class,
                            e -> assertThat(e.isNotFound()).isTrue())
                    .hasMessageContaining("test_progs: nope");
            assertThatThrownBy(() -> object.map("nope"))
                    .isInstanceOfSatisfying(BpfException.class,
                            e -> assertThat(e.errno()).isEqualTo(Errno.ENOENT));
            assertThatThrownBy(() -> object.program("xdp_count").fd())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("not loaded");
        }
        assertThatThrownBy(() -> BpfObject.open("garbage", new byte[] {1, 2, 3}))
                .isInstanceOfSatisfying(BpfException.class,
                        e -> assertThat(e.operation()).isEqualTo("bpf_object__open_mem"));
        assertThatThrownBy(() -> BpfObject.openResource("io/nodelb/bpf/nope.bpf.o"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void mapsCanBeResizedBeforeLoadOnly() {
        try (BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
                Arena arena = Arena.ofConfined()) {
            BpfMap resizable = object.map("resizable");
            assertThat(resizable.maxEntries()).isEqualTo(16);
            resizable.setMaxEntries(100);
            object.load();

            assertThat(resizable.maxEntries()).isEqualTo(100);
            MemorySegment key = arena.allocate(4);
            MemorySegment value = arena.allocate(4);
            for (int i = 0; i < 100; i++) { // more than the 16 the C source declares
                key.set(ValueLayout.JAVA_INT, 0, i);
                value.set(ValueLayout.JAVA_INT, 0, i * 2);
                resizable.update(key, value, BpfMap.BPF_NOEXIST);
            }
            assertThatThrownBy(() -> resizable.setMaxEntries(200))
                    .isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void twoObjectsShareAMapThroughReuse() {
        try (BpfObject first = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
                BpfObject second = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
                Arena arena = Arena.ofConfined()) {
            first.load();
            second.map("counts").reuse(first.map("counts"));
            second.load();

            second.program("xdp_count").testRun(Packets.udp4(), 5);

            assertThat(counter(first.map("counts"), COUNT_XDP, arena)).isEqualTo(5);
        }
    }

    @Test
    void twoObjectsShareAMapThroughItsPinPath() throws Exception {
        try (PinDir pins = PinDir.create();
                BpfObject first = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
                BpfObject second = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
                Arena arena = Arena.ofConfined()) {
            first.map("counts").setPinPath(pins.resolve("counts"));
            first.load(); // creates and pins
            assertThat(Files.exists(pins.resolve("counts"))).isTrue();
            second.map("counts").setPinPath(pins.resolve("counts"));
            second.load(); // finds the pin and uses it

            second.program("xdp_count").testRun(Packets.udp4(), 3);

            try (BpfMap pinned = BpfMap.openPinned(pins.resolve("counts"))) {
                assertThat(counter(pinned, COUNT_XDP, arena)).isEqualTo(3);
            }
            assertThat(counter(first.map("counts"), COUNT_XDP, arena)).isEqualTo(3);
        }
    }

    @Test
    void perCpuCountersAddUpToTheRuns() {
        try (BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
                Arena arena = Arena.ofConfined()) {
            object.load();
            object.program("xdp_count").testRun(Packets.udp4(), 7);
            object.program("xdp_count").testRun(Packets.udp4(), 4);

            BpfMap perCpu = object.map("percpu_counts");
            MemorySegment key = arena.allocate(4);
            MemorySegment values = perCpu.allocateValue(arena);
            assertThat(perCpu.isPerCpu()).isTrue();
            assertThat(values.byteSize()).isEqualTo(8L * LibBpf.possibleCpus());
            assertThat(perCpu.lookup(key, values)).isTrue();
            assertThat(perCpu.sumPerCpu(values, 0)).isEqualTo(11);
        }
    }

    @Test
    void closingIsIdempotentAndEndsUse() {
        BpfObject object = BpfObject.openFile(SampleObjects.path(SampleObjects.TEST_PROGS));
        object.load();
        BpfMap counts = object.map("counts");
        BpfProgram program = object.program("xdp_count");
        object.close();
        object.close();

        assertThat(object.isClosed()).isTrue();
        assertThatThrownBy(counts::fd).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> program.testRun(Packets.udp4()))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> object.map("counts")).isInstanceOf(IllegalStateException.class);
    }

    static long counter(BpfMap counts, int slot, Arena arena) {
        MemorySegment key = arena.allocateFrom(ValueLayout.JAVA_INT, slot);
        MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
        assertThat(counts.lookup(key, value)).isTrue();
        return value.get(ValueLayout.JAVA_LONG, 0);
    }
}
