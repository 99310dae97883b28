package io.nodelb.operator.channel;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatus;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.grpc.Status;
import io.grpc.StatusException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The agent's projected ServiceAccount token, reviewed by the API server (TokenReview): it must be
 * valid for the configured audience, belong to the agent ServiceAccount, and be bound to a pod on
 * the node the Hello claims. The node comes from the token's extra
 * {@value #NODE_NAME} (Kubernetes 1.30+), else from the Pod named in {@value #POD_NAME}. A
 * successful review is cached briefly under the token's hash, so reconnect storms do not become
 * review storms; a token is never cached longer than {@link #MAX_CACHE}.
 */
public final class TokenReviewAuthenticator implements AgentAuthenticator {
  public static final String NODE_NAME = "authentication.kubernetes.io/node-name";
  public static final String POD_NAME = "authentication.kubernetes.io/pod-name";
  public static final String POD_UID = "authentication.kubernetes.io/pod-uid";
  public static final Duration MAX_CACHE = Duration.ofMinutes(1);
  private static final int MAX_CACHED_TOKENS = 10_000;

  private final KubernetesClient client;
  private final String expectedUser;
  private final String audience;
  private final Clock clock;
  private final Map<String, Reviewed> cache = new ConcurrentHashMap<>();

  private record Reviewed(String node, Identity identity, Instant until) {}

  public TokenReviewAuthenticator(KubernetesClient client, String expectedUser, String audience, Clock clock) {
    this.client = client;
    this.expectedUser = expectedUser;
    this.audience = audience;
    this.clock = clock;
  }

  @Override
  public Identity authenticate(String bearerToken, String claimedNode) throws StatusException {
    if (bearerToken == null || bearerToken.isBlank()) {
      throw Status.UNAUTHENTICATED.withDescription("no bearer token: send the agent pod's projected ServiceAccount"
          + " token (audience " + audience + ") as gRPC metadata 'authorization: Bearer <token>'").asException();
    }
    String key = sha256(bearerToken);
    Instant now = clock.instant();
    Reviewed reviewed = cache.get(key);
    if (reviewed == null || !now.isBefore(reviewed.until())) {
      reviewed = review(bearerToken, now);
      if (cache.size() >= MAX_CACHED_TOKENS) {
        cache.values().removeIf(r -> !now.isBefore(r.until()));
        if (cache.size() >= MAX_CACHED_TOKENS) {
          cache.clear();
        }
      }
      cache.put(key, reviewed);
    }
    if (!reviewed.node().equals(claimedNode)) {
      throw Status.PERMISSION_DENIED.withDescription("token of a pod on node " + reviewed.node()
          + " cannot claim node " + claimedNode).asException();
    }
    return reviewed.identity();
  }

  private Reviewed review(String token, Instant now) throws StatusException {
    TokenReview request = new TokenReviewBuilder().withNewSpec().withToken(token).withAudiences(audience).endSpec().build();
    TokenReviewStatus status;
    try {
      TokenReview answer = client.authentication().v1().tokenReviews().create(request);
      status = answer == null ? null : answer.getStatus();
    } catch (KubernetesClientException e) {
      throw Status.UNAVAILABLE.withDescription("cannot review the agent's token now: " + e.getMessage())
          .withCause(e).asException();
    }
    if (status == null || !Boolean.TRUE.equals(status.getAuthenticated())) {
      String error = status == null || status.getError() == null || status.getError().isBlank() ? "" : ": " + status.getError();
      throw Status.UNAUTHENTICATED.withDescription("the API server did not accept the token" + error).asException();
    }
    if (status.getAudiences() != null && !status.getAudiences().isEmpty() && !status.getAudiences().contains(audience)) {
      throw Status.UNAUTHENTICATED.withDescription("the token is not for audience " + audience).asException();
    }
    UserInfo user = status.getUser();
    String username = user == null ? null : user.getUsername();
    if (!expectedUser.equals(username)) {
      throw Status.PERMISSION_DENIED.withDescription("token of " + username + " is not the agents' ServiceAccount "
          + expectedUser).asException();
    }
    Map<String, List<String>> extra = user.getExtra() == null ? Map.of() : user.getExtra();
    String pod = first(extra, POD_NAME);
    String node = first(extra, NODE_NAME);
    if (node == null) {
      node = nodeOfPod(pod, first(extra, POD_UID));
    }
    String namespace = username.split(":")[2];
    Identity identity = new Identity((pod == null ? "agent" : "pod " + namespace + "/" + pod) + " on node " + node);
    return new Reviewed(node, identity, now.plus(MAX_CACHE));
  }

  /** Before Kubernetes 1.30 the token names the pod only; the pod says where it runs. */
  private String nodeOfPod(String pod, String uid) throws StatusException {
    if (pod == null) {
      throw Status.PERMISSION_DENIED.withDescription("the token is not bound to a pod: mount a projected"
          + " ServiceAccount token (serviceAccountToken volume source) with audience " + audience).asException();
    }
    String namespace = expectedUser.split(":")[2];
    Pod found;
    try {
      found = client.pods().inNamespace(namespace).withName(pod).get();
    } catch (KubernetesClientException e) {
      throw Status.UNAVAILABLE.withDescription("cannot read pod " + namespace + "/" + pod + ": " + e.getMessage())
          .asException();
    }
    if (found == null || (uid != null && !uid.equals(found.getMetadata().getUid()))) {
      throw Status.PERMISSION_DENIED.withDescription("the token's pod " + namespace + "/" + pod + " no longer exists")
          .asException();
    }
    String node = found.getSpec() == null ? null : found.getSpec().getNodeName();
    if (node == null || node.isEmpty()) {
      throw Status.PERMISSION_DENIED.withDescription("the token's pod " + namespace + "/" + pod + " is not scheduled")
          .asException();
    }
    return node;
  }

  private static String first(Map<String, List<String>> extra, String key) {
    List<String> values = extra.get(key);
    return values == null || values.isEmpty() || values.getFirst().isEmpty() ? null : values.getFirst();
  }

  private static String sha256(String token) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
