package io.nodelb.agent.cluster;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.DataPlaneGrpc;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Queue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A real gRPC server on 127.0.0.1 standing in for the operator: it records what agents send. */
final class FakeOperator implements AutoCloseable {

    private static final Context.Key<String> AUTHORIZATION = Context.key("authorization");

    /** One stream an agent opened. */
    static final class Stream {
        final String authorization;
        final BlockingQueue<AgentMessage> received = new LinkedBlockingQueue<>();
        final CountDownLatch agentHalfClosed = new CountDownLatch(1);
        final CountDownLatch cancelled = new CountDownLatch(1);
        private final StreamObserver<OperatorMessage> toAgent;

        private Stream(String authorization, StreamObserver<OperatorMessage> toAgent) {
            this.authorization = authorization;
            this.toAgent = toAgent;
        }

        synchronized void send(NodeSnapshot snapshot, String nonce) {
            toAgent.onNext(OperatorMessage.newBuilder().setSnapshot(snapshot).setNonce(nonce).build());
        }

        /** The next message from the agent; fails when none comes in time. */
        AgentMessage next(Duration timeout) throws InterruptedException {
            AgentMessage m = received.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (m == null) {
                throw new AssertionError("the agent sent nothing within " + timeout);
            }
            return m;
        }

        /** The next ACK or NACK; node reports sent meanwhile (their timing is the agent's) are skipped. */
        AgentMessage nextAnswer(Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                AgentMessage m = next(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
                if (!m.hasReport()) {
                    return m;
                }
            }
        }
    }

    private final Server server;
    private final BlockingQueue<Stream> streams = new LinkedBlockingQueue<>();
    /** Each stream opened takes one refusal, if there is one, and ends with it at once. */
    final Queue<Status> refusals = new ConcurrentLinkedQueue<>();

    private FakeOperator(int port, ServerCredentials credentials) throws IOException {
        ServerInterceptor recordToken = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                               ServerCallHandler<Q, R> next) {
                String token = headers.get(Dialer.AUTHORIZATION);
                return Contexts.interceptCall(Context.current().withValue(AUTHORIZATION, token), call, headers, next);
            }
        };
        server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), credentials)
                // The agent pings every 10 s (gRPC's floor); a default server would answer too_many_pings.
                .permitKeepAliveTime(5, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .addService(ServerInterceptors.intercept(new Service(), recordToken))
                .build()
                .start();
    }

    /** Requires a client certificate signed by {@code clientCa}. */
    static FakeOperator tls(int port, TestPki.Issued serverCert, Path clientCa) throws IOException {
        return new FakeOperator(port, TlsServerCredentials.newBuilder()
                .keyManager(serverCert.cert().toFile(), serverCert.key().toFile())
                .trustManager(clientCa.toFile())
                .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE)
                .build());
    }

    static FakeOperator plaintext(int port) throws IOException {
        return new FakeOperator(port, InsecureServerCredentials.create());
    }

    int port() {
        return server.getPort();
    }

    /** The next stream an agent opens; fails when none comes in time. */
    Stream nextStream(Duration timeout) throws InterruptedException {
        Stream s = streams.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (s == null) {
            throw new AssertionError("no agent opened a stream within " + timeout);
        }
        return s;
    }

    /** True when no stream was opened within {@code period}. */
    boolean noStreamFor(Duration period) throws InterruptedException {
        return streams.poll(period.toMillis(), TimeUnit.MILLISECONDS) == null;
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private final class Service extends DataPlaneGrpc.DataPlaneImplBase {
        @Override
        public StreamObserver<AgentMessage> stream(StreamObserver<OperatorMessage> toAgent) {
            Status refusal = refusals.poll();
            if (refusal != null) {
                toAgent.onError(refusal.asRuntimeException());
                return new StreamObserver<>() {
                    @Override public void onNext(AgentMessage value) {}
                    @Override public void onError(Throwable t) {}
                    @Override public void onCompleted() {}
                };
            }
            Stream stream = new Stream(AUTHORIZATION.get(), toAgent);
            streams.add(stream);
            return new StreamObserver<>() {
                @Override
                public void onNext(AgentMessage value) {
                    stream.received.add(value);
                }

                @Override
                public void onError(Throwable t) {
                    stream.cancelled.countDown();
                }

                @Override
                public void onCompleted() {
                    stream.agentHalfClosed.countDown();
                    synchronized (stream) {
                        toAgent.onCompleted();
                    }
                }
            };
        }
    }
}
