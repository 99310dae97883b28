package io.nodelb.agent.lab;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Client traffic with plain JDK sockets. Every call must run where the socket belongs:
 * on the lab's client thread ({@link Lab#client()}); a socket stays in its namespace
 * afterwards. Every socket has a timeout, so nothing here waits longer than
 * {@link #TIMEOUT} per step.
 */
public final class Traffic {
    public static final Duration TIMEOUT = Duration.ofSeconds(2);

    private Traffic() {}

    public static InetAddress address(String literal) {
        try {
            return InetAddress.getByName(literal); // a literal: no lookup
        } catch (IOException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    /**
     * One HTTP/1.1 request on a new TCP connection from {@code from} (port 0: any) to
     * {@code vip}, with "Connection: close". Returns the body without its line end. The
     * handshake completing proves the replies came from the VIP: the connected socket
     * would answer anything else with a reset.
     */
    public static String get(InetSocketAddress from, InetSocketAddress vip, String path) throws IOException {
        return get(from, vip, path, TIMEOUT);
    }

    /** As {@link #get(InetSocketAddress, InetSocketAddress, String)}, waiting at most {@code timeout} per step. */
    public static String get(InetSocketAddress from, InetSocketAddress vip, String path, Duration timeout)
            throws IOException {
        try (Socket socket = new Socket()) {
            socket.setReuseAddress(true);
            socket.setSoTimeout((int) timeout.toMillis());
            socket.bind(from);
            try {
                socket.connect(vip, (int) timeout.toMillis());
                InputStream in = new BufferedInputStream(socket.getInputStream());
                String body = request(socket.getOutputStream(), in, path, true);
                // Let the server close first: its FIN, then ours, so no TIME_WAIT stays on the client port.
                if (in.read() != -1) {
                    throw new IOException("data after the response");
                }
                return body;
            } catch (IOException e) {
                throw new IOException("GET " + path + " from " + new InetSocketAddress(from.getAddress(),
                        socket.getLocalPort()) + " to " + vip + ": " + e, e);
            }
        }
    }

    /** {@code count} requests to {@code /}, each on a new connection from an ephemeral port; answers by body. */
    public static Map<String, Integer> countTcp(InetAddress from, InetSocketAddress vip, int count) throws IOException {
        Map<String, Integer> answers = new TreeMap<>();
        for (int i = 0; i < count; i++) {
            answers.merge(get(new InetSocketAddress(from, 0), vip, "/"), 1, Integer::sum);
        }
        return answers;
    }

    /** A datagram's answer and the address it came from. */
    public record UdpAnswer(String text, InetSocketAddress source) {}

    /**
     * Sends one datagram from a new socket (so a new source port) on {@code from} to
     * {@code vip} and returns the first answer. The socket is not connected, so an answer
     * from any address is received and its source can be checked.
     */
    public static UdpAnswer udp(InetAddress from, InetSocketAddress vip, String payload) throws IOException {
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(from, 0))) {
            socket.setSoTimeout((int) TIMEOUT.toMillis());
            byte[] bytes = payload.getBytes(StandardCharsets.US_ASCII);
            socket.send(new DatagramPacket(bytes, bytes.length, vip));
            byte[] buffer = new byte[512];
            DatagramPacket answer = new DatagramPacket(buffer, buffer.length);
            try {
                socket.receive(answer);
            } catch (SocketTimeoutException e) {
                throw new SocketTimeoutException("no answer from " + vip + " to a datagram from "
                        + socket.getLocalSocketAddress() + " in " + TIMEOUT);
            }
            return new UdpAnswer(new String(buffer, 0, answer.getLength(), StandardCharsets.US_ASCII).strip(),
                    (InetSocketAddress) answer.getSocketAddress());
        }
    }

    /**
     * {@code count} datagrams, each from a new source port; every answer must come from
     * {@code vip} itself. Answers counted by text.
     */
    public static Map<String, Integer> countUdp(InetAddress from, InetSocketAddress vip, int count) throws IOException {
        Map<String, Integer> answers = new TreeMap<>();
        for (int i = 0; i < count; i++) {
            UdpAnswer answer = udp(from, vip, "ping " + i);
            if (!answer.source().equals(vip)) {
                throw new AssertionError("datagram " + i + " to " + vip + " was answered by " + answer.source()
                        + " (\"" + answer.text() + "\"), not by the VIP");
            }
            answers.merge(answer.text(), 1, Integer::sum);
        }
        return answers;
    }

    /** A kept-alive HTTP/1.1 connection: several requests on one TCP connection. */
    public static final class HttpConnection implements AutoCloseable {
        private final Socket socket;
        private final InputStream in;

        private HttpConnection(Socket socket) throws IOException {
            this.socket = socket;
            this.in = new BufferedInputStream(socket.getInputStream());
        }

        /** Connects from {@code from} (any port) to {@code vip}; run it on the client's thread. */
        public static HttpConnection open(InetAddress from, InetSocketAddress vip) throws IOException {
            return open(new InetSocketAddress(from, 0), vip);
        }

        /** Connects from {@code from} to {@code vip}; the port may be shared with connections elsewhere. */
        public static HttpConnection open(InetSocketAddress from, InetSocketAddress vip) throws IOException {
            Socket socket = new Socket();
            try {
                socket.setReuseAddress(true);
                socket.setSoTimeout((int) TIMEOUT.toMillis());
                socket.bind(from);
                socket.connect(vip, (int) TIMEOUT.toMillis());
                return new HttpConnection(socket);
            } catch (IOException e) {
                socket.close();
                throw e;
            }
        }

        /** One more request on this same connection; the body without its line end. */
        public String get(String path) throws IOException {
            return request(socket.getOutputStream(), in, path, false);
        }

        public InetSocketAddress localAddress() {
            return (InetSocketAddress) socket.getLocalSocketAddress();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** Writes one GET and reads one response (status 200, Content-Length body). */
    private static String request(OutputStream out, InputStream in, String path, boolean close)
            throws IOException {
        out.write(("GET " + path + " HTTP/1.1\r\nHost: lab\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        String head = readHead(in);
        String[] lines = head.split("\r\n");
        if (!lines[0].startsWith("HTTP/1.1 200 ")) {
            throw new IOException("unexpected status: " + lines[0]);
        }
        int length = -1;
        for (String line : lines) {
            if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring("content-length:".length()).strip());
            }
        }
        if (length < 0 || length > 4096) {
            throw new IOException("no usable Content-Length in: " + head);
        }
        byte[] body = in.readNBytes(length);
        if (body.length != length) {
            throw new IOException("body cut short after " + body.length + " of " + length + " bytes");
        }
        return new String(body, StandardCharsets.US_ASCII).strip();
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < end.length) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed inside the response head: " + head);
            }
            head.write(b);
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
            if (head.size() > 8192) {
                throw new IOException("response head too long");
            }
        }
        return head.toString(StandardCharsets.US_ASCII);
    }
}
