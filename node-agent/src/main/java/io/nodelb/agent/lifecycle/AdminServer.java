package io.nodelb.agent.lifecycle;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.nodelb.agent.metrics.PlainText;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * The agent's admin endpoint: {@code POST /drain} and {@code POST /undrain}, {@code GET /drain}
 * for the state. It listens only where the operator of the node says ({@code --admin-address});
 * there is none by default, and the address given is the only one it binds.
 */
public final class AdminServer implements AutoCloseable {

    private final HttpServer server;

    private AdminServer(InetSocketAddress address, Drain drain) throws IOException {
        server = HttpServer.create(address, 0);
        server.createContext("/drain", ex -> {
            if (ex.getRequestMethod().equals("POST") && drain.drain()) {
                System.out.println("nodelb-agent: draining (admin endpoint): readiness answers 503, every flow is"
                        + " still served");
            }
            answer(ex, drain);
        });
        server.createContext("/undrain", ex -> {
            if (!ex.getRequestMethod().equals("POST")) {
                PlainText.respond(ex, 405, "POST /undrain\n");
                return;
            }
            if (drain.undrain()) {
                System.out.println("nodelb-agent: undrained (admin endpoint): readiness answers 200 again");
            }
            answer(ex, drain);
        });
        server.start();
    }

    public static AdminServer start(InetSocketAddress address, Drain drain) throws IOException {
        return new AdminServer(address, drain);
    }

    private static void answer(HttpExchange ex, Drain drain) throws IOException {
        PlainText.respond(ex, 200, drain.since().map(t -> "draining since " + t + "\n").orElse("serving\n"));
    }


    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
