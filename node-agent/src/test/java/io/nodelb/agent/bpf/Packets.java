package io.nodelb.agent.bpf;

import java.nio.ByteBuffer;

/** Hand-built frames for test runs. */
final class Packets {
    private Packets() {}

    /** Ethernet + IPv4 + UDP 192.0.2.1:40000 -> 198.51.100.1:53 with a short payload. */
    static byte[] udp4() {
        ByteBuffer frame = ByteBuffer.allocate(14 + 20 + 8 + 6);
        frame.put(new byte[] {2, 0, 0, 0, 0, 2}).put(new byte[] {2, 0, 0, 0, 0, 1})
                .putShort((short) 0x0800);
        frame.put((byte) 0x45).put((byte) 0).putShort((short) (20 + 8 + 6)) // version/IHL, TOS, length
                .putShort((short) 1).putShort((short) 0x4000) // id, don't fragment
                .put((byte) 64).put((byte) 17).putShort((short) 0) // TTL, UDP, checksum (unchecked)
                .put(new byte[] {(byte) 192, 0, 2, 1}).put(new byte[] {(byte) 198, 51, 100, 1});
        frame.putShort((short) 40000).putShort((short) 53).putShort((short) (8 + 6)).putShort((short) 0);
        frame.put("nodelb".getBytes());
        return frame.array();
    }
}
