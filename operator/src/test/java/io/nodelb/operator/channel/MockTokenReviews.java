package io.nodelb.operator.channel;

import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The API server's TokenReview on Fabric8's mock server (CRUD mode cannot answer it): tokens
 * registered here are authenticated as the given ServiceAccount, bound to a pod on a node, the way
 * Kubernetes 1.30+ answers (node name in the user's extra) or older ones (pod name only). Any
 * other token is not authenticated.
 *
 * <pre>{@code
 * MockTokenReviews reviews = MockTokenReviews.install(server);
 * reviews.allow("token-n1", "system:serviceaccount:nodelb-system:nodelb-agent", "n1");
 * }</pre>
 */
public final class MockTokenReviews {
  public static final String PATH = "/apis/authentication.k8s.io/v1/tokenreviews";
  private static final KubernetesSerialization JSON = new KubernetesSerialization();

  private record Binding(String username, String node, String pod, String podUid) {}

  private final Map<String, Binding> tokens = new ConcurrentHashMap<>();
  private final AtomicInteger reviews = new AtomicInteger();

  private MockTokenReviews() {}

  /** Answers every TokenReview the mock server gets from now on. */
  public static MockTokenReviews install(KubernetesMockServer server) {
    MockTokenReviews fake = new MockTokenReviews();
    server.expect().post().withPath(PATH).andReply(201, request -> fake.answer(request.getUtf8Body())).always();
    return fake;
  }

  /** {@code token} is {@code username}'s (e.g. "system:serviceaccount:nodelb-system:nodelb-agent"), bound to a pod on {@code node}. */
  public MockTokenReviews allow(String token, String username, String node) {
    tokens.put(token, new Binding(username, node, "agent-" + node, "uid-agent-" + node));
    return this;
  }

  /** Like an API server before 1.30: the token names only its pod (which the operator then reads). */
  public MockTokenReviews allowPodOnly(String token, String username, String pod, String podUid) {
    tokens.put(token, new Binding(username, null, pod, podUid));
    return this;
  }

  /** How many reviews were asked for. */
  public int reviews() {
    return reviews.get();
  }

  private TokenReview answer(String body) {
    reviews.incrementAndGet();
    TokenReview request = JSON.unmarshal(body, TokenReview.class);
    String token = request.getSpec() == null ? null : request.getSpec().getToken();
    List<String> audiences = request.getSpec() == null || request.getSpec().getAudiences() == null
        ? List.of() : request.getSpec().getAudiences();
    Binding binding = token == null ? null : tokens.get(token);
    TokenReviewBuilder answer = new TokenReviewBuilder(request);
    if (binding == null) {
      return answer.withNewStatus().withAuthenticated(false).withError("invalid bearer token").endStatus().build();
    }
    Map<String, List<String>> extra = new java.util.HashMap<>();
    extra.put("authentication.kubernetes.io/pod-name", List.of(binding.pod()));
    extra.put("authentication.kubernetes.io/pod-uid", List.of(binding.podUid()));
    if (binding.node() != null) {
      extra.put("authentication.kubernetes.io/node-name", List.of(binding.node()));
    }
    return answer.withNewStatus().withAuthenticated(true).withAudiences(audiences)
        .withNewUser().withUsername(binding.username()).withUid("uid-" + binding.username())
        .withGroups("system:serviceaccounts").withExtra(extra).endUser()
        .endStatus().build();
  }
}
