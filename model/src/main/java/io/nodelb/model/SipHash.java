package io.nodelb.model;

/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012), 64-bit output, written from the paper's
 * description. It is keyed, fast on short inputs and well distributed, and the result
 * depends only on the key and the bytes: the same on every JVM and machine.
 */
public final class SipHash {

    private SipHash() {}

    /**
     * Hashes {@code data} with the 128-bit key {@code (k0, k1)}; {@code k0} holds key bytes
     * 0..7 and {@code k1} bytes 8..15, each read little-endian as the paper specifies.
     */
    public static long hash24(long k0, long k1, byte[] data) {
        State s = new State(k0, k1);
        int length = data.length;
        int wholeWords = length - (length % 8);
        for (int i = 0; i < wholeWords; i += 8) {
            s.compress(littleEndianLong(data, i));
        }
        // The last word carries the remaining bytes and the length modulo 256 in its top byte.
        long last = ((long) length) << 56;
        for (int i = wholeWords; i < length; i++) {
            last |= (data[i] & 0xffL) << (8 * (i - wholeWords));
        }
        s.compress(last);
        return s.finish();
    }

    private static long littleEndianLong(byte[] data, int at) {
        long value = 0;
        for (int i = 7; i >= 0; i--) {
            value = (value << 8) | (data[at + i] & 0xffL);
        }
        return value;
    }

    /** The four 64-bit state words and the SipRound permutation. */
    private static final class State {
        private long v0;
        private long v1;
        private long v2;
        private long v3;

        State(long k0, long k1) {
            // "somepseudorandomlygeneratedbytes", the initialisation constants of the paper.
            v0 = 0x736f6d6570736575L ^ k0;
            v1 = 0x646f72616e646f6dL ^ k1;
            v2 = 0x6c7967656e657261L ^ k0;
            v3 = 0x7465646279746573L ^ k1;
        }

        /** Two compression rounds per message word: the "2" of SipHash-2-4. */
        void compress(long word) {
            v3 ^= word;
            round();
            round();
            v0 ^= word;
        }

        /** Four finalisation rounds: the "4" of SipHash-2-4. */
        long finish() {
            v2 ^= 0xff;
            round();
            round();
            round();
            round();
            return v0 ^ v1 ^ v2 ^ v3;
        }

        private void round() {
            v0 += v1;
            v1 = Long.rotateLeft(v1, 13);
            v1 ^= v0;
            v0 = Long.rotateLeft(v0, 32);
            v2 += v3;
            v3 = Long.rotateLeft(v3, 16);
            v3 ^= v2;
            v0 += v3;
            v3 = Long.rotateLeft(v3, 21);
            v3 ^= v0;
            v2 += v1;
            v1 = Long.rotateLeft(v1, 17);
            v1 ^= v2;
            v2 = Long.rotateLeft(v2, 32);
        }
    }
}
