package io.nodelb.agent.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.BpfException;
import io.nodelb.agent.bpf.Errno;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which required capabilities a process lacks, read as the kernel shows them in /proc/self/status. */
class CapabilitiesTest {

    private static final long NET_ADMIN = 1L << 12;
    private static final long PERFMON = 1L << 38;
    private static final long BPF = 1L << 39;

    @Test
    void readsTheEffectiveSetFromProcStatus(@TempDir Path dir) throws Exception {
        Path status = dir.resolve("status");
        Files.writeString(status, "Name:\tjava\nCapInh:\t0000000000000000\nCapPrm:\t000000c000001000\n"
                + "CapEff:\t000000c000001000\nCapBnd:\t000000c000001000\n");

        assertThat(Capabilities.effective(status)).hasValue(BPF | PERFMON | NET_ADMIN);
        assertThat(Capabilities.missing(BPF | PERFMON | NET_ADMIN)).isEmpty();
    }

    @Test
    void namesEachMissingCapabilityWithItsReason() {
        assertThat(Capabilities.explain(OptionalLong.of(PERFMON | NET_ADMIN)))
                .first().asString().startsWith("this process lacks CAP_BPF; the agent needs CAP_BPF, CAP_NET_ADMIN,"
                        + " CAP_PERFMON");
        assertThat(Capabilities.explain(OptionalLong.of(BPF)))
                .anySatisfy(line -> assertThat(line).startsWith("  CAP_NET_ADMIN: load XDP and TC programs"))
                .anySatisfy(line -> assertThat(line).startsWith("  CAP_PERFMON: the verifier"));
        assertThat(Capabilities.explain(OptionalLong.of(BPF | PERFMON | NET_ADMIN))).isEmpty();
        assertThat(Capabilities.explain(OptionalLong.empty())).isEmpty();
    }

    @Test
    void onlyAKernelRefusalIsExplained() {
        assertThat(Capabilities.explain(new IllegalStateException("no such interface"))).isEmpty();
        assertThat(Capabilities.explain(new IllegalStateException("wrapped",
                new BpfException("bpf_object__load", "xdp_lb", Errno.EBUSY, null)))).isEmpty();
    }
}
