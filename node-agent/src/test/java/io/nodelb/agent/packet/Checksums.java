package io.nodelb.agent.packet;

import java.util.Arrays;

/**
 * The Internet checksums of a frame, recomputed in full from the bytes: the IPv4 header checksum
 * and the TCP/UDP checksum over the pseudo-header and the whole segment (RFC 1071, RFC 793,
 * RFC 768, RFC 8200 section 8.1).
 *
 * <p>This is the independent oracle for the data plane's incremental checksum updates
 * (RFC 1624): a plain loop over 16-bit words, deliberately sharing nothing with any incremental
 * logic. It walks the headers itself, too, rather than trusting {@link Packet}.
 */
public final class Checksums {

    private Checksums() {}

    /** What {@link #verify} found for one checksum. */
    public enum Status {
        /** The field matches the recomputation. */
        CORRECT,
        /** The field does not match. */
        INCORRECT,
        /** UDP over IPv4 with checksum 0: "no checksum", allowed by RFC 768. */
        ZERO_ALLOWED,
        /** UDP over IPv6 with checksum 0: forbidden by RFC 8200 section 8.1; receivers drop it. */
        ZERO_FORBIDDEN,
        /** There is no such checksum: not IPv4 (header), not TCP/UDP, or a fragment (transport). */
        NOT_APPLICABLE,
        /** The headers are too broken to tell (truncated, impossible lengths); see the note. */
        UNVERIFIABLE,
    }

    /**
     * The verdict on one frame. {@code *Field} is the value in the packet, {@code *Computed} the
     * value a correct sender would have written (-1 when not applicable).
     */
    public record Result(
            Status ipv4Header, int ipv4HeaderField, int ipv4HeaderComputed,
            Status transport, int transportProtocol, int transportField, int transportComputed,
            String note) {

        /** True when nothing checked is wrong: every status is correct, allowed or not applicable. */
        public boolean valid() {
            return ok(ipv4Header) && ok(transport);
        }

        private static boolean ok(Status status) {
            return status == Status.CORRECT || status == Status.ZERO_ALLOWED || status == Status.NOT_APPLICABLE;
        }

        @Override
        public String toString() {
            return "IPv4 header " + ipv4Header + " (field 0x" + Integer.toHexString(ipv4HeaderField)
                    + ", computed 0x" + Integer.toHexString(ipv4HeaderComputed) + "), transport "
                    + transportProtocol + " " + transport + " (field 0x" + Integer.toHexString(transportField)
                    + ", computed 0x" + Integer.toHexString(transportComputed) + ")"
                    + (note.isEmpty() ? "" : ": " + note);
        }
    }

    /**
     * The RFC 1071 checksum of {@code data[offset, offset + length)}: the ones' complement of the
     * ones' complement sum of the big-endian 16-bit words, an odd last byte padded with zero.
     * Over data that already holds a correct checksum the result is 0.
     */
    public static int internetChecksum(byte[] data, int offset, int length) {
        long sum = 0;
        int i = offset;
        int end = offset + length;
        for (; i + 1 < end; i += 2) {
            sum += ((data[i] & 0xff) << 8) | (data[i + 1] & 0xff);
        }
        if (i < end) {
            sum += (data[i] & 0xff) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) (~sum & 0xffff);
    }

    /** {@link #internetChecksum(byte[], int, int)} over the whole array. */
    public static int internetChecksum(byte[] data) {
        return internetChecksum(data, 0, data.length);
    }

    /** Recomputes and checks every checksum in an Ethernet frame (VLAN tags are skipped). */
    public static Result verify(byte[] frame) {
        if (frame.length < 14) {
            return unverifiable("runt frame of " + frame.length + " bytes");
        }
        int at = 12;
        int etherType = u16(frame, at);
        at += 2;
        while (etherType == 0x8100 || etherType == 0x88a8) {
            if (at + 4 > frame.length) {
                return unverifiable("truncated VLAN tag");
            }
            etherType = u16(frame, at + 2);
            at += 4;
        }
        return switch (etherType) {
            case 0x0800 -> verifyIpv4(frame, at);
            case 0x86dd -> verifyIpv6(frame, at);
            default -> new Result(Status.NOT_APPLICABLE, -1, -1, Status.NOT_APPLICABLE, -1, -1, -1,
                    "not IP: ethertype 0x" + Integer.toHexString(etherType));
        };
    }

