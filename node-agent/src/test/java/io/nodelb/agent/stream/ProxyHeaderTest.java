package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** Bytes as HAProxy's proxy-protocol.txt (2.8) gives them, written out by hand from the spec. */
class ProxyHeaderTest {
    private static InetSocketAddress at(String ip, int port) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(ip), port);
    }

    @Test
    void v1IsOneLineOfText() throws Exception {
        assertThat(new String(ProxyHeader.v1(at("192.0.2.10", 51000), at("198.51.100.7", 443)), StandardCharsets.US_ASCII))
            .isEqualTo("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n");
        assertThat(new String(ProxyHeader.v1(at("2001:db8:0:0:0:0:0:10", 1), at("2001:db8::7", 65535)),
            StandardCharsets.US_ASCII)).isEqualTo("PROXY TCP6 2001:db8::10 2001:db8::7 1 65535\r\n");
    }

    @Test
    void v1StaysWithinTheSpecsLongestLine() throws Exception {
        byte[] longest = ProxyHeader.v1(at("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff1", 65535),
            at("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff2", 65535));
        assertThat(longest.length).isEqualTo(104); // the spec's worst case: 107 with "UNKNOWN"
    }

    @Test
    void v2Ipv4WithoutTlvs() throws Exception {
        assertThat(HexFormat.of().formatHex(ProxyHeader.v2(at("192.0.2.10", 51000), at("198.51.100.7", 443), null, null)))
            .isEqualTo("0d0a0d0a000d0a515549540a" // signature
                + "21" + "11" + "000c"                   // v2 PROXY, TCP over IPv4, 12 bytes follow
                + "c000020a" + "c6336407" + "c738" + "01bb");
    }

    @Test
    void v2Ipv6WithAuthorityAndUniqueId() throws Exception {
        byte[] header = ProxyHeader.v2(at("2001:db8::10", 40000), at("2001:db8::7", 443), "api.example.com",
            new byte[] {1, 2, 3, 4});
        assertThat(HexFormat.of().formatHex(header))
            .isEqualTo("0d0a0d0a000d0a515549540a" + "21" + "21"
                + String.format("%04x", 36 + 3 + 15 + 3 + 4)
                + "20010db8000000000000000000000010" + "20010db8000000000000000000000007" + "9c40" + "01bb"
                + "02" + "000f" + HexFormat.of().formatHex("api.example.com".getBytes(StandardCharsets.US_ASCII))
                + "05" + "0004" + "01020304");
    }

    @Test
    void familiesMustAgreeAndAUniqueIdIsBounded() throws Exception {
        assertThatThrownBy(() -> ProxyHeader.v1(at("192.0.2.1", 1), at("2001:db8::1", 2)))
            .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ProxyHeader.v2(at("192.0.2.1", 1), at("192.0.2.2", 2), null, new byte[129]))
            .isInstanceOf(IllegalArgumentException.class);
        assertThat(ProxyHeader.v2(at("192.0.2.1", 1), at("192.0.2.2", 2), null, new byte[128])).hasSize(16 + 12 + 3 + 128);
    }
}
