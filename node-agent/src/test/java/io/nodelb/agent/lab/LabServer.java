package io.nodelb.agent.lab;

import io.nodelb.agent.testing.NetnsThread;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A backend's HTTP server that a test controls, listening on every address of its backend's
 * namespace: {@code /} answers the backend's name (200), {@code /health} 200 or, while
 * {@link #failing}, 500. {@link #stop} closes only the listening socket, as a crashed or
 * restarting server does for new connections (the kernel resets their SYNs), while the
 * connections it accepted keep being served; {@link #start} listens again on the same port.
 */
final class LabServer implements AutoCloseable {
    private final NetnsThread namespace;
    private final int port;
    private final String name;
    private final Set<Socket> accepted = ConcurrentHashMap.newKeySet();
    /** null: plain HTTP. */
    private final javax.net.ssl.SSLContext tls;
    private volatile ServerSocket listener;
    private volatile boolean failing;

    private LabServer(NetnsThread namespace, int port, String name, javax.net.ssl.SSLContext tls) {
        this.namespace = namespace;
        this.port = port;
        this.name = name;
        this.tls = tls;
    }

    static LabServer start(NetnsThread namespace, int port, String name) throws Exception {
        return start(namespace, port, name, null);
    }

    /** The same server speaking HTTPS with {@code tls}'s certificate; null: plain HTTP. */
    static LabServer start(NetnsThread namespace, int port, String name, javax.net.ssl.SSLContext tls) throws Exception {
        LabServer server = new LabServer(namespace, port, name, tls);
        server.start();
        return server;
    }

    /** Listens (again); the socket is made on the namespace's thread, so it lives there. */
    synchronized void start() throws Exception {
        if (listener != null) {
            return;
        }
        ServerSocket socket = namespace.call(() -> {
            ServerSocket s = tls == null ? new ServerSocket() : tls.getServerSocketFactory().createServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(port), 1024);
            return s;
        });
        listener = socket;
        Thread.ofVirtual().name(name + "-accept-" + port).start(() -> acceptLoop(socket));
    }

    /** Stops listening: new connections are reset, accepted ones are still served. */
    synchronized void stop() throws IOException {
        if (listener != null) {
            listener.close();
            listener = null;
        }
    }

    /** While true, /health answers 500. */
    void failing(boolean value) {
        failing = value;
    }

    private void acceptLoop(ServerSocket socket) {
        while (!socket.isClosed()) {
            try {
                Socket connection = socket.accept();
                accepted.add(connection);
                Thread.ofVirtual().name(name + "-conn").start(() -> serve(connection));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket connection) {
        try (connection) {
            InputStream in = new BufferedInputStream(connection.getInputStream());
            OutputStream out = connection.getOutputStream();
            while (true) {
                List<String> head = readHead(in);
                if (head == null) {
                    return;
                }
                String path = head.getFirst().split(" ").length > 1 ? head.getFirst().split(" ")[1] : "/";
                boolean close = head.stream().anyMatch(h -> h.equalsIgnoreCase("Connection: close"));
                boolean unhealthy = path.equals("/health") && failing;
                String body = name + "\n";
                out.write(("HTTP/1.1 " + (unhealthy ? "500 Internal Server Error" : "200 OK")
                        + "\r\nContent-Type: text/plain\r\nContent-Length: " + body.length()
                        + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                out.flush();
                if (close) {
                    return;
                }
            }
        } catch (IOException e) {
            // the client went away
        } finally {
            accepted.remove(connection);
        }
    }

    private static List<String> readHead(InputStream in) throws IOException {
        StringBuilder all = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            all.append((char) b);
            if (all.length() >= 4 && all.substring(all.length() - 4).equals("\r\n\r\n")) {
                return List.of(all.toString().strip().split("\r\n"));
            }
            if (all.length() > 8192) {
                throw new IOException("request head too long");
            }
        }
        return null;
    }

    @Override
    public void close() throws IOException {
        stop();
        for (Socket s : accepted) {
            s.close();
        }
    }
}