    private static Result verifyIpv4(byte[] frame, int ip) {
        if (frame.length - ip < 20) {
            return unverifiable("truncated IPv4 header");
        }
        if ((frame[ip] & 0xff) >>> 4 != 4) {
            return unverifiable("IPv4 ethertype but IP version " + ((frame[ip] & 0xff) >>> 4));
        }
        int headerLength = (frame[ip] & 0x0f) * 4;
        if (headerLength < 20 || ip + headerLength > frame.length) {
            return unverifiable("IPv4 header length " + headerLength + " does not fit");
        }
        int headerField = u16(frame, ip + 10);
        Status header = internetChecksum(frame, ip, headerLength) == 0 ? Status.CORRECT : Status.INCORRECT;
        byte[] headerCopy = Arrays.copyOfRange(frame, ip, ip + headerLength);
        headerCopy[10] = 0;
        headerCopy[11] = 0;
        int headerComputed = internetChecksum(headerCopy);

        int totalLength = u16(frame, ip + 2);
        int protocol = frame[ip + 9] & 0xff;
        if (totalLength < headerLength || ip + totalLength > frame.length) {
            return new Result(header, headerField, headerComputed, Status.UNVERIFIABLE, protocol, -1, -1,
                    "IPv4 total length " + totalLength + " does not fit");
        }
        if ((u16(frame, ip + 6) & 0x3fff) != 0) {
            return new Result(header, headerField, headerComputed, Status.NOT_APPLICABLE, protocol, -1, -1,
                    "IPv4 fragment: the transport checksum covers the reassembled datagram");
        }
        byte[] source = Arrays.copyOfRange(frame, ip + 12, ip + 16);
        byte[] destination = Arrays.copyOfRange(frame, ip + 16, ip + 20);
        Transport transport = verifyTransport(frame, ip + headerLength, totalLength - headerLength,
                protocol, source, destination, false);
        return new Result(header, headerField, headerComputed, transport.status, protocol,
                transport.field, transport.computed, transport.note);
    }

    private static Result verifyIpv6(byte[] frame, int ip) {
        if (frame.length - ip < 40) {
            return unverifiable("truncated IPv6 header");
        }
        if ((frame[ip] & 0xff) >>> 4 != 6) {
            return unverifiable("IPv6 ethertype but IP version " + ((frame[ip] & 0xff) >>> 4));
        }
        int payloadLength = u16(frame, ip + 4);
        int end = ip + 40 + payloadLength;
        if (end > frame.length) {
            return notIpv4Unverifiable("IPv6 payload length " + payloadLength + " does not fit");
        }
        int next = frame[ip + 6] & 0xff;
        int at = ip + 40;
        // Walk the extension headers to the upper layer.
        while (next == 0 || next == 43 || next == 44 || next == 60) {
            if (at + 8 > end) {
                return notIpv4Unverifiable("truncated IPv6 extension header " + next);
            }
            int length = next == 44 ? 8 : ((frame[at + 1] & 0xff) + 1) * 8;
            if (at + length > end) {
                return notIpv4Unverifiable("IPv6 extension header " + next + " runs past the payload");
            }
            if (next == 44 && (u16(frame, at + 2) & 0xfff9) != 0) {
                return new Result(Status.NOT_APPLICABLE, -1, -1, Status.NOT_APPLICABLE, -1, -1, -1,
                        "IPv6 fragment: the transport checksum covers the reassembled packet");
            }
            next = frame[at] & 0xff;
            at += length;
        }
        // The pseudo-header uses the destination field; the routing headers built by
        // PacketBuilder have segments left = 0, where that is the final destination.
        byte[] source = Arrays.copyOfRange(frame, ip + 8, ip + 24);
        byte[] destination = Arrays.copyOfRange(frame, ip + 24, ip + 40);
        Transport transport = verifyTransport(frame, at, end - at, next, source, destination, true);
        return new Result(Status.NOT_APPLICABLE, -1, -1, transport.status, next,
                transport.field, transport.computed, transport.note);
    }

