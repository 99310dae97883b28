package io.nodelb.agent.packet;

import java.util.HexFormat;

/**
 * Frames captured from the Linux 6.18 stack (tcpdump on a veth pair between two network
 * namespaces, transmit checksum offload off, so the kernel wrote every checksum in software).
 * They are the outside reference for {@link Checksums} and {@link PacketBuilder}: neither
 * produced them. Client 02:00:00:00:00:0a / 192.0.2.1 / 2001:db8::1, server 02:00:00:00:00:0b /
 * 192.0.2.2 / 2001:db8::2.
 */
final class KernelFrames {

    private KernelFrames() {}

    /** UDP 192.0.2.1:40000 -> 192.0.2.2:5353, "hello nodelb", IP id 0x8400, DF. */
    static final byte[] UDP4 = hex("02000000000b02000000000a08004500002884004000401132c1c0000201c0000202"
            + "9c4014e90014476f68656c6c6f206e6f64656c62");

    /** UDP [2001:db8::1]:40001 -> [2001:db8::2]:5353, "odd-length!" (11 bytes), flow label 0x2fe5d. */
    static final byte[] UDP6 = hex("02000000000b02000000000a86dd6002fe5d0013114020010db8000000000000000000"
            + "00000120010db80000000000000000000000029c4114e90013af616f64642d6c656e67746821");

    /** TCP SYN 192.0.2.1:40002 -> 192.0.2.2:8080 with MSS, SACK-permitted, timestamps, window scale. */
    static final byte[] TCP4_SYN = hex("02000000000b02000000000a08004500003ce42240004006d295c0000201c0000202"
            + "9c421f909548f37f00000000a002faf006970000020405b40402080af98d8448000000000103030a");

    /** The server's answer to {@link #TCP4_SYN}: RST+ACK, no port listening. */
    static final byte[] TCP4_RST = hex("02000000000a02000000000b080045000028000040004006b6ccc0000202c0000201"
            + "1f909c42000000009548f38050140000e7300000");

    /** TCP SYN [2001:db8::1]:40002 -> [2001:db8::2]:8080 with options, flow label 0x47e0c. */
    static final byte[] TCP6_SYN = hex("02000000000b02000000000a86dd60047e0c0028064020010db8000000000000000000"
            + "00000120010db80000000000000000000000029c421f90e8d4350900000000a002fd2007200000020405a00402080acce1"
            + "41c9000000000103030a");

    static byte[] hex(String text) {
        return HexFormat.of().parseHex(text);
    }
}
