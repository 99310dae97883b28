package io.nodelb.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.nodelb.agent.cluster.TestPki;
import io.nodelb.dataplane.v1alpha1.HealthCheck;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real checks against real servers on loopback: TCP, HTTP status ({@code expectedCodes}) and Host
 * header ({@code host}), the check's own {@code port}, HTTPS with and without a CA ({@code caCertificate}).
 */
class ProbeTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private HttpServer server;
    private final AtomicReference<String> hostSeen = new AtomicReference<>();
    private volatile int status = 200;

    @TempDir
    Path dir;

    @AfterEach
    void stop() {
        if (server != null) {
            server.stop(0);
        }
    }

    private int serve(HttpServer s) {
        server = s;
        s.createContext("/healthz", exchange -> {
            hostSeen.set(exchange.getRequestHeaders().getFirst("Host"));
            exchange.sendResponseHeaders(status, -1);
            exchange.close();
        });
        s.start();
        return s.getAddress().getPort();
    }

    private static HealthCheck.Builder check(HealthCheck.Type type) {
        return HealthCheck.newBuilder().setType(type).setTimeoutMillis(2000).setPath("/healthz");
    }

    @Test
    void tcpConnectsOrSaysWhyNot() throws Exception {
        int port = serve(HttpServer.create(new InetSocketAddress(LOOPBACK, 0), 0));
        Probe probe = new Probe(check(HealthCheck.Type.TCP).clearPath().build());
        assertThat(probe.run(LOOPBACK, port, null).ok()).isTrue();
        assertThat(new Probe(check(HealthCheck.Type.TCP).clearPath().setPort(port).build()).run(LOOPBACK, 1, null).ok())
                .as("the check's own port instead of the backend's").isTrue();
        server.stop(0);
        server = null;
        Probe.Result refused = probe.run(LOOPBACK, port, null);
        assertThat(refused.ok()).isFalse();
        assertThat(refused.reason()).startsWith("connect:").contains("refused");
    }

    @Test
    void httpWantsAnExpectedStatusAndSendsTheHostGiven() throws Exception {
        int port = serve(HttpServer.create(new InetSocketAddress(LOOPBACK, 0), 0));
        Probe probe = new Probe(check(HealthCheck.Type.HTTP).setExpectedCodes("200-299").setHost("web.example").build());
        assertThat(probe.run(LOOPBACK, port, LOOPBACK).ok()).as("bound to the source address given").isTrue();
        assertThat(hostSeen.get()).isEqualTo("web.example");
        status = 503;
        Probe.Result unavailable = probe.run(LOOPBACK, port, null);
        assertThat(unavailable.ok()).isFalse();
        assertThat(unavailable.reason()).isEqualTo("HTTP 503");
        status = 204;
        assertThat(new Probe(check(HealthCheck.Type.HTTP).build()).run(LOOPBACK, port, null).ok())
                .as("default codes 200-399").isTrue();
    }

    @Test
    void httpsWithASelfSignedCertificateWithoutAndWithTheCa() throws Exception {
        TestPki pki = TestPki.create(dir, "backend");
        TestPki.Issued issued = pki.server("localhost");
        HttpsServer https = HttpsServer.create(new InetSocketAddress(LOOPBACK, 0), 0);
        https.setHttpsConfigurator(new HttpsConfigurator(TestPki.serverContext(issued)));
        int port = serve(https);
        String ca = Files.readString(pki.caFile);

        assertThat(new Probe(check(HealthCheck.Type.HTTPS).build()).run(LOOPBACK, port, null).ok())
                .as("no CA: TLS without verification").isTrue();
        assertThat(new Probe(check(HealthCheck.Type.HTTPS).setCaCertificate(ca).setHost("localhost").build())
                .run(LOOPBACK, port, null).ok()).as("verified against its CA, name localhost").isTrue();

        String otherCa = Files.readString(TestPki.create(dir, "other").caFile);
        Probe.Result untrusted = new Probe(check(HealthCheck.Type.HTTPS).setCaCertificate(otherCa).build())
                .run(LOOPBACK, port, null);
        assertThat(untrusted.ok()).isFalse();
        assertThat(untrusted.reason()).startsWith("TLS:");
        Probe.Result wrongName = new Probe(check(HealthCheck.Type.HTTPS).setCaCertificate(ca).setHost("web.example")
                .build()).run(LOOPBACK, port, null);
        assertThat(wrongName.ok()).as("a name the certificate does not carry").isFalse();

        status = 500;
        assertThat(new Probe(check(HealthCheck.Type.HTTPS).build()).run(LOOPBACK, port, null).reason())
                .isEqualTo("HTTP 500");
    }
}
