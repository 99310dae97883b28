package io.nodelb.operator.channel;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.nodelb.dataplane.v1alpha1.Ack;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.DataPlaneGrpc;
import io.nodelb.dataplane.v1alpha1.Hello;
import io.nodelb.dataplane.v1alpha1.Nack;
import io.nodelb.dataplane.v1alpha1.NodeReport;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.TrustManager;

/**
 * A node agent as far as the stream goes, written with plain grpc-java stubs: dials the snapshot
 * server (mutual TLS with PEMs, or plaintext), sends its token as "authorization: Bearer ..." and
 * a Hello, queues what the operator sends, and answers when told to. No data plane.
 *
 * <pre>{@code
 * var pems = ChannelCertificates.pems(client, "nodelb-system", ChannelCertificates.AGENT_SECRET);
 * try (TestAgent agent = TestAgent.connect(TestAgent.tls(port, pems), "token-n1", TestAgent.hello("n1"))) {
 *   OperatorMessage first = agent.next(Duration.ofSeconds(10));
 *   agent.ack(first);
 * }
 * }</pre>
 */
public final class TestAgent implements AutoCloseable {
  private final ManagedChannel channel;
  private final BlockingQueue<OperatorMessage> received = new LinkedBlockingQueue<>();
  private final CompletableFuture<Status> closed = new CompletableFuture<>();
  private final CompletableFuture<ClientCallStreamObserver<AgentMessage>> requests = new CompletableFuture<>();

  private TestAgent(ManagedChannel channel) {
    this.channel = channel;
  }

  /** A Hello for the layout this operator serves, with nothing applied yet. */
  public static Hello hello(String node) {
    return Hello.newBuilder().setNode(node).setLayoutVersion(SnapshotServer.LAYOUT_VERSION).setAgentVersion("test-agent").build();
  }

  /** Mutual TLS to 127.0.0.1:port, trusting {@code trust.caCertificate()}, presenting {@code client} (null: no client certificate). */
  public static ManagedChannel tls(int port, ChannelCertificates.Pems trust, ChannelCertificates.Pems client) {
    try {
      SslContextBuilder ssl = GrpcSslContexts.forClient()
          .trustManager(CertificateAuthority.certificates(trust.caCertificate()).toArray(X509Certificate[]::new));
      if (client != null) {
        ssl.keyManager(CertificateAuthority.privateKey(client.privateKey()),
            CertificateAuthority.certificates(client.certificate()).toArray(X509Certificate[]::new));
      }
      return NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(ssl.build()).build();
    } catch (GeneralSecurityException | javax.net.ssl.SSLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Like {@link #tls(int, ChannelCertificates.Pems, ChannelCertificates.Pems)} with the server checked by {@code trust}. */
  public static ManagedChannel tls(int port, TrustManager trust, ChannelCertificates.Pems client) {
    try {
      return NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(GrpcSslContexts.forClient().trustManager(trust)
          .keyManager(CertificateAuthority.privateKey(client.privateKey()),
              CertificateAuthority.certificates(client.certificate()).toArray(X509Certificate[]::new)).build()).build();
    } catch (GeneralSecurityException | javax.net.ssl.SSLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The agent's certificate and the CA, both from one Secret: the usual case. */
  public static ManagedChannel tls(int port, ChannelCertificates.Pems agent) {
    return tls(port, agent, agent);
  }

  public static ManagedChannel plaintext(int port) {
    return NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
  }

  /** Opens the stream on {@code channel} (closed with the agent), sends {@code token} (null: none) and {@code hello}. */
  public static TestAgent connect(ManagedChannel channel, String token, Hello hello) {
    TestAgent agent = new TestAgent(channel);
    agent.open(token, AgentMessage.newBuilder().setHello(hello).build());
    return agent;
  }

  /** Opens the stream and sends {@code first} as is (to test what the server makes of a wrong first message). */
  public static TestAgent connectSending(ManagedChannel channel, String token, AgentMessage first) {
    TestAgent agent = new TestAgent(channel);
    agent.open(token, first);
    return agent;
  }

  private void open(String token, AgentMessage first) {
    Metadata headers = new Metadata();
    if (token != null) {
      headers.put(SnapshotServer.AUTHORIZATION, "Bearer " + token);
    }
    DataPlaneGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
        .stream(new ClientResponseObserver<AgentMessage, OperatorMessage>() {
          @Override
          public void beforeStart(ClientCallStreamObserver<AgentMessage> stream) {
            requests.complete(stream);
          }

          @Override
          public void onNext(OperatorMessage message) {
            received.add(message);
          }

          @Override
          public void onError(Throwable t) {
            closed.complete(Status.fromThrowable(t));
          }

          @Override
          public void onCompleted() {
            closed.complete(Status.OK);
          }
        });
    send(first);
  }

  /** The next message from the operator; fails when none comes in time. */
  public OperatorMessage next(Duration timeout) {
    return poll(timeout).orElseThrow(() -> new AssertionError("no snapshot within " + timeout
        + (closed.isDone() ? "; the stream ended: " + closed.join() : "")));
  }

  public Optional<OperatorMessage> poll(Duration timeout) {
    try {
      return Optional.ofNullable(received.poll(timeout.toMillis(), TimeUnit.MILLISECONDS));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** Messages received and not taken yet. */
  public int queued() {
    return received.size();
  }

  public void ack(OperatorMessage message) {
    send(AgentMessage.newBuilder().setAck(Ack.newBuilder().setVersion(message.getSnapshot().getVersion())
        .setNonce(message.getNonce())).build());
  }

  public void nack(OperatorMessage message, String error) {
    send(AgentMessage.newBuilder().setNack(Nack.newBuilder().setVersion(message.getSnapshot().getVersion())
        .setNonce(message.getNonce()).setError(error)).build());
  }

  public void report(NodeReport report) {
    send(AgentMessage.newBuilder().setReport(report).build());
  }

  public void send(AgentMessage message) {
    ClientCallStreamObserver<AgentMessage> stream = requests.join();
    synchronized (stream) {
      stream.onNext(message);
    }
  }

  /** How the stream ended; fails when it is still open after {@code timeout}. */
  public Status awaitClosed(Duration timeout) {
    try {
      return closed.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new AssertionError("the stream is still open after " + timeout);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public boolean isClosed() {
    return closed.isDone();
  }

  /** Cancels the call, as an agent that goes away does. */
  public void cancel() {
    requests.join().cancel("test agent cancels", null);
  }

  @Override
  public void close() {
    if (!closed.isDone()) {
      try {
        requests.join().onCompleted();
      } catch (RuntimeException e) {
        // already gone
      }
    }
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
