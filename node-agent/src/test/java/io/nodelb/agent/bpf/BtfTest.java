package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Reading types from BTF: parsing only, so no privileges are needed (libbpf.so.1 is). */
class BtfTest {

    @Test
    void structsListTheirMembersWithOffsetsAndSizes() {
        try (Btf btf = Btf.parseElf(SampleObjects.path(SampleObjects.ABI_PROBE))) {
            Btf.Composite entry = btf.struct("nlb_ct_entry").orElseThrow();

            assertThat(entry.size()).isEqualTo(80);
            assertThat(entry.members()).extracting(Btf.Member::name).startsWith(
                    "nat_src", "nat_dst", "nat_sport", "nat_dport", "backend", "created_ns");
            Btf.Member port = entry.member("nat_dport").orElseThrow();
            assertThat(port.offset()).isEqualTo(34);
            assertThat(port.size()).isEqualTo(2);
            assertThat(port.declaredTypeName()).isEqualTo("__be16");
            assertThat(port.typeName()).isEqualTo("unsigned short");
            Btf.Member created = entry.member("created_ns").orElseThrow();
            assertThat(created.offset()).isEqualTo(40);
            assertThat(created.size()).isEqualTo(8);
            Btf.Member address = entry.member("nat_dst").orElseThrow();
            assertThat(address.kind()).isEqualTo(Btf.Kind.UNION);
            assertThat(address.typeName()).isEqualTo("nlb_addr");

            assertThat(btf.union("nlb_addr").orElseThrow().members())
                    .extracting(Btf.Member::name, Btf.Member::size)
                    .containsExactly(
                            org.assertj.core.groups.Tuple.tuple("v4", 4L),
                            org.assertj.core.groups.Tuple.tuple("v6", 16L),
                            org.assertj.core.groups.Tuple.tuple("bytes", 16L));
            assertThat(btf.names(Btf.Kind.STRUCT)).contains("nlb_listener_key", "nlb_ct_key");
            assertThat(btf.struct("nlb_nothing")).isEmpty();
            assertThat(btf.struct("nlb_addr")).as("a union is not a struct").isEmpty();
        }
    }

    @Test
    void enumsListTheirValuesInOrder() {
        try (Btf btf = Btf.parseElf(SampleObjects.path(SampleObjects.ABI_PROBE))) {
            assertThat(btf.enumerators("nlb_ct_state").orElseThrow()).containsExactly(
                    java.util.Map.entry("NLB_CT_SYN", 1L),
                    java.util.Map.entry("NLB_CT_ESTABLISHED", 2L),
                    java.util.Map.entry("NLB_CT_CLOSING", 3L),
                    java.util.Map.entry("NLB_CT_UDP", 4L));
        }
    }

    @Test
    void theKernelsOwnBtfParsesToo() {
        Path vmlinux = Path.of("/sys/kernel/btf/vmlinux");
        assumeThat(Files.isReadable(vmlinux)).as("kernel BTF").isTrue();
        try (Btf btf = Btf.parse(vmlinux)) {
            Btf.Composite xdpMd = btf.struct("xdp_md").orElseThrow();
            assertThat(xdpMd.member("data").orElseThrow().offset()).isZero();
            assertThat(xdpMd.member("ingress_ifindex").orElseThrow().offset()).isEqualTo(12);
        }
    }

    @Test
    void aMissingFileIsNotFoundAndAClosedBtfIsRefused() {
        assertThatThrownBy(() -> Btf.parseElf(Path.of("/nonexistent/nodelb.bpf.o")))
                .isInstanceOfSatisfying(BpfException.class, e -> {
                    assertThat(e.errno()).isEqualTo(Errno.ENOENT);
                    assertThat(e.operation()).isEqualTo("btf__parse_elf");
                });
        Btf btf = Btf.parseElf(SampleObjects.path(SampleObjects.ABI_PROBE));
        btf.close();
        btf.close();
        assertThatThrownBy(() -> btf.struct("nlb_route")).isInstanceOf(IllegalStateException.class);
    }
}
