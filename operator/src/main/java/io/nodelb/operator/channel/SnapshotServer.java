package io.nodelb.operator.channel;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import java.nio.channels.ServerSocketChannel;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.DataPlaneGrpc;
import io.nodelb.model.compiler.SerializedSnapshot;
import io.nodelb.operator.SnapshotStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The operator's end of the control channel: serves {@code DataPlane.Stream} to node agents over
 * mutual TLS (see {@link ChannelCertificates}), checks each agent's node with an {@link
 * AgentAuthenticator}, and pushes each node's snapshot from the {@link SnapshotStore} through one
 * {@link AgentSession} per node.
 *
 * <p>Every replica runs it; only the leader serves. The store is the leader's memory (a follower's
 * reconcilers do not run, its store is empty), so a follower ends every stream with UNAVAILABLE
 * "not the leader" and the agent retries, reaching the leader through the Service sooner or later.
 * A new leader serves once its model is warm ({@code modelWarm}): before, a snapshot could miss
 * listeners or backends and an agent that applied it would drop traffic, so streams that arrive
 * earlier wait for their first snapshot instead.
 */
public final class SnapshotServer implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(SnapshotServer.class.getName());

  /** The data-plane layout (NLB_LAYOUT_VERSION) this operator's snapshots are for. */
  public static final int LAYOUT_VERSION = 7;
  /**
   * The server pings a connection that has been quiet this long, and drops it when the ping is not
   * answered in {@link #KEEPALIVE_TIMEOUT}: an agent whose node or network died is noticed at most
   * 13 s after its last byte. 10 s is grpc-java's floor (a smaller keepalive time is raised to it).
   */
  static final Duration KEEPALIVE_TIME = Duration.ofSeconds(10);
  static final Duration KEEPALIVE_TIMEOUT = Duration.ofSeconds(3);
  /** Agents may ping every 5 s (grpc-java clients: every 10 s at most); a little jitter below that is fine. */
  static final Duration PERMIT_KEEPALIVE_TIME = Duration.ofSeconds(4);
  static final Duration WARM_PROBE = Duration.ofMillis(200);
  /** A stream that has not said Hello by then is ended: it holds resources and says nothing. */
  static final Duration HELLO_TIMEOUT = Duration.ofSeconds(30);
  static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(5);
  static final Status NOT_THE_LEADER = Status.UNAVAILABLE.withDescription(
      "not the leader: this operator replica does not serve snapshots now; retry to reach the leader");
  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final Context.Key<String> TOKEN = Context.key("nodelb-bearer-token");
  private static final Context.Key<String> PEER = Context.key("nodelb-peer");

  private final ChannelSettings settings;
  private final SnapshotStore store;
  private final BooleanSupplier modelWarm;
  private final AgentAuthenticator authenticator;
  private final ChannelCertificates certificates;
  private final Clock clock;
  private final Map<String, AgentSession> sessions = new ConcurrentHashMap<>();
  private final ChannelCounters counters = new ChannelCounters();
  private final Map<String, SerializedSnapshot> emptySnapshots = new ConcurrentHashMap<>();
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "nodelb-snapshot-server");
    t.setDaemon(true);
    return t;
  });
  private volatile boolean leader;
  private volatile boolean serving;
  private volatile boolean closed;
  private Server server;
  /** Event loops made for {@link #start(ServerSocketChannel)}; gRPC shuts down only its own. */
  private List<NioEventLoopGroup> ownedEventLoops = List.of();
  private AdvancedTlsX509KeyManager keyManager;
  private AdvancedTlsX509TrustManager trustManager;
  private String fingerprint = "";

  /**
   * @param modelWarm whether the model reflects the cluster (see {@code ClusterModel.warm()})
   * @param certificates where the key material comes from; unused with {@link ChannelSettings#plaintext()}
   */
  public SnapshotServer(ChannelSettings settings, SnapshotStore store, BooleanSupplier modelWarm,
      AgentAuthenticator authenticator, ChannelCertificates certificates, Clock clock) {
    this.settings = settings;
    this.store = store;
    this.modelWarm = modelWarm;
    this.authenticator = authenticator;
    this.certificates = certificates;
    this.clock = clock;
  }

  /** Binds the port; streams are refused with UNAVAILABLE until {@link #leading(boolean) leading(true)}. */
  public synchronized void start() {
    start(NettyServerBuilder.forAddress(new InetSocketAddress(settings.host(), settings.port())));
  }

  /**
   * Serves on a socket opened elsewhere and not yet bound (socket activation): it is bound to the
   * configured host and port. A socket keeps the network namespace it was opened in, so the
   * end-to-end tier serves agents inside its lab's namespaces this way.
   */
  public synchronized void start(ServerSocketChannel socket) {
    NioEventLoopGroup boss = new NioEventLoopGroup(1);
    NioEventLoopGroup workers = new NioEventLoopGroup(2);
    ownedEventLoops = List.of(boss, workers);
    start(NettyServerBuilder.forAddress(new InetSocketAddress(settings.host(), settings.port()))
        .channelFactory(() -> new NioServerSocketChannel(socket))
        .bossEventLoopGroup(boss)
        .workerEventLoopGroup(workers));
  }

  private void start(NettyServerBuilder listening) {
    NettyServerBuilder builder = listening
        .keepAliveTime(KEEPALIVE_TIME.toMillis(), TimeUnit.MILLISECONDS)
        .keepAliveTimeout(KEEPALIVE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
        .permitKeepAliveTime(PERMIT_KEEPALIVE_TIME.toMillis(), TimeUnit.MILLISECONDS)
        .permitKeepAliveWithoutCalls(true)
        .addService(ServerInterceptors.intercept(ServerServiceDefinition.builder(DataPlaneGrpc.SERVICE_NAME)
            .addMethod(STREAM, ServerCalls.asyncBidiStreamingCall(this::stream))
            .build(), new CallerInterceptor()));
    if (settings.plaintext()) {
      LOG.log(Level.WARNING, "The snapshot server runs in PLAINTEXT (nodelb.grpc.plaintext=true): no TLS, and any"
          + " caller may claim any node. Only for labs and tests.");
    } else {
      builder.sslContext(sslContext());
    }
    try {
      server = builder.build().start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot listen on " + settings.host() + ":" + settings.port(), e);
    }
    store.addSnapshotListener(nodes -> scheduler.execute(() -> push(nodes)));
    scheduler.scheduleWithFixedDelay(this::probeWarm, 0, WARM_PROBE.toMillis(), TimeUnit.MILLISECONDS);
    if (!settings.plaintext()) {
      long every = settings.certificateCheck().toMillis();
      scheduler.scheduleWithFixedDelay(this::checkCertificates, every, every, TimeUnit.MILLISECONDS);
    }
    LOG.log(Level.INFO, "Snapshot server listening on {0}:{1} ({2})", settings.host(), String.valueOf(port()),
        settings.plaintext() ? "plaintext" : "mutual TLS; agents: " + settings.agentUsername() + ", token audience "
            + settings.tokenAudience());
  }

  public int port() {
    return server.getPort();
  }

  /**
   * This replica holds the lead (true) or lost it (false). Holding it starts a new term in the store
   * (the agents' state of an earlier term is forgotten); losing it ends every stream with
   * UNAVAILABLE so the agents find the new leader.
   */
  public synchronized void leading(boolean leading) {
    if (leading == leader || closed) {
      return;
    }
    if (leading) {
      store.beginTerm(now());
      leader = true;
      LOG.log(Level.INFO, "Leading: serving snapshots as soon as the model is warm");
      scheduler.execute(this::probeWarm);
    } else {
      leader = false;
      serving = false;
      LOG.log(Level.INFO, "Not leading: ending {0} agent stream(s) with UNAVAILABLE", sessions.size());
      List.copyOf(sessions.values()).forEach(s -> s.fail(NOT_THE_LEADER));
    }
  }

  /** Whether this replica holds the lead. */
  public boolean leader() {
    return leader;
  }

  /** Whether the port is bound and not closed. */
  public synchronized boolean listening() {
    return server != null && !closed && !server.isShutdown();
  }

  /** What went out and came back on the streams, since the start (every term). */
  public ChannelCounters counters() {
    return counters;
  }

  /** Whether snapshots go out now: the leader, with a warm model. */
  boolean serving() {
    return serving;
  }

  /** Nodes with an open agent stream. */
  public Set<String> connectedNodes() {
    return new TreeSet<>(sessions.keySet());
  }

  /**
   * Looks at the certificates now (also done every {@link ChannelSettings#certificateCheck()}): a
   * renewed or changed certificate is used for new TLS handshakes; open streams stay.
   */
  public synchronized void checkCertificates() {
    if (settings.plaintext() || closed) {
      return;
    }
    try {
      ChannelCertificates.KeyMaterial material = certificates.load();
      if (!material.fingerprint().equals(fingerprint)) {
        use(material);
        LOG.log(Level.INFO, "Snapshot server uses a new certificate (valid until {0})",
            material.chain().getFirst().getNotAfter().toInstant());
      }
    } catch (RuntimeException | GeneralSecurityException | IOException e) {
      LOG.log(Level.WARNING, "Could not check the control channel certificates, keeping the current ones: " + e, e);
    }
  }

  /** Stops accepting streams, ends the open ones with UNAVAILABLE (agents go to another replica) and waits a little. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    leader = false;
    serving = false;
    if (server != null) {
      server.shutdown();
      Status shuttingDown = Status.UNAVAILABLE.withDescription("the operator is shutting down; retry");
      List.copyOf(sessions.values()).forEach(s -> s.fail(shuttingDown));
      try {
        if (!server.awaitTermination(SHUTDOWN_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
          server.shutdownNow();
        }
      } catch (InterruptedException e) {
        server.shutdownNow();
        Thread.currentThread().interrupt();
      }
    }
    scheduler.shutdownNow();
    ownedEventLoops.forEach(group -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS));
    LOG.log(Level.INFO, "Snapshot server stopped");
  }

  // ---- for sessions ----

  SnapshotStore store() {
    return store;
  }

  AgentAuthenticator authenticator() {
    return authenticator;
  }

  Instant now() {
    return clock.instant();
  }

  /** The node's desired snapshot; a node the model does not know gets an empty one, so its agent clears what it had. */
  SerializedSnapshot snapshotFor(String node) {
    return store.serialized(node).orElseGet(() -> emptySnapshots.computeIfAbsent(node,
        n -> SerializedSnapshot.of(SnapshotStore.emptySnapshot(n))));
  }

  /** One stream per node: a newer stream replaces (cancels) the older. False when this replica does not lead. */
  boolean register(AgentSession session) {
    if (!leader || closed) {
      return false;
    }
    AgentSession older = sessions.put(session.node(), session);
    if (!leader) { // lost the lead meanwhile: leading(false) may not have seen this one
      sessions.remove(session.node(), session);
      return false;
    }
    if (older != null && older != session) {
      LOG.log(Level.INFO, "Node {0}: a newer stream replaces the older one", session.node());
      // Not under this session's lock: the older one takes its own.
      scheduler.execute(() -> older.fail(Status.CANCELLED.withDescription(
          "replaced by a newer stream from node " + session.node())));
    }
    return true;
  }

  void unregister(AgentSession session, String reason) {
    String node = session.node();
    if (sessions.remove(node, session)) {
      LOG.log(Level.INFO, "Agent disconnected: node {0} ({1})", node, reason);
      store.agentDisconnected(node, reason, now());
    } else {
      LOG.log(Level.DEBUG, "node {0}: an older stream ended ({1})", node, reason);
    }
  }

  // ---- internals ----

  private void push(Set<String> nodes) {
    if (!serving) {
      return;
    }
    for (String node : nodes) {
      AgentSession session = sessions.get(node);
      if (session != null) {
        session.offer();
      }
    }
  }

  private void probeWarm() {
    if (!leader || serving || closed) {
      return;
    }
    boolean warm;
    try {
      warm = modelWarm.getAsBoolean();
    } catch (RuntimeException e) {
      LOG.log(Level.DEBUG, "model warmth unknown: " + e);
      return;
    }
    if (warm && leader) {
      serving = true;
      LOG.log(Level.INFO, "The model is warm: serving snapshots to {0} waiting agent stream(s)", sessions.size());
      sessions.values().forEach(AgentSession::offer);
    }
  }

  private SslContext sslContext() {
    try {
      keyManager = new AdvancedTlsX509KeyManager();
      trustManager = AdvancedTlsX509TrustManager.newBuilder()
          .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
          .build();
      use(certificates.load());
      return GrpcSslContexts.configure(SslContextBuilder.forServer(keyManager))
          .trustManager(trustManager)
          .clientAuth(ClientAuth.REQUIRE)
          .build();
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException("cannot set up TLS for the snapshot server: " + e.getMessage(), e);
    }
  }

  private void use(ChannelCertificates.KeyMaterial material) throws GeneralSecurityException, IOException {
    keyManager.updateIdentityCredentials(material.chain().toArray(X509Certificate[]::new), material.key());
    trustManager.updateTrustCredentials(material.trusted().toArray(X509Certificate[]::new));
    fingerprint = material.fingerprint();
  }

  /** Puts the bearer token and the peer address where the session finds them. */
  private static final class CallerInterceptor implements ServerInterceptor {
    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
        ServerCallHandler<Q, R> next) {
      String authorization = headers.get(AUTHORIZATION);
      String token = authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
          ? authorization.substring(7).trim() : null;
      SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
      Context context = Context.current().withValues(TOKEN, token, PEER, String.valueOf(remote));
      return Contexts.interceptCall(context, call, headers, next);
    }
  }

  /**
   * {@code DataPlane.Stream} as the generated service declares it, but with responses written from
   * the snapshots' cached bytes ({@link OutgoingSnapshot}): the same messages on the wire.
   */
  static final MethodDescriptor<AgentMessage, OutgoingSnapshot> STREAM = DataPlaneGrpc.getStreamMethod()
      .toBuilder(ProtoUtils.marshaller(AgentMessage.getDefaultInstance()), OutgoingSnapshot.MARSHALLER)
      .build();

  private StreamObserver<AgentMessage> stream(StreamObserver<OutgoingSnapshot> responses) {
    ServerCallStreamObserver<OutgoingSnapshot> call = (ServerCallStreamObserver<OutgoingSnapshot>) responses;
    if (!leader || closed) {
      call.onError(NOT_THE_LEADER.asRuntimeException());
      return new StreamObserver<>() {
        @Override
        public void onNext(AgentMessage value) {}

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {}
      };
    }
    AgentSession session = new AgentSession(SnapshotServer.this, call, TOKEN.get(), PEER.get());
    scheduler.schedule(session::helloTimeout, HELLO_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    return session;
  }
}
