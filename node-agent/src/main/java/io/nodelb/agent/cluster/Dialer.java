package io.nodelb.agent.cluster;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Opens one channel to the operator per connection attempt. Everything is read afresh each
 * time: the token (projected tokens rotate), the certificates and key (cert-manager renews
 * them), and the address is resolved again — so a new attempt may reach another replica
 * instead of the same one that just said it is not the leader.
 */
final class Dialer {

    static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    /** A snapshot of the largest node (65,536 backends) is about 8 MiB; gRPC's default is 4. */
    private static final int MAX_SNAPSHOT_BYTES = 64 << 20;

    private final ClusterOptions options;
    private final Duration keepAliveTime;
    private final Duration keepAliveTimeout;
    private final String userAgent;

    Dialer(ClusterOptions options, Duration keepAliveTime, Duration keepAliveTimeout, String agentVersion) {
        this.options = options;
        this.keepAliveTime = keepAliveTime;
        this.keepAliveTimeout = keepAliveTimeout;
        this.userAgent = "nodelb-agent/" + agentVersion;
    }

    /** The {@code authorization} header with the token as it is in the file now. */
    Metadata credentials() throws DialException {
        String token = read("--token-file", options.tokenFile()).strip();
        if (token.isEmpty()) {
            throw new DialException("the token file " + options.tokenFile() + " (--token-file) is empty");
        }
        Metadata headers = new Metadata();
        headers.put(AUTHORIZATION, "Bearer " + token);
        return headers;
    }

    ManagedChannel open() throws DialException {
        ChannelCredentials credentials = options.plaintext() ? InsecureChannelCredentials.create() : tls();
        try {
            var builder = Grpc.newChannelBuilderForAddress(options.operator().host(), options.operator().port(),
                    credentials);
            if (options.serverName() != null) {
                builder.overrideAuthority(options.serverName() + ":" + options.operator().port());
            }
            return builder
                    // Pings find a dead operator or a silently dropped connection. gRPC raises a
                    // time under 10 s to 10 s, so a dead peer is noticed in 10-15 s; the operator's
                    // server must permit pings this often (permitKeepAliveTime <= 5 s, and
                    // permitKeepAliveWithoutCalls), or it ends the connection with too_many_pings.
                    .keepAliveTime(keepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
                    .keepAliveTimeout(keepAliveTimeout.toNanos(), TimeUnit.NANOSECONDS)
                    .keepAliveWithoutCalls(true)
                    .maxInboundMessageSize(MAX_SNAPSHOT_BYTES)
                    .userAgent(userAgent)
                    .build();
        } catch (IllegalArgumentException e) {
            // Unusable PEM content surfaces here, when the TLS context is built.
            throw new DialException("cannot use the TLS files (--ca-file " + options.caFile() + ", --cert-file "
                    + options.certFile() + ", --key-file " + options.keyFile() + "): "
                    + String.join(": ", FailureText.causeMessages(e)));
        }
    }

    private ChannelCredentials tls() throws DialException {
        byte[] ca = bytes("--ca-file", options.caFile());
        byte[] cert = bytes("--cert-file", options.certFile());
        byte[] key = bytes("--key-file", options.keyFile());
        try {
            return TlsChannelCredentials.newBuilder()
                    .trustManager(new ByteArrayInputStream(ca))
                    .keyManager(new ByteArrayInputStream(cert), new ByteArrayInputStream(key))
                    .build();
        } catch (IOException | IllegalArgumentException e) {
            throw new DialException("cannot use the TLS files (--ca-file " + options.caFile() + ", --cert-file "
                    + options.certFile() + ", --key-file " + options.keyFile() + "): "
                    + String.join(": ", FailureText.causeMessages(e)));
        }
    }

    private static String read(String flag, Path file) throws DialException {
        return new String(bytes(flag, file), StandardCharsets.UTF_8);
    }

    private static byte[] bytes(String flag, Path file) throws DialException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new DialException("cannot read " + flag + " " + file + ": no such file");
        } catch (IOException e) {
            throw new DialException("cannot read " + flag + " " + file + ": " + e);
        }
    }

    /** A connection attempt that failed before anything went on the wire. */
    static final class DialException extends Exception {
        DialException(String message) {
            super(message);
        }
    }
}
