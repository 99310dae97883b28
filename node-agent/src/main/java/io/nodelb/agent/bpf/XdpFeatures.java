package io.nodelb.agent.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.OptionalLong;

/**
 * An interface's XDP features as the kernel reports them (the "netdev" generic netlink family,
 * Linux 6.3+; libbpf 1.1 has no call for it): {@link #NDO_XMIT} says frames redirected into the
 * interface are sent, not dropped. For a veth the kernel sets it only while the peer runs an XDP
 * program or has GRO on (drivers/net/veth.c, veth_set_xdp_features), the condition under which
 * its veth_xdp_xmit accepts frames.
 */
public final class XdpFeatures {
    private XdpFeatures() {}

    /** enum netdev_xdp_act: the interface implements ndo_xdp_xmit and can take redirected frames now. */
    public static final long NDO_XMIT = 1L << 2;

    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_GENERIC = 16;
    private static final short NLM_F_REQUEST = 1;
    private static final short NLMSG_ERROR = 2;
    private static final short GENL_ID_CTRL = 0x10;
    private static final byte CTRL_CMD_GETFAMILY = 3;
    private static final short CTRL_ATTR_FAMILY_ID = 1;
    private static final short CTRL_ATTR_FAMILY_NAME = 2;
    private static final byte NETDEV_CMD_DEV_GET = 1;
    private static final short NETDEV_A_DEV_IFINDEX = 1;
    private static final short NETDEV_A_DEV_XDP_FEATURES = 3;
    private static final int HEADERS = 16 + 4; // struct nlmsghdr + struct genlmsghdr

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle socket = handle("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle send = handle("send", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle recv = handle("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle close = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private static MethodHandle handle(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), descriptor);
    }

    /**
     * The features (enum netdev_xdp_act bits) of the interface with this index in the caller's
     * network namespace; empty when the kernel cannot say (no netdev family: before 6.3; no such
     * interface).
     */
    public static OptionalLong of(int ifindex) {
        int fd;
        try {
            fd = (int) socket.invokeExact(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (fd < 0) {
            return OptionalLong.empty();
        }
        try (Arena arena = Arena.ofConfined()) {
            byte[] name = "netdev\0".getBytes(StandardCharsets.US_ASCII);
            MemorySegment reply = request(arena, fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, name);
            OptionalLong family = reply == null ? OptionalLong.empty() : attribute(reply, CTRL_ATTR_FAMILY_ID);
            if (family.isEmpty()) {
                return OptionalLong.empty();
            }
            byte[] index = new byte[4];
            MemorySegment.ofArray(index).set(JAVA_INT_UNALIGNED, 0, ifindex);
            reply = request(arena, fd, (short) family.getAsLong(), NETDEV_CMD_DEV_GET, NETDEV_A_DEV_IFINDEX, index);
            return reply == null ? OptionalLong.empty() : attribute(reply, NETDEV_A_DEV_XDP_FEATURES);
        } finally {
            try {
                int ignored = (int) close.invokeExact(fd);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }

    /** Whether frames redirected into the interface are sent: false when unknown. */
    public static boolean canReceiveRedirects(int ifindex) {
        OptionalLong features = of(ifindex);
        return features.isPresent() && (features.getAsLong() & NDO_XMIT) != 0;
    }

    /** Sends one request with one attribute; the answer's message, or null for an error answer. */
    private static MemorySegment request(Arena arena, int fd, short type, byte command, short attribute, byte[] value) {
        int attrLength = 4 + value.length;
        int length = HEADERS + align(attrLength);
        MemorySegment msg = arena.allocate(length, 4);
        msg.set(JAVA_INT, 0, length);
        msg.set(JAVA_SHORT, 4, type);
        msg.set(JAVA_SHORT, 6, NLM_F_REQUEST);
        msg.set(JAVA_INT, 8, 1); // sequence
        msg.set(JAVA_BYTE, 16, command);
        msg.set(JAVA_BYTE, 17, (byte) 1); // version
        msg.set(JAVA_SHORT, HEADERS, (short) attrLength);
        msg.set(JAVA_SHORT, HEADERS + 2, attribute);
        MemorySegment.copy(value, 0, msg, JAVA_BYTE, HEADERS + 4, value.length);
        MemorySegment buffer = arena.allocate(16384, 4);
        try {
            long sent = (long) send.invokeExact(fd, msg, (long) length, 0);
            if (sent != length) {
                return null;
            }
            long received = (long) recv.invokeExact(fd, buffer, buffer.byteSize(), 0);
            if (received < HEADERS || buffer.get(JAVA_SHORT, 4) == NLMSG_ERROR) {
                return null;
            }
            return buffer.asSlice(0, Math.min(received, Integer.toUnsignedLong(buffer.get(JAVA_INT, 0))));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** A u16, u32 or u64 attribute of an answer, by type. */
    private static OptionalLong attribute(MemorySegment reply, short type) {
        long at = HEADERS;
        while (at + 4 <= reply.byteSize()) {
            int length = Short.toUnsignedInt(reply.get(JAVA_SHORT, at));
            int attrType = reply.get(JAVA_SHORT, at + 2) & 0x3fff; // without the nested/byte-order flags
            if (length < 4 || at + length > reply.byteSize()) {
                break;
            }
            if (attrType == type) {
                return switch (length - 4) {
                    case 2 -> OptionalLong.of(Short.toUnsignedLong(reply.get(JAVA_SHORT, at + 4)));
                    case 4 -> OptionalLong.of(Integer.toUnsignedLong(reply.get(JAVA_INT, at + 4)));
                    case 8 -> OptionalLong.of(reply.get(JAVA_LONG.withByteAlignment(4), at + 4));
                    default -> OptionalLong.empty();
                };
            }
            at += align(length);
        }
        return OptionalLong.empty();
    }

    private static int align(int length) {
        return (length + 3) & ~3;
    }
}
