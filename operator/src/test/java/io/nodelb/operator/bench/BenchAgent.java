package io.nodelb.operator.bench;

import com.google.protobuf.CodedInputStream;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.nodelb.dataplane.v1alpha1.Ack;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.DataPlaneGrpc;
import io.nodelb.dataplane.v1alpha1.Hello;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.OperatorMessage;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A simulated node agent: a real grpc-java client over mutual TLS, one connection per node as in a
 * cluster, that ACKs every snapshot the moment it is read (no data plane). It counts messages and
 * bytes, remembers its last snapshot's version and listener count (not the snapshot), and notes
 * when a snapshot that reflects an armed {@link Probe} arrives. It reads only what it needs of a
 * snapshot ({@link ReadMarshaller}).
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
    MethodDescriptor<AgentMessage, Received> method = DataPlaneGrpc.getStreamMethod()
        .toBuilder(ProtoUtils.marshaller(AgentMessage.getDefaultInstance()), new ReadMarshaller())
        .build();
    Channel intercepted = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
    ClientCalls.asyncBidiStreamingCall(intercepted.newCall(method, CallOptions.DEFAULT),
        new ClientResponseObserver<AgentMessage, Received>() {
          @Override
          public void beforeStart(ClientCallStreamObserver<AgentMessage> stream) {
            requests = stream;
          }

          @Override
          public void onNext(Received message) {
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
    send(AgentMessage.newBuilder().setHello(Hello.newBuilder().setNode(node).setLayoutVersion(io.nodelb.operator.channel.SnapshotServer.LAYOUT_VERSION)
        .setAgentVersion("bench-agent")).build());
  }

  /** What the bench reads of an OperatorMessage; parsed while gRPC delivers it (see {@link ReadMarshaller}). */
  record Received(String version, String nonce, int listeners, Probe matched, long bytes) {}

  /**
   * Reads an OperatorMessage the way the bench needs it: the snapshot's version, how many listeners
   * it has and, for the armed probe's group only, how many backends; every other group is skipped by
   * its length. A real agent parses its whole snapshot on its own node; here up to 500 agents share
   * the bench machine's two cores with the operator, and parsing 1.3 MB snapshots five times per
   * change (about 10 ms each) would be measured as the operator's latency.
   */
  private final class ReadMarshaller implements MethodDescriptor.Marshaller<Received> {
    @Override
    public InputStream stream(Received value) {
      throw new UnsupportedOperationException("agents only read OperatorMessages");
    }

    @Override
    public Received parse(InputStream stream) {
      try {
        byte[] bytes = stream.readAllBytes();
        CodedInputStream in = CodedInputStream.newInstance(bytes);
        Probe armed = probe;
        String version = "";
        String nonce = "";
        int listeners = 0;
        Probe matched = null;
        for (int tag; (tag = in.readTag()) != 0; ) {
          if (tag == ((OperatorMessage.SNAPSHOT_FIELD_NUMBER << 3) | 2)) {
            int limit = in.pushLimit(in.readRawVarint32());
            for (int field; (field = in.readTag()) != 0; ) {
              switch (field >>> 3) {
                case NodeSnapshot.VERSION_FIELD_NUMBER -> version = in.readStringRequireUtf8();
                case NodeSnapshot.LISTENERS_FIELD_NUMBER -> {
                  listeners++;
                  in.skipField(field);
                }
                case NodeSnapshot.TARGET_GROUPS_FIELD_NUMBER -> {
                  int group = in.pushLimit(in.readRawVarint32());
                  if (armed != null && countBackends(in, armed.group) == armed.backends) {
                    matched = armed;
                  }
                  in.skipRawBytes(in.getBytesUntilLimit());
                  in.popLimit(group);
                }
                default -> in.skipField(field);
              }
            }
            in.popLimit(limit);
          } else if (tag == ((OperatorMessage.NONCE_FIELD_NUMBER << 3) | 2)) {
            nonce = in.readStringRequireUtf8();
          } else {
            in.skipField(tag);
          }
        }
        return new Received(version, nonce, listeners, matched, bytes.length);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** Backends of the group under the limit if it is {@code name} (its name is field 1, first); -1 otherwise. */
    private int countBackends(CodedInputStream in, String name) throws IOException {
      int backends = 0;
      boolean named = false;
      for (int field; (field = in.readTag()) != 0; ) {
        if (field >>> 3 == io.nodelb.dataplane.v1alpha1.TargetGroup.NAME_FIELD_NUMBER) {
          if (!in.readStringRequireUtf8().equals(name)) {
            return -1;
          }
          named = true;
        } else if (field >>> 3 == io.nodelb.dataplane.v1alpha1.TargetGroup.BACKENDS_FIELD_NUMBER) {
          backends++;
          in.skipField(field);
        } else {
          in.skipField(field);
        }
      }
      return named ? backends : -1;
    }
  }

  private void received(Received message) {
    long now = System.nanoTime();
    if (messages.getAndIncrement() == 0) {
      firstMessageNanos = now;
    }
    bytes.addAndGet(message.bytes());
    lastMessageBytes = message.bytes();
    Probe armed = message.matched();
    if (armed != null && armed == probe && armed.arrivedNanos == 0) {
      armed.version = message.version();
      armed.arrivedNanos = now;
    }
    version = message.version();
    listeners = message.listeners();
    send(AgentMessage.newBuilder().setAck(Ack.newBuilder().setVersion(message.version())
        .setNonce(message.nonce())).build());
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
