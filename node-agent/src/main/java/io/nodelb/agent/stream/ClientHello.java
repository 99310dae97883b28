package io.nodelb.agent.stream;

import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Reads the server name (SNI, RFC 6066) from the first bytes a TLS client sends, without
 * terminating TLS. Fed the bytes read so far, it says whether it needs more, found the hello
 * (with or without a name), or can stop: not TLS, malformed, or larger than the limit. The
 * handshake message may span several TLS records, and each record several TCP segments.
 */
public final class ClientHello {
    private ClientHello() {}

    /** The most bytes read before giving up: a ClientHello with many extensions fits in a few KiB. */
    public static final int MAX_BYTES = 16 * 1024;

    private static final int RECORD_HANDSHAKE = 22;
    private static final int HANDSHAKE_CLIENT_HELLO = 1;
    private static final int EXTENSION_SERVER_NAME = 0;
    private static final int NAME_TYPE_HOST = 0;

    public enum Status {
        /** Not enough bytes yet. */
        NEED_MORE,
        /** A whole ClientHello: {@link Result#serverName()} is its name, or null when it has none. */
        HELLO,
        /** The first byte is not a TLS handshake record. */
        NOT_TLS,
        /** A TLS handshake whose lengths or fields are inconsistent. */
        MALFORMED,
        /** More than {@link #MAX_BYTES} without a whole ClientHello. */
        TOO_LARGE
    }

    public record Result(Status status, String serverName) {
        static final Result NEED_MORE = new Result(Status.NEED_MORE, null);
        static final Result NOT_TLS = new Result(Status.NOT_TLS, null);
        static final Result MALFORMED = new Result(Status.MALFORMED, null);
        static final Result TOO_LARGE = new Result(Status.TOO_LARGE, null);
    }

    /** Parses {@code data[0, length)}: everything the client sent so far. */
    public static Result parse(byte[] data, int length) {
        if (length == 0) {
            return Result.NEED_MORE;
        }
        if ((data[0] & 0xff) != RECORD_HANDSHAKE) {
            return Result.NOT_TLS;
        }
        // Most ClientHellos are one record, read whole: parsed where they are, not copied.
        if (length >= 9 && (data[1] & 0xff) == 3 && (data[5] & 0xff) == HANDSHAKE_CLIENT_HELLO) {
            int recordLength = u16(data, 3);
            int messageLength = 4 + ((data[6] & 0xff) << 16 | u16(data, 7));
            if (recordLength > 0 && recordLength <= 16384 && messageLength <= recordLength && 5 + messageLength <= length) {
                return hello(data, 5, 5 + messageLength);
            }
        }
        // The handshake message, gathered from consecutive handshake records.
        byte[] message = new byte[Math.min(length, MAX_BYTES)];
        int messageLength = 0;
        int at = 0;
        Integer needed = null; // the whole message's length, once its header is in
        while (true) {
            if (needed != null && messageLength >= needed) {
                return hello(message, 0, needed);
            }
            if (at + 5 > length) {
                return length >= MAX_BYTES ? Result.TOO_LARGE : Result.NEED_MORE;
            }
            if ((data[at] & 0xff) != RECORD_HANDSHAKE || (data[at + 1] & 0xff) != 3) {
                return at == 0 ? Result.NOT_TLS : Result.MALFORMED;
            }
            int recordLength = u16(data, at + 3);
            if (recordLength == 0 || recordLength > 16384) {
                return Result.MALFORMED;
            }
            int available = Math.min(recordLength, length - at - 5);
            if (messageLength + available > message.length) {
                return Result.TOO_LARGE;
            }
            System.arraycopy(data, at + 5, message, messageLength, available);
            messageLength += available;
            if (needed == null && messageLength >= 4) {
                if ((message[0] & 0xff) != HANDSHAKE_CLIENT_HELLO) {
                    return Result.MALFORMED;
                }
                needed = 4 + ((message[1] & 0xff) << 16 | u16(message, 2));
                if (needed > MAX_BYTES) {
                    return Result.TOO_LARGE;
                }
            }
            if (available < recordLength) {
                return needed != null && messageLength >= needed ? hello(message, 0, needed)
                        : length >= MAX_BYTES ? Result.TOO_LARGE : Result.NEED_MORE;
            }
            at += 5 + recordLength;
        }
    }

    /**
     * The ClientHello in {@code m[start, end)}, its handshake header first: version, random, session
     * id, cipher suites, compression, extensions.
     */
    private static Result hello(byte[] m, int start, int end) {
        int at = start + 4 + 2 + 32;
        if (at + 1 > end) {
            return Result.MALFORMED;
        }
        at += 1 + (m[at] & 0xff); // session id
        if (at + 2 > end) {
            return Result.MALFORMED;
        }
        at += 2 + u16(m, at); // cipher suites
        if (at + 1 > end) {
            return Result.MALFORMED;
        }
        at += 1 + (m[at] & 0xff); // compression methods
        if (at == end) {
            return new Result(Status.HELLO, null); // no extensions at all
        }
        if (at + 2 > end) {
            return Result.MALFORMED;
        }
        int extensionsEnd = at + 2 + u16(m, at);
        if (extensionsEnd != end) {
            return Result.MALFORMED;
        }
        at += 2;
        String name = null;
        while (at < extensionsEnd) {
            if (at + 4 > extensionsEnd) {
                return Result.MALFORMED;
            }
            int type = u16(m, at);
            int length = u16(m, at + 2);
            at += 4;
            if (at + length > extensionsEnd) {
                return Result.MALFORMED;
            }
            if (type == EXTENSION_SERVER_NAME) {
                if (name != null) {
                    return Result.MALFORMED; // an extension appears at most once (RFC 8446 4.2)
                }
                name = hostName(m, at, at + length);
                if (name == null) {
                    return Result.MALFORMED;
                }
            }
            at += length;
        }
        return new Result(Status.HELLO, name);
    }

    /** The host_name of a server_name extension, lower case, without a trailing dot; null if malformed. */
    private static String hostName(byte[] m, int at, int end) {
        if (at + 2 > end || at + 2 + u16(m, at) != end) {
            return null;
        }
        at += 2;
        while (at + 3 <= end) {
            int type = m[at] & 0xff;
            int length = u16(m, at + 1);
            at += 3;
            if (at + length > end) {
                return null;
            }
            if (type == NAME_TYPE_HOST) {
                if (length == 0 || length > 255) {
                    return null;
                }
                for (int i = at; i < at + length; i++) {
                    if (m[i] <= 0x20 || m[i] >= 0x7f) {
                        return null;
                    }
                }
                String name = new String(m, at, length, StandardCharsets.US_ASCII).toLowerCase(Locale.ROOT);
                return name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
            }
            at += length;
        }
        return null;
    }

    private static int u16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | (b[at + 1] & 0xff);
    }
}
