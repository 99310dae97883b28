package io.nodelb.operator.channel;

import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.nodelb.dataplane.v1alpha1.Ack;
import io.nodelb.dataplane.v1alpha1.AgentMessage;
import io.nodelb.dataplane.v1alpha1.Hello;
import io.nodelb.dataplane.v1alpha1.Nack;
import io.nodelb.model.compiler.SerializedSnapshot;
import java.lang.System.Logger.Level;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * One agent's stream, state of the world: after the Hello it holds at most one snapshot in flight.
 * While the agent has not answered, newer versions are not queued: when the answer comes the
 * session sends whatever is current then, if the agent does not have it yet. So a slow agent skips
 * the versions that came and went while it was busy.
 *
 * <p>gRPC calls {@link #onNext} serially; the server calls {@link #offer} from its own thread when
 * a snapshot changes. Both take this session's lock, which also keeps writes to the response
 * observer serial (it is not thread-safe).
 */
final class AgentSession implements StreamObserver<AgentMessage> {
  private static final System.Logger LOG = System.getLogger(AgentSession.class.getName());
  private static final SecureRandom RANDOM = new SecureRandom();

  private final SnapshotServer server;
  private final ServerCallStreamObserver<OutgoingSnapshot> responses;
  private final String token;
  private final String peer;
  // Guarded by this.
  private String node;
  private String agentVersion = "";
  private boolean closed;
  /** Nonce and version of the snapshot the agent has not answered yet; null when none. */
  private String inFlightNonce;
  private String inFlightVersion;
  /** The last version the agent was given or said it has: not sent again. */
  private String offeredVersion = "";
  /** The Hello named a version while the model was not warm: acknowledged once the model says it is current. */
  private boolean helloUnanswered;

  AgentSession(SnapshotServer server, ServerCallStreamObserver<OutgoingSnapshot> responses, String token, String peer) {
    this.server = server;
    this.responses = responses;
    this.token = token;
    this.peer = peer;
    responses.setOnCancelHandler(() -> ended("the agent went away (stream cancelled or connection lost)"));
  }

  synchronized String node() {
    return node;
  }

  @Override
  public synchronized void onNext(AgentMessage message) {
    if (closed) {
      return;
    }
    if (node == null) {
      hello(message);
      return;
    }
    boolean answered = false;
    switch (message.getKindCase()) {
      case ACK -> answered = ack(message.getAck());
      case NACK -> answered = nack(message.getNack());
      case REPORT -> server.store().report(node, message.getReport(), server.now());
      case HELLO -> fail(Status.INVALID_ARGUMENT.withDescription("Hello is only the first message of a stream"));
      default -> LOG.log(Level.DEBUG, "node {0}: ignoring an empty message", node);
    }
    if (answered) {
      sendCurrent(); // the newest version, if the agent does not have it yet
    }
  }

  private void hello(AgentMessage message) {
    if (!message.hasHello()) {
      fail(Status.INVALID_ARGUMENT.withDescription("the first message of a stream must be a Hello, not "
          + message.getKindCase()));
      return;
    }
    Hello hello = message.getHello();
    if (hello.getNode().isEmpty()) {
      fail(Status.INVALID_ARGUMENT.withDescription("Hello.node is empty: the agent must name its node"));
      return;
    }
    if (hello.getLayoutVersion() != SnapshotServer.LAYOUT_VERSION) {
      fail(Status.FAILED_PRECONDITION.withDescription("the agent on node " + hello.getNode() + " runs data-plane layout "
          + hello.getLayoutVersion() + " but this operator serves layout " + SnapshotServer.LAYOUT_VERSION
          + ": run an agent and an operator of matching releases"));
      return;
    }
    AgentAuthenticator.Identity identity;
    try {
      identity = server.authenticator().authenticate(token, hello.getNode());
    } catch (StatusException e) {
      LOG.log(Level.WARNING, "Refused a stream from {0} claiming node {1}: {2} {3}", peer, hello.getNode(),
          e.getStatus().getCode(), e.getStatus().getDescription());
      fail(e.getStatus());
      return;
    }
    node = hello.getNode();
    agentVersion = hello.getAgentVersion();
    offeredVersion = hello.getAppliedVersion();
    if (!server.register(this)) {
      fail(SnapshotServer.NOT_THE_LEADER);
      return;
    }
    LOG.log(Level.INFO, "Agent connected: node {0} ({1}, agent {2}, applied version {3}, from {4})", node,
        identity.description(), agentVersion.isEmpty() ? "?" : agentVersion,
        offeredVersion.isEmpty() ? "none" : shortVersion(offeredVersion), peer);
    server.store().agentConnected(node, agentVersion, server.now());
    helloUnanswered = !offeredVersion.isEmpty();
    if (server.serving()) {
      helloUnanswered = false;
      SerializedSnapshot current = server.snapshotFor(node);
      if (!offeredVersion.isEmpty() && offeredVersion.equals(current.version())) {
        server.store().acknowledge(node, offeredVersion); // it runs the current version already
      } else {
        sendCurrent();
      }
    }
  }

  private boolean ack(Ack ack) {
    if (!answers(ack.getNonce())) {
      LOG.log(Level.DEBUG, "node {0}: ignoring an Ack with stale nonce {1}", node, ack.getNonce());
      return false;
    }
    String version = ack.getVersion().isEmpty() ? inFlightVersion : ack.getVersion();
    inFlightNonce = null;
    server.counters().acked(node);
    server.store().acknowledge(node, version);
    return true;
  }

  private boolean nack(Nack nack) {
    if (!answers(nack.getNonce())) {
      LOG.log(Level.DEBUG, "node {0}: ignoring a Nack with stale nonce {1}", node, nack.getNonce());
      return false;
    }
    String version = nack.getVersion().isEmpty() ? inFlightVersion : nack.getVersion();
    inFlightNonce = null;
    LOG.log(Level.WARNING, "Agent of node {0} refused version {1}: {2} (keeps {3})", node, shortVersion(version),
        nack.getError(), nack.getKeptVersion().isEmpty() ? "nothing" : shortVersion(nack.getKeptVersion()));
    server.counters().nacked(node);
    server.store().reject(node, version, nack.getError().isEmpty() ? "refused without a reason" : nack.getError());
    return true;
  }

  private boolean answers(String nonce) {
    return inFlightNonce != null && inFlightNonce.equals(nonce);
  }

  /** The node's snapshot changed (or the server just began serving): send it unless one is in flight. */
  synchronized void offer() {
    if (closed || node == null || inFlightNonce != null) {
      return; // an answer will come; then the newest version goes out
    }
    sendCurrent();
  }

  private void sendCurrent() {
    if (closed || inFlightNonce != null || !server.serving()) {
      return;
    }
    SerializedSnapshot snapshot = server.snapshotFor(node);
    if (snapshot.version().equals(offeredVersion)) {
      if (helloUnanswered) { // said in a Hello before the model was warm: only now known to be current
        helloUnanswered = false;
        server.store().acknowledge(node, offeredVersion);
      }
      return;
    }
    byte[] nonceBytes = new byte[12];
    RANDOM.nextBytes(nonceBytes);
    inFlightNonce = HexFormat.of().formatHex(nonceBytes);
    inFlightVersion = snapshot.version();
    offeredVersion = inFlightVersion;
    helloUnanswered = false;
    try {
      responses.onNext(new OutgoingSnapshot(snapshot, inFlightNonce));
      server.counters().sent();
      LOG.log(Level.DEBUG, "node {0}: sent version {1}", node, shortVersion(inFlightVersion));
    } catch (RuntimeException e) {
      ended("sending failed: " + e.getMessage());
    }
  }

  /** Called {@link SnapshotServer#HELLO_TIMEOUT} after the stream opened. */
  synchronized void helloTimeout() {
    if (node == null && !closed) {
      LOG.log(Level.WARNING, "Ending a stream from {0}: no Hello within {1}", peer, SnapshotServer.HELLO_TIMEOUT);
      fail(Status.INVALID_ARGUMENT.withDescription("no Hello within " + SnapshotServer.HELLO_TIMEOUT.toSeconds() + " s"));
    }
  }

  /** Ends the stream from the operator's side with {@code status}. */
  synchronized void fail(Status status) {
    if (closed) {
      return;
    }
    closed = true;
    try {
      responses.onError(status.asRuntimeException());
    } catch (RuntimeException e) {
      // already cancelled
    }
    if (node != null) {
      server.unregister(this, status.getCode() + ": " + status.getDescription());
    }
  }

  @Override
  public void onError(Throwable t) {
    ended("stream error: " + Status.fromThrowable(t).getCode() + " " + nonNull(Status.fromThrowable(t).getDescription()));
  }

  @Override
  public void onCompleted() {
    synchronized (this) {
      if (!closed) {
        try {
          responses.onCompleted();
        } catch (RuntimeException e) {
          // already cancelled
        }
      }
    }
    ended("the agent closed the stream");
  }

  private synchronized void ended(String reason) {
    if (closed) {
      return;
    }
    closed = true;
    if (node != null) {
      server.unregister(this, reason);
    }
  }

  private static String nonNull(String s) {
    return s == null ? "" : s;
  }

  static String shortVersion(String version) {
    return version.length() > 12 ? version.substring(0, 12) : version;
  }
}
