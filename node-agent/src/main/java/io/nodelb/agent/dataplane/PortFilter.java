package io.nodelb.agent.dataplane;

import java.util.Arrays;

/**
 * A set of ports as the data plane's bitmaps hold it: bit {@code p % 64} of word
 * {@code p / 64}. The programs test one bit before doing any map lookup, which
 * keeps traffic that is not ours at a parse and one load.
 */
public final class PortFilter {

    public enum Direction {
        /** Destination ports the XDP program looks at: listener ports and FullNAT source ports. */
        INGRESS,
        /** Source ports the TC program looks at: backend ports. */
        EGRESS
    }

    public static final int WORDS = 1024;

    private final long[] words = new long[WORDS];

    /** The filter as the maps hold it, word by word. */
    public static PortFilter ofWords(long[] words) {
        PortFilter f = new PortFilter();
        System.arraycopy(words, 0, f.words, 0, WORDS);
        return f;
    }

    public void add(int port) {
        words[port >>> 6] |= 1L << (port & 63);
    }

    public void addRange(int from, int to) {
        for (int p = from; p <= to; p++) {
            add(p);
        }
    }

    public boolean contains(int port) {
        return (words[port >>> 6] & (1L << (port & 63))) != 0;
    }

    public long word(int index) {
        return words[index];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PortFilter other && Arrays.equals(words, other.words);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(words);
    }
}
