package io.nodelb.operator.bench;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.internal.MockDispatcher;
import io.fabric8.mockwebserver.internal.SimpleRequest;
import io.nodelb.operator.channel.MockTokenReviews;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;

/**
 * Fabric8's mock API server over HTTPS in CRUD mode, as {@code @EnableKubernetesMockClient(crud =
 * true)} builds it, but with {@link IndexedCrudDispatcher} for the stored objects; TokenReviews are
 * answered by {@link MockTokenReviews}. The nodelb CRDs are registered.
 */
final class BenchApiServer implements AutoCloseable {
  final KubernetesMockServer server;
  final NamespacedKubernetesClient client;
  final IndexedCrudDispatcher store;
  final MockTokenReviews reviews;

  private BenchApiServer(KubernetesMockServer server, IndexedCrudDispatcher store) {
    this.server = server;
    this.store = store;
    this.client = server.createClient();
    this.reviews = MockTokenReviews.install(server);
    for (String crd : List.of("loadbalancers", "targetgroups", "backenddrains")) {
      try (InputStream in = BenchApiServer.class.getResourceAsStream("/META-INF/fabric8/" + crd + ".nodelb.io-v1.yml")) {
        client.resource(client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class)).create();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  static BenchApiServer start() {
    Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
    IndexedCrudDispatcher crud = new IndexedCrudDispatcher();
    MockDispatcher expectations = new MockDispatcher(responses);
    Dispatcher dispatcher = new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        Queue<ServerResponse> expected = responses.get(
            new SimpleRequest(HttpMethod.valueOf(request.getMethod()), request.getPath()));
        return expected != null && !expected.isEmpty() ? expectations.dispatch(request) : crud.dispatch(request);
      }
    };
    KubernetesMockServer server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
        responses, dispatcher, true);
    server.init();
    return new BenchApiServer(server, crud);
  }

  String url() {
    return client.getConfiguration().getMasterUrl();
  }

  @Override
  public void close() {
    client.close();
    server.destroy();
  }
}
