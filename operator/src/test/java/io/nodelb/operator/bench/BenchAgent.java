package io.nodelb.operator.bench;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientStreamTracer;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.nodelb.dataplane.v1alpha1.Ack;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.DataPlaneGrpc;
import io.nodelb.dataplane.v1alpha1.Hello;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A simulated node agent: a real grpc-java client over mutual TLS, one connection per node as in a
 * cluster, that ACKs every snapshot the moment it is parsed (no data plane). It counts messages and
 * wire bytes, remembers its last snapshot's version and listener count (not the snapshot), and
 * notes when a snapshot that reflects an armed {@link Probe} arrives.
 */
final class BenchAgent implements AutoCloseable {
  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  final String node;
  private final ManagedChannel channel;
  final AtomicLong messages = new AtomicLong();
  final AtomicLong bytes = new AtomicLong();
  volatile String version = "";
  volatile int listeners = -1;
  volatile long firstMessageNanos;
  volatile long lastMessageBytes;
  private long bytesBefore;
  volatile Status closed;
  private volatile Probe probe;
  private ClientCallStreamObserver<AgentMessage> requests;

  /** What one change should bring: group {@code group} with {@code backends} backends. */
  static final class Probe {
    final String group;
    final int backends;
    volatile long arrivedNanos;
    volatile String version;

    Probe(String group, int backends) {
      this.group = group;
      this.backends = backends;
    }

    boolean matches(NodeSnapshot snapshot) {
      for (TargetGroup g : snapshot.getTargetGroupsList()) {
        if (g.getName().equals(group)) {
          return g.getBackendsCount() == backends;
        }
      }
      return false;
    }
  }

  private BenchAgent(String node, ManagedChannel channel) {
    this.node = node;
    this.channel = channel;
  }

  static BenchAgent connect(String node, int port, SslContext tls, EventLoopGroup loop, String token) {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port)
        .sslContext(tls)
        .eventLoopGroup(loop)
        .channelType(NioSocketChannel.class)
        .directExecutor()
        .maxInboundMessageSize(256 << 20)
        .build();
    BenchAgent agent = new BenchAgent(node, channel);
    agent.open(token);
    return agent;
  }

  void arm(Probe probe) {
    this.probe = probe;
  }

  private void open(String token) {
    Metadata headers = new Metadata();
    headers.put(AUTHORIZATION, "Bearer " + token);
    ClientInterceptor countBytes = new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        return next.newCall(method, options.withStreamTracerFactory(new ClientStreamTracer.Factory() {
          @Override
          public ClientStreamTracer newClientStreamTracer(ClientStreamTracer.StreamInfo info, Metadata metadata) {
            return new ClientStreamTracer() {
              @Override
              public void inboundWireSize(long size) {
                bytes.addAndGet(size);
              }
            };
          }
        }));
      }
    };
    DataPlaneGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers), countBytes)
        .stream(new ClientResponseObserver<AgentMessage, OperatorMessage>() {
          @Override
          public void beforeStart(ClientCallStreamObserver<AgentMessage> stream) {
            requests = stream;
          }

          @Override
          public void onNext(OperatorMessage message) {
            received(message);
          }

          @Override
          public void onError(Throwable t) {
            closed = Status.fromThrowable(t);
          }

          @Override
          public void onCompleted() {
            closed = Status.OK;
          }
        });
    send(AgentMessage.newBuilder().setHello(Hello.newBuilder().setNode(node).setLayoutVersion(1)
        .setAgentVersion("bench-agent")).build());
  }

  private void received(OperatorMessage message) {
    long now = System.nanoTime();
    NodeSnapshot snapshot = message.getSnapshot();
    if (messages.getAndIncrement() == 0) {
      firstMessageNanos = now;
    }
    Probe armed = probe;
    if (armed != null && armed.arrivedNanos == 0 && armed.matches(snapshot)) {
      armed.version = snapshot.getVersion();
      armed.arrivedNanos = now;
    }
    long total = bytes.get();
    lastMessageBytes = total - bytesBefore;
    bytesBefore = total;
    version = snapshot.getVersion();
    listeners = snapshot.getListenersCount();
    send(AgentMessage.newBuilder().setAck(Ack.newBuilder().setVersion(snapshot.getVersion())
        .setNonce(message.getNonce())).build());
  }

  private synchronized void send(AgentMessage message) {
    requests.onNext(message);
  }

  @Override
  public void close() {
    try {
      synchronized (this) {
        requests.onCompleted();
      }
    } catch (RuntimeException e) {
      // already gone
    }
    channel.shutdownNow();
    try {
      channel.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
