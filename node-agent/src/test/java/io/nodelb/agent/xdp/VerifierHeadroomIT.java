package io.nodelb.agent.xdp;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.BpfObject;
import io.nodelb.agent.bpf.BpfProgram;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.testing.Privileged;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The verifier's headroom: how many instructions it processes for the ingress program in each
 * configuration the agent and the tests load, against the kernel's limit of 1,000,000. A change
 * that takes a configuration past the limit fails to load everywhere; one that comes within 5 %
 * of it fails here first, since another kernel may count differently (bpf/README.md, "nlb_xdp").
 */
@Privileged
class VerifierHeadroomIT {

    private static final long KERNEL_LIMIT = 1_000_000;
    private static final long MOST = KERNEL_LIMIT * 95 / 100;
    private static final Pattern PROCESSED = Pattern.compile("^processed (\\d+) insns");

    static Stream<Arguments> configurations() {
        return Stream.of(
                // The agent's default --xdp-forward=auto turns the fast path on (lib/fastpath.h): the larger program.
                Arguments.of("the agent's defaults", DesiredState.Limits.defaults(), Map.of("cfg_xdp_forward", 1L)),
                Arguments.of("the agent's defaults, --xdp-forward=off", DesiredState.Limits.defaults(), Map.of()),
                Arguments.of("ConntrackExpiryIT's short timeouts", new DesiredState.Limits(4093, 64, 32, 1024, 61000,
                        61003), Map.of("cfg_timeout_syn_ns", 100_000_000L, "cfg_timeout_established_ns",
                        600_000_000L, "cfg_timeout_closing_ns", 100_000_000L, "cfg_timeout_udp_ns", 100_000_000L,
                        "cfg_xdp_forward", 1L)),
                Arguments.of("every SYN stale (the benchmark's)", DesiredState.Limits.defaults(),
                        Map.of("cfg_timeout_syn_ns", -1L, "cfg_xdp_forward", 1L)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configurations")
    void theIngressProgramStaysWithinTheVerifiersLimit(String name, DesiredState.Limits limits,
            Map<String, Long> rodata) {
        try (BpfObject xdp = BpfObject.openResource("io/nodelb/bpf/xdp_lb.bpf.o")) {
            // As BpfDataPlane configures it; the flow table small: its size does not change what is verified.
            xdp.setRodata("cfg_table_size", limits.tableSize());
            xdp.setRodata("cfg_nat_port_min", limits.snatPortMin());
            xdp.setRodata("cfg_nat_port_max", limits.snatPortMax());
            rodata.forEach(xdp::setRodata);
            xdp.map("nlb_conntrack").setMaxEntries(4096);
            xdp.map("nlb_ct_embryonic").setMaxEntries(1024);
            BpfProgram program = xdp.program("nlb_xdp");
            program.keepVerifierStats();
            xdp.load();

            String stats = program.verifierStats();
            Matcher m = PROCESSED.matcher(stats);
            assertThat(m.find()).as("the verifier's statistics: '%s'", stats).isTrue();
            long processed = Long.parseLong(m.group(1));
            System.out.printf("nlb_xdp, %s: %s%n", name, stats);
            assertThat(processed).as("instructions the verifier processed, %s (limit %d)", name, KERNEL_LIMIT)
                    .isPositive().isLessThan(MOST);
        }
    }
}
