package io.nodelb.agent.stream;

import io.nodelb.model.input.IpLiterals;
import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) a stream listener
 * writes to the backend before the client's first byte: the client's address and port, and the
 * address and port it connected to.
 */
public final class ProxyHeader {
    private ProxyHeader() {}

    static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    static final int PP2_TYPE_AUTHORITY = 0x02;
    static final int PP2_TYPE_UNIQUE_ID = 0x05;
    /** The spec's bound on a unique id. */
    static final int MAX_UNIQUE_ID = 128;

    /** {@code PROXY TCP4 192.0.2.1 198.51.100.7 51000 443\r\n}; IPv6 in its compressed form. */
    public static byte[] v1(InetSocketAddress client, InetSocketAddress listener) {
        boolean v4 = client.getAddress() instanceof Inet4Address;
        checkFamilies(client, listener);
        String line = "PROXY " + (v4 ? "TCP4 " : "TCP6 ") + IpLiterals.format(client.getAddress()) + " "
                + IpLiterals.format(listener.getAddress()) + " " + client.getPort() + " " + listener.getPort() + "\r\n";
        return line.getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * The binary header: PROXY command, TCP over IPv4 or IPv6, then the TLVs: the server name
     * (authority) when there is one, and the connection's unique id when given.
     */
    public static byte[] v2(InetSocketAddress client, InetSocketAddress listener, String authority, byte[] uniqueId) {
        checkFamilies(client, listener);
        if (uniqueId != null && (uniqueId.length == 0 || uniqueId.length > MAX_UNIQUE_ID)) {
            throw new IllegalArgumentException("a unique id is 1-" + MAX_UNIQUE_ID + " bytes, got " + uniqueId.length);
        }
        boolean v4 = client.getAddress() instanceof Inet4Address;
        ByteArrayOutputStream tail = new ByteArrayOutputStream();
        tail.writeBytes(client.getAddress().getAddress());
        tail.writeBytes(listener.getAddress().getAddress());
        u16(tail, client.getPort());
        u16(tail, listener.getPort());
        if (authority != null) {
            tlv(tail, PP2_TYPE_AUTHORITY, authority.getBytes(StandardCharsets.UTF_8));
        }
        if (uniqueId != null) {
            tlv(tail, PP2_TYPE_UNIQUE_ID, uniqueId);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(V2_SIGNATURE);
        out.write(0x21); // version 2, command PROXY
        out.write(v4 ? 0x11 : 0x21); // AF_INET or AF_INET6, STREAM
        u16(out, tail.size());
        out.writeBytes(tail.toByteArray());
        return out.toByteArray();
    }

    private static void checkFamilies(InetSocketAddress client, InetSocketAddress listener) {
        if ((client.getAddress() instanceof Inet4Address) != (listener.getAddress() instanceof Inet4Address)) {
            throw new IllegalArgumentException("client " + client + " and listener " + listener + " differ in family");
        }
    }

    private static void tlv(ByteArrayOutputStream out, int type, byte[] value) {
        out.write(type);
        u16(out, value.length);
        out.writeBytes(value);
    }

    private static void u16(ByteArrayOutputStream out, int value) {
        out.write(value >>> 8 & 0xff);
        out.write(value & 0xff);
    }
}
