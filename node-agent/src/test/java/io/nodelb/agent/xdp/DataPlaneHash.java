package io.nodelb.agent.xdp;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The selection arithmetic of bpf/README.md ("Hash"), written from the README so the tests can
 * predict which backend and which FullNAT port a flow gets: MurmurHash3 x86_32 with seed 0,
 * the flow and source keys, fastrange onto the table, the first FullNAT port of a flow.
 */
final class DataPlaneHash {

    private DataPlaneHash() {}

    /** MurmurHash3 x86_32, seed 0, little-endian words (what Guava's murmur3_32_fixed computes). */
    static int murmur3(byte[] data) {
        ByteBuffer words = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int h = 0;
        while (words.remaining() >= 4) {
            h ^= mixK(words.getInt());
            h = Integer.rotateLeft(h, 13) * 5 + 0xe6546b64;
        }
        int k = 0;
        for (int i = words.remaining() - 1; i >= 0; i--) {
            k = (k << 8) | (data[words.position() + i] & 0xff);
        }
        if (words.hasRemaining()) {
            h ^= mixK(k);
        }
        h ^= data.length;
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        h ^= h >>> 16;
        return h;
    }

    private static int mixK(int k) {
        k *= 0xcc9e2d51;
        k = Integer.rotateLeft(k, 15);
        return k * 0x1b873593;
    }

    /** The flow hash: src addr, dst addr, sport, dport (as on the wire), proto, 0, 0, 0. */
    static int flow(InetAddress src, int sport, InetAddress dst, int dport, int proto) {
        byte[] s = src.getAddress();
        byte[] d = dst.getAddress();
        ByteBuffer key = ByteBuffer.allocate(2 * s.length + 8).order(ByteOrder.BIG_ENDIAN);
        key.put(s).put(d).putShort((short) sport).putShort((short) dport).put((byte) proto);
        return murmur3(key.array());
    }

    /** The source hash of session persistence: the client address alone. */
    static int source(InetAddress src) {
        return murmur3(src.getAddress());
    }

    /** fastrange: the hash mapped onto [0, n) by a multiply. */
    static int fastrange(int hash, int n) {
        return (int) ((Integer.toUnsignedLong(hash) * n) >>> 32);
    }

    /** The first FullNAT source port a flow tries: min + fastrange(rol32(hash, 16), max - min + 1). */
    static int firstNatPort(int flowHash, int min, int max) {
        return min + fastrange(Integer.rotateLeft(flowHash, 16), max - min + 1);
    }
}
