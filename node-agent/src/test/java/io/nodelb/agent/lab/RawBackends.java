package io.nodelb.agent.lab;

import io.nodelb.agent.testing.NetnsThread;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

/**
 * Plain TCP servers on the lab's backends be1..beN: each connection goes to the test's handler on
 * a virtual thread, with a 30 s read timeout, and is closed after it; a handler's failure leaves
 * the client with a short answer, which the test checks.
 */
final class RawBackends implements AutoCloseable {
    /** What a backend does with one connection. */
    interface Handler {
        void serve(Socket socket) throws Exception;
    }

    private final List<NetnsThread> namespaces = new ArrayList<>();
    private final List<ServerSocket> servers = new ArrayList<>();

    static RawBackends start(Lab lab, int count, int port, int backlog, Handler handler) throws Exception {
        RawBackends b = new RawBackends();
        try {
            for (int k = 1; k <= count; k++) {
                NetnsThread ns = NetnsThread.enter(lab.backend(k));
                b.namespaces.add(ns);
                ServerSocket server = ns.call(() -> {
                    ServerSocket s = new ServerSocket();
                    s.setReuseAddress(true);
                    s.bind(new InetSocketAddress(port), backlog);
                    return s;
                });
                b.servers.add(server);
                Thread.ofPlatform().daemon().name("lab-raw-backend-" + k).start(() -> acceptLoop(server, handler));
            }
            return b;
        } catch (Exception e) {
            b.close();
            throw e;
        }
    }

    private static void acceptLoop(ServerSocket server, Handler handler) {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                Thread.ofVirtual().start(() -> {
                    try (s) {
                        s.setSoTimeout(30_000);
                        handler.serve(s);
                    } catch (Exception e) {
                        // the client sees a short answer
                    }
                });
            } catch (IOException e) {
                return;
            }
        }
    }

    /** One line, its \n (and \r) included. */
    static String line(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int c; (c = in.read()) >= 0; ) {
            b.append((char) c);
            if (c == '\n') {
                break;
            }
        }
        return b.toString();
    }

    @Override
    public void close() throws Exception {
        for (ServerSocket s : servers) {
            s.close();
        }
        for (NetnsThread ns : namespaces) {
            ns.close();
        }
    }
}
