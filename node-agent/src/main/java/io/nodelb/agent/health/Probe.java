package io.nodelb.agent.health;

import io.nodelb.dataplane.v1alpha1.HealthCheck;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * One active check of one backend, as its group's {@link HealthCheck} says: a TCP connect, or an
 * HTTP(S) GET of {@code path} whose status must be one of {@code expected_codes}. The socket is
 * bound to {@code source} when given (the FullNAT source address), so the check leaves the node
 * as the data plane's traffic does. Blocking; run on a virtual thread (the agent does so for
 * HTTPS; TCP and HTTP go through {@link SelectorChecks}, which shares the request and the status
 * judgement).
 */
public final class Probe {
    /** How many bytes of a response are read for its status line at most. */
    static final int STATUS_LINE_MAX = 512;

    public record Result(boolean ok, long nanos, String reason) {}

    private final HealthCheck check;
    private final Duration timeout;
    private final StatusCodes codes;
    private final SSLContext tls;

    public Probe(HealthCheck check) {
        this.check = check;
        this.timeout = timeout(check);
        this.codes = StatusCodes.parse(check.getExpectedCodes().isEmpty() ? "200-399" : check.getExpectedCodes());
        this.tls = check.getType() == HealthCheck.Type.HTTPS ? tlsContext(check.getCaCertificate()) : null;
    }

    public static Duration interval(HealthCheck check) {
        return check.getIntervalMillis() > 0 ? Duration.ofMillis(check.getIntervalMillis())
                : Duration.ofSeconds(check.getIntervalSeconds() > 0 ? check.getIntervalSeconds() : 10);
    }

    public static Duration timeout(HealthCheck check) {
        return check.getTimeoutMillis() > 0 ? Duration.ofMillis(check.getTimeoutMillis())
                : Duration.ofSeconds(check.getTimeoutSeconds() > 0 ? check.getTimeoutSeconds() : 3);
    }

    /** Checks {@code address:port} (the check's own port when it has one). */
    public Result run(InetAddress address, int port, InetAddress source) {
        long start = System.nanoTime();
        int target = port(port);
        long deadline = start + timeout.toNanos();
        try (Socket socket = new Socket()) {
            if (source != null) {
                socket.bind(new InetSocketAddress(source, 0));
            }
            socket.connect(new InetSocketAddress(address, target), millisLeft(deadline));
            String reason = switch (check.getType()) {
                case HTTP -> http(socket, socket, address, target, deadline);
                case HTTPS -> https(socket, address, target, deadline);
                default -> null;
            };
            return new Result(reason == null, System.nanoTime() - start, reason == null ? "ok" : reason);
        } catch (IOException e) {
            String what = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            return new Result(false, System.nanoTime() - start, "connect: " + what);
        } catch (RuntimeException e) {
            return new Result(false, System.nanoTime() - start, e.toString());
        }
    }

    private String https(Socket plain, InetAddress address, int port, long deadline) throws IOException {
        String host = check.getHost().isEmpty() ? null : check.getHost();
        try (SSLSocket socket = (SSLSocket) tls.getSocketFactory().createSocket(plain,
                host != null ? host : address.getHostAddress(), port, true)) {
            SSLParameters parameters = socket.getSSLParameters();
            if (host != null && !host.contains(":") && !host.matches("[0-9.]+")) {
                parameters.setServerNames(List.of(new SNIHostName(host)));
            }
            if (!check.getCaCertificate().isEmpty() && host != null) {
                parameters.setEndpointIdentificationAlgorithm("HTTPS");
            }
            socket.setSSLParameters(parameters);
            socket.setSoTimeout(millisLeft(deadline));
            try {
                socket.startHandshake();
            } catch (IOException e) {
                return "TLS: " + e.getMessage();
            }
            return http(socket, socket, address, port, deadline);
        }
    }

    /** Sends the GET; returns null when the status is expected, else why not. */
    private String http(Socket socket, Socket io, InetAddress address, int port, long deadline) throws IOException {
        socket.setSoTimeout(millisLeft(deadline));
        OutputStream out = io.getOutputStream();
        out.write(request(address, port));
        out.flush();
        return judge(statusLine(io.getInputStream(), deadline, socket));
    }

    /** The GET this check sends to {@code address:port}, with the Host header it is given or the address. */
    byte[] request(InetAddress address, int port) {
        String host = !check.getHost().isEmpty() ? check.getHost()
                : (address instanceof Inet6Address ? "[" + address.getHostAddress() + "]" : address.getHostAddress())
                        + ":" + port;
        String path = check.getPath().isEmpty() ? "/" : check.getPath();
        return ("GET " + path + " HTTP/1.1\r\nHost: " + host
                + "\r\nUser-Agent: nodelb-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    /** null when {@code status} (the response's first line) carries an expected code, else why not. */
    String judge(String status) {
        String[] parts = status.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
            return "not an HTTP response: " + status;
        }
        int code;
        try {
            code = Integer.parseInt(parts[1]);
        } catch (NumberFormatException e) {
            return "not an HTTP status: " + status;
        }
        return codes.contains(code) ? null : "HTTP " + code;
    }

    HealthCheck check() {
        return check;
    }

    Duration timeout() {
        return timeout;
    }

    /** The port checked for a backend on {@code port}: the check's own when it has one. */
    int port(int port) {
        return check.getPort() > 0 ? check.getPort() : port;
    }

    private static String statusLine(InputStream in, long deadline, Socket socket) throws IOException {
        StringBuilder line = new StringBuilder();
        while (line.length() < STATUS_LINE_MAX) {
            socket.setSoTimeout(millisLeft(deadline));
            int c = in.read();
            if (c < 0 || c == '\n') {
                break;
            }
            if (c != '\r') {
                line.append((char) c);
            }
        }
        return line.toString();
    }

    private static int millisLeft(long deadline) throws IOException {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
            throw new java.net.SocketTimeoutException("timed out");
        }
        return (int) Math.min(Integer.MAX_VALUE, left);
    }

    /** TLS that trusts {@code caPem}, or (empty) any certificate: the check then proves TLS answers, not who. */
    static SSLContext tlsContext(String caPem) {
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            TrustManager[] trust;
            if (caPem.isEmpty()) {
                trust = new TrustManager[] {new TrustingAnything()};
            } else {
                KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
                store.load(null, null);
                int i = 0;
                for (var cert : CertificateFactory.getInstance("X.509")
                        .generateCertificates(new ByteArrayInputStream(caPem.getBytes(StandardCharsets.US_ASCII)))) {
                    store.setCertificateEntry("ca-" + i++, cert);
                }
                TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                factory.init(store);
                trust = factory.getTrustManagers();
            }
            context.init(null, trust, null);
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("health check caCertificate cannot be used: " + e.getMessage(), e);
        }
    }

    /** For caCertificate unset: the check is "TLS answers and HTTP says healthy", not an identity check. */
    private static final class TrustingAnything implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
