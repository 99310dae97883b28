package io.nodelb.agent.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;

/** How the ABI records lay themselves out in memory: byte for byte, no kernel needed. */
class AbiTest {

    @Test
    void listenerKeyIsAddressThenPortInNetworkOrderThenProtoAndFamily() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(Abi.ListenerKey.LAYOUT);
            key.fill((byte) 0x5a); // writers must clear what was there
            Abi.ListenerKey.write(key, InetAddress.getByName("10.0.0.1"), 8080, Abi.IPPROTO_TCP);

            assertThat(key.toArray(ValueLayout.JAVA_BYTE)).containsExactly(
                    10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // addr, IPv4 then zeros
                    0x1f, (byte) 0x90, // 8080 big-endian
                    6, 4); // TCP, NLB_FAMILY_IPV4
            assertThat(Abi.ListenerKey.readFrom(key)).isEqualTo(
                    new Abi.ListenerKey(InetAddress.getByName("10.0.0.1"), 8080, Abi.IPPROTO_TCP));
        }
    }

    @Test
    void ipv6AddressesFillAllSixteenBytes() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(Abi.Backend.LAYOUT);
            InetAddress address = InetAddress.getByName("fd00::1:2");
            new Abi.Backend(address, 53).writeTo(value);

            assertThat(value.asSlice(0, 16).toArray(ValueLayout.JAVA_BYTE))
                    .isEqualTo(address.getAddress());
            assertThat(value.get(ValueLayout.JAVA_BYTE, 18)).isEqualTo((byte) Abi.FAMILY_IPV6);
            assertThat(Abi.Backend.readFrom(value)).isEqualTo(new Abi.Backend(address, 53));
        }
    }

    @Test
    void routeKeyCountsTheListenerBitsAndClearsHostBits() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(Abi.RouteKey.LAYOUT);
            Abi.RouteKey.write(key, 7, InetAddress.getByName("10.1.2.3"), 16);

            assertThat(key.get(ValueLayout.JAVA_INT, 0)).isEqualTo(32 + 16);
            assertThat(key.get(ValueLayout.JAVA_INT, 4)).isEqualTo(7);
            assertThat(Abi.RouteKey.readFrom(key, Abi.FAMILY_IPV4)).isEqualTo(
                    new Abi.RouteKey(7, InetAddress.getByName("10.1.0.0"), 16));
        }
    }

    @Test
    void conntrackEntryRoundTrips() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(Abi.CtKey.LAYOUT);
            MemorySegment value = arena.allocate(Abi.CtEntry.LAYOUT);
            Abi.CtKey flow = new Abi.CtKey(InetAddress.getByName("192.0.2.10"), 40000,
                    InetAddress.getByName("198.51.100.1"), 443, Abi.IPPROTO_TCP);
            Abi.CtEntry entry = new Abi.CtEntry(InetAddress.getByName("192.0.2.10"),
                    InetAddress.getByName("10.0.0.7"), 40000, 8443, 12, 1_000L, 2_000L, 3, 180,
                    Abi.CT_ESTABLISHED, Abi.CT_FULLNAT, 4);
            flow.writeTo(key);
            entry.writeTo(value);

            assertThat(key.get(Abi.BE16, 32)).isEqualTo((short) 40000);
            assertThat(Abi.CtKey.readFrom(key)).isEqualTo(flow);
            assertThat(Abi.CtEntry.readFrom(value, flow.family())).isEqualTo(entry);
        }
    }

    @Test
    void perCpuStatsAddUp() {
        try (Arena arena = Arena.ofConfined()) {
            int cpus = 3;
            MemorySegment values = arena.allocate(Abi.BackendStats.LAYOUT.byteSize() * cpus, 8);
            for (int cpu = 0; cpu < cpus; cpu++) {
                new Abi.BackendStats(1, 100, cpu, 2, 200, 1, cpu)
                        .writeTo(values.asSlice(cpu * Abi.BackendStats.LAYOUT.byteSize()));
            }
            assertThat(Abi.BackendStats.sumPerCpu(values, cpus))
                    .isEqualTo(new Abi.BackendStats(3, 300, 3, 6, 600, 3, 3));
        }
    }

    @Test
    void badInputIsRefusedWithAReason() throws Exception {
        InetAddress v4 = InetAddress.getByName("10.0.0.1");
        InetAddress v6 = InetAddress.getByName("::1");
        assertThatThrownBy(() -> new Abi.ListenerKey(v4, 70000, Abi.IPPROTO_TCP))
                .hasMessageContaining("port 70000");
        assertThatThrownBy(() -> new Abi.ListenerKey(v4, 80, 132))
                .hasMessageContaining("neither TCP (6) nor UDP (17)");
        // A VIP's echo entry: port 0 and its family's ICMP only.
        assertThatThrownBy(() -> new Abi.ListenerKey(v4, 80, Abi.IPPROTO_ICMP))
                .hasMessageContaining("an echo entry has port 0");
        assertThatThrownBy(() -> new Abi.ListenerKey(v6, 0, Abi.IPPROTO_ICMP))
                .hasMessageContaining("an echo entry has port 0 and the address family's ICMP");
        assertThat(Abi.ListenerKey.echo(v6)).isEqualTo(new Abi.ListenerKey(v6, 0, Abi.IPPROTO_ICMPV6));
        assertThatThrownBy(() -> new Abi.RouteKey(1, v4, 33))
                .hasMessageContaining("prefix length 33");
        assertThatThrownBy(() -> new Abi.CtKey(v4, 1, v6, 2, Abi.IPPROTO_UDP))
                .hasMessageContaining("mixed families");
        assertThatThrownBy(() -> new Abi.Listener(1, 1, 0, 2000, 1000, null))
                .hasMessageContaining("is empty");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tooSmall = arena.allocate(8);
            assertThatThrownBy(() -> Abi.ListenerKey.write(tooSmall, v4, 80, Abi.IPPROTO_TCP))
                    .hasMessageContaining("nlb_listener_key needs 20 bytes");
            MemorySegment zeros = arena.allocate(Abi.Backend.LAYOUT);
            assertThatThrownBy(() -> Abi.Backend.readFrom(zeros))
                    .hasMessageContaining("unknown address family 0 in nlb_backend");
        }
    }
}
