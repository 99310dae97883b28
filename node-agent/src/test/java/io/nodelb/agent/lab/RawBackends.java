package io.nodelb.agent.lab;

import io.nodelb.agent.testing.NetnsThread;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** Plain TCP servers on the lab's backends be1..beN: each connection goes to the test's handler on a virtual thread. */
final class RawBackends implements AutoCloseable {
    private final List<NetnsThread> namespaces = new ArrayList<>();
    private final List<ServerSocket> servers = new ArrayList<>();

    static RawBackends start(Lab lab, int count, int port, int backlog, Consumer<Socket> handler) throws Exception {
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

    private static void acceptLoop(ServerSocket server, Consumer<Socket> handler) {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                Thread.ofVirtual().start(() -> handler.accept(s));
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