    private record Transport(Status status, int field, int computed, String note) {}

    private static Transport verifyTransport(byte[] frame, int at, int length, int protocol,
            byte[] source, byte[] destination, boolean ipv6) {
        int checksumAt;
        int covered;
        if (protocol == 6) {
            if (length < 20) {
                return new Transport(Status.UNVERIFIABLE, -1, -1, "TCP segment of " + length + " bytes");
            }
            checksumAt = 16;
            covered = length;
        } else if (protocol == 17) {
            if (length < 8) {
                return new Transport(Status.UNVERIFIABLE, -1, -1, "UDP datagram of " + length + " bytes");
            }
            int udpLength = u16(frame, at + 4);
            if (udpLength < 8 || udpLength > length) {
                return new Transport(Status.UNVERIFIABLE, -1, -1,
                        "UDP length " + udpLength + " with " + length + " bytes of IP payload");
            }
            checksumAt = 6;
            covered = udpLength; // receivers trim the datagram to the UDP length
        } else {
            return new Transport(Status.NOT_APPLICABLE, -1, -1, "protocol " + protocol + " is not TCP or UDP");
        }
        byte[] pseudo = pseudoHeader(source, destination, protocol, covered, ipv6);
        byte[] all = new byte[pseudo.length + covered];
        System.arraycopy(pseudo, 0, all, 0, pseudo.length);
        System.arraycopy(frame, at, all, pseudo.length, covered);
        int fieldAt = pseudo.length + checksumAt;
        int field = u16(all, fieldAt);
        boolean correct = internetChecksum(all) == 0;
        all[fieldAt] = 0;
        all[fieldAt + 1] = 0;
        int computed = internetChecksum(all);
        if (protocol == 17) {
            computed = computed == 0 ? 0xffff : computed; // RFC 768: a computed 0 is sent as all ones
            if (field == 0) {
                return new Transport(ipv6 ? Status.ZERO_FORBIDDEN : Status.ZERO_ALLOWED, field, computed, "");
            }
        }
        return new Transport(correct ? Status.CORRECT : Status.INCORRECT, field, computed, "");
    }

    /**
     * The pseudo-header that TCP and UDP checksums cover: RFC 793/768 for IPv4 (12 bytes),
     * RFC 8200 section 8.1 for IPv6 (40 bytes).
     */
    public static byte[] pseudoHeader(byte[] source, byte[] destination, int protocol, int length, boolean ipv6) {
        int addressLength = ipv6 ? 16 : 4;
        if (source.length != addressLength || destination.length != addressLength) {
            throw new IllegalArgumentException("addresses must be " + addressLength + " bytes");
        }
        byte[] pseudo = new byte[ipv6 ? 40 : 12];
        System.arraycopy(source, 0, pseudo, 0, addressLength);
        System.arraycopy(destination, 0, pseudo, addressLength, addressLength);
        if (ipv6) {
            pseudo[32] = (byte) (length >>> 24);
            pseudo[33] = (byte) (length >>> 16);
            pseudo[34] = (byte) (length >>> 8);
            pseudo[35] = (byte) length;
            pseudo[39] = (byte) protocol;
        } else {
            pseudo[9] = (byte) protocol;
            pseudo[10] = (byte) (length >>> 8);
            pseudo[11] = (byte) length;
        }
        return pseudo;
    }

    private static Result unverifiable(String note) {
        return new Result(Status.UNVERIFIABLE, -1, -1, Status.UNVERIFIABLE, -1, -1, -1, note);
    }

    private static Result notIpv4Unverifiable(String note) {
        return new Result(Status.NOT_APPLICABLE, -1, -1, Status.UNVERIFIABLE, -1, -1, -1, note);
    }

    private static int u16(byte[] data, int at) {
        return ((data[at] & 0xff) << 8) | (data[at + 1] & 0xff);
    }
}
