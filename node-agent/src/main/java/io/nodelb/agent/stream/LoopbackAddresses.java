package io.nodelb.agent.stream;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Makes a stream listener's VIP an address of the node's loopback interface, so its socket binds
 * it and the kernel delivers its packets locally (the XDP program passes them), with one
 * rtnetlink request (RTM_NEWADDR / RTM_DELADDR, as {@code ip addr add VIP/32 dev lo} sends). Spoken
 * through FFM: the agent's image carries no iproute2. An address the node already has is left alone.
 *
 * <p>The addresses it adds are recorded in the state directory before they are added, so an agent
 * killed with them in place (no chance to remove them) does not leave them behind for good: the
 * next agent takes the recorded ones as its own and removes those its listeners no longer use.
 */
public final class LoopbackAddresses implements StreamListeners.LocalAddresses {
    /** The file, in the state directory, of the addresses agents of this pin path added to lo. */
    static final String RECORD = "stream-addresses";
    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_ROUTE = 0;
    private static final short RTM_NEWADDR = 20;
    private static final short RTM_DELADDR = 21;
    private static final short NLMSG_ERROR = 2;
    private static final short NLM_F_REQUEST = 1;
    private static final short NLM_F_ACK = 4;
    private static final short NLM_F_EXCL = 0x200;
    private static final short NLM_F_CREATE = 0x400;
    private static final short IFA_ADDRESS = 1;
    private static final short IFA_LOCAL = 2;
    private static final byte IFA_F_NODAD = 0x02;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final long ERRNO_AT = CALL_STATE.byteOffset(StructLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET = handle("socket",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle SENDTO = handle("sendto", FunctionDescriptor.of(ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
            ValueLayout.JAVA_INT));
    private static final MethodHandle RECV = handle("recv", FunctionDescriptor.of(ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = handle("close",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.nativeOrder());

    private static MethodHandle handle(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), descriptor,
                Linker.Option.captureCallState("errno"));
    }

    private final Path record;
    /** What this agent, or one before it on this pin path, added (and so removes). */
    private final Set<InetAddress> ours = new LinkedHashSet<>();

    /** @param stateDir where the added addresses are recorded */
    public LoopbackAddresses(Path stateDir) throws IOException {
        this.record = stateDir.resolve(RECORD);
        if (Files.exists(record)) {
            for (String line : Files.readAllLines(record)) {
                if (!line.isBlank()) {
                    ours.add(InetAddress.ofLiteral(line.strip()));
                }
            }
        }
    }

    @Override
    public synchronized boolean ensureLocal(InetAddress address) throws IOException {
        boolean present = NetworkInterface.getByInetAddress(address) != null;
        if (ours.contains(address) && present) {
            return true;
        }
        if (present) {
            return false;
        }
        boolean recorded = ours.add(address);
        save();
        int errno = request(RTM_NEWADDR, (short) (NLM_F_CREATE | NLM_F_EXCL), address);
        if (errno == 0) {
            return true;
        }
        if (recorded) {
            ours.remove(address);
            save();
        }
        if (errno == 17) { // EEXIST: added meanwhile by someone else; theirs to remove
            return false;
        }
        throw new IOException("cannot add " + address.getHostAddress() + " to lo: errno " + errno);
    }

    @Override
    public synchronized void release(InetAddress address) {
        try {
            int errno = request(RTM_DELADDR, (short) 0, address);
            if (errno != 0 && errno != 99) { // EADDRNOTAVAIL: already gone
                System.getLogger(LoopbackAddresses.class.getName()).log(System.Logger.Level.WARNING,
                        "cannot remove " + address.getHostAddress() + " from lo: errno " + errno);
                return;
            }
            ours.remove(address);
            save();
        } catch (IOException e) {
            System.getLogger(LoopbackAddresses.class.getName()).log(System.Logger.Level.WARNING, e.getMessage());
        }
    }

    @Override
    public synchronized void releaseAllBut(Set<InetAddress> inUse) {
        for (InetAddress address : List.copyOf(ours)) {
            if (!inUse.contains(address)) {
                release(address);
            }
        }
    }

    /** Written whole and renamed into place: a kill leaves the old record or the new one. */
    private void save() throws IOException {
        Path next = record.resolveSibling(RECORD + ".next");
        Files.createDirectories(record.getParent());
        Files.write(next, ours.stream().map(InetAddress::getHostAddress).toList());
        Files.move(next, record, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Sends one address request for lo and returns the kernel's answer: 0, or an errno. */
    private static int request(short type, short flags, InetAddress address) throws IOException {
        int index = loopbackIndex();
        byte[] raw = address.getAddress();
        boolean v4 = address instanceof Inet4Address;
        int attribute = 4 + raw.length; // rtattr header + address, a multiple of 4
        int length = 16 + 8 + 2 * attribute;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment m = arena.allocate(length);
            m.set(INT, 0, length);
            m.set(SHORT, 4, type);
            m.set(SHORT, 6, (short) (NLM_F_REQUEST | NLM_F_ACK | flags));
            m.set(INT, 8, 1);
            m.set(ValueLayout.JAVA_BYTE, 16, (byte) (v4 ? 2 : 10));
            m.set(ValueLayout.JAVA_BYTE, 17, (byte) (v4 ? 32 : 128));
            m.set(ValueLayout.JAVA_BYTE, 18, v4 ? 0 : IFA_F_NODAD);
            m.set(ValueLayout.JAVA_BYTE, 19, (byte) 0); // RT_SCOPE_UNIVERSE: clients elsewhere reach it
            m.set(INT, 20, index);
            int at = 24;
            for (short attr : new short[] {IFA_LOCAL, IFA_ADDRESS}) {
                m.set(SHORT, at, (short) attribute);
                m.set(SHORT, at + 2, attr);
                MemorySegment.copy(MemorySegment.ofArray(raw), 0, m, at + 4, raw.length);
                at += attribute;
            }
            MemorySegment kernel = arena.allocate(12);
            kernel.set(SHORT, 0, (short) AF_NETLINK);
            int fd = (int) SOCKET.invokeExact(state, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
            if (fd < 0) {
                throw new IOException("netlink socket: errno " + state.get(ValueLayout.JAVA_INT, ERRNO_AT));
            }
            try {
                long sent = (long) SENDTO.invokeExact(state, fd, m, (long) length, 0, kernel, 12);
                if (sent != length) {
                    throw new IOException("netlink send: errno " + state.get(ValueLayout.JAVA_INT, ERRNO_AT));
                }
                MemorySegment answer = arena.allocate(8192);
                long got = (long) RECV.invokeExact(state, fd, answer, 8192L, 0);
                if (got < 20 || answer.get(SHORT, 4) != NLMSG_ERROR) {
                    throw new IOException("netlink: no acknowledgement (" + got + " bytes)");
                }
                return -answer.get(INT, 16);
            } finally {
                int ignored = (int) CLOSE.invokeExact(state, fd);
            }
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("netlink: " + t, t);
        }
    }

    private static int loopbackIndex() throws SocketException {
        NetworkInterface lo = NetworkInterface.getByName("lo");
        if (lo == null) {
            throw new SocketException("no loopback interface in this network namespace");
        }
        return lo.getIndex();
    }
}
