package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SniRoutesTest {
    private final SniRoutes<String> routes = new SniRoutes<>(Map.of("api.example.com", "api", "*.example.com", "web",
            "*.eu.example.com", "eu", "*.Other.org", "other"), "default");

    @Test
    void exactThenLongestWildcardThenDefault() {
        assertThat(routes.choose("api.example.com")).isEqualTo("api");
        assertThat(routes.choose("API.Example.com")).isEqualTo("api");
        assertThat(routes.choose("www.example.com")).isEqualTo("web");
        assertThat(routes.choose("a.b.example.com")).isEqualTo("web");
        assertThat(routes.choose("shop.eu.example.com")).isEqualTo("eu");
        assertThat(routes.choose("x.shop.eu.example.com")).isEqualTo("eu");
        assertThat(routes.choose("www.other.org")).isEqualTo("other");
    }

    @Test
    void aWildcardDoesNotMatchItsOwnDomainNorASuffixInsideALabel() {
        assertThat(routes.choose("example.com")).isEqualTo("default");
        assertThat(routes.choose("badexample.com")).isEqualTo("default");
        assertThat(routes.choose(".example.com")).isEqualTo("default");
        assertThat(routes.choose("example.org")).isEqualTo("default");
        assertThat(routes.choose(null)).isEqualTo("default");
    }
}
