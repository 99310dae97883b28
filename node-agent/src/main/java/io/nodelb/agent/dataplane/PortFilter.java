package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Map;

/**
 * A set of ports as the data plane's bitmaps hold it: bit {@code p % 64} of word
 * {@code p / 64}. The programs test one bit before doing any map lookup, which
 * keeps traffic that is not ours at a parse and one load. The ingress filter also holds,
 * after the port words, a hashed set of destination addresses (nodelb_abi.h,
 * NLB_DADDR_WORDS): a packet to another address of the node on a listener port stops there.
 */
public final class PortFilter {

    public enum Direction {
        /** Destination ports the XDP program looks at: listener ports and FullNAT source ports. */
        INGRESS,
        /** Source ports the TC program looks at: backend ports. */
        EGRESS
    }

    /** Port words, then address words (the egress map has only the port words; its address words stay 0). */
    public static final int WORDS = Abi.PORT_WORDS + Abi.DADDR_WORDS;

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

    /** Lets packets to this destination address through the ingress address filter. */
    public void addAddress(InetAddress address) {
        int bit = addressBit(address);
        words[Abi.PORT_WORDS + (bit >>> 6)] |= 1L << (bit & 63);
    }

    /** The addresses of these listeners and, of FullNAT ones, the SNAT addresses their replies come back to. */
    public void addAddresses(Map<Abi.ListenerKey, Abi.Listener> listeners) {
        listeners.forEach((key, listener) -> {
            addAddress(key.address());
            if ((listener.flags() & Abi.LISTENER_FULLNAT) != 0 && listener.snatAddress() != null) {
                addAddress(listener.snatAddress());
            }
        });
    }

    /** The address words' bits set here and not in {@code other}; all zero when there are none. */
    public long[] addressBitsNotIn(PortFilter other) {
        long[] out = new long[Abi.DADDR_WORDS];
        for (int w = 0; w < Abi.DADDR_WORDS; w++) {
            out[w] = words[Abi.PORT_WORDS + w] & ~other.words[Abi.PORT_WORDS + w];
        }
        return out;
    }

    /** A copy of this filter that also lets these destination addresses through. */
    public PortFilter withAddresses(java.util.Collection<InetAddress> addresses) {
        PortFilter f = ofWords(words);
        addresses.forEach(f::addAddress);
        return f;
    }

    public boolean containsAddress(InetAddress address) {
        int bit = addressBit(address);
        return (words[Abi.PORT_WORDS + (bit >>> 6)] & (1L << (bit & 63))) != 0;
    }

    /** daddr_in_set's bit (bpf/lib/stats.h): the address's four 32-bit words as the program loads them. */
    public static int addressBit(InetAddress address) {
        ByteBuffer b = ByteBuffer.wrap(Arrays.copyOf(address.getAddress(), 16)).order(ByteOrder.nativeOrder());
        int h = (b.getInt(0) ^ b.getInt(4) ^ b.getInt(8) ^ b.getInt(12)) * Abi.DADDR_MUL;
        return (h ^ (h >>> 16)) & (Abi.DADDR_WORDS * 64 - 1);
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
