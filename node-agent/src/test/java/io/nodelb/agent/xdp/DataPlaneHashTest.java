package io.nodelb.agent.xdp;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The tests' copy of the selection hash against answers of the reference implementation
 * (Guava 33.6 {@code Hashing.murmur3_32_fixed().hashBytes(..).asInt()}, computed once).
 */
class DataPlaneHashTest {

    @Test
    void murmur3MatchesTheReference() {
        assertThat(DataPlaneHash.murmur3(new byte[0])).isZero();
        assertThat(DataPlaneHash.murmur3(ascii("hello"))).isEqualTo(0x248bfa47);
        assertThat(DataPlaneHash.murmur3(ascii("foo"))).isEqualTo(0xf6a5c420);
    }

    @Test
    void flowAndSourceKeysAreLaidOutAsTheReadmeSays() throws Exception {
        InetAddress client4 = InetAddress.getByName("198.51.100.7");
        assertThat(DataPlaneHash.flow(client4, 40000, InetAddress.getByName("203.0.113.10"), 80, 6))
                .isEqualTo(0xd764d357);
        assertThat(DataPlaneHash.source(client4)).isEqualTo(0x50cf2338);
        assertThat(DataPlaneHash.flow(InetAddress.getByName("2001:db8:100::7"), 40000,
                InetAddress.getByName("2001:db8:f::10"), 53, 17)).isEqualTo(0xb534f73e);
    }

    @Test
    void fastrangeCoversTheWholeRange() {
        assertThat(DataPlaneHash.fastrange(0, 4093)).isZero();
        assertThat(DataPlaneHash.fastrange(-1, 4093)).isEqualTo(4092);
        assertThat(DataPlaneHash.firstNatPort(0, 61000, 61999)).isEqualTo(61000);
        assertThat(DataPlaneHash.firstNatPort(-1, 61000, 61999)).isEqualTo(61999);
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }
}
