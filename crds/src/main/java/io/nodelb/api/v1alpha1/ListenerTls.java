package io.nodelb.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;

/** Routing by the server name of the TLS ClientHello; TLS itself is not terminated. */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(
    value = "self.sniRoutes.all(r, r.serverNames.all(n,"
        + " self.sniRoutes.filter(s, n in s.serverNames).size() == 1"
        + " && r.serverNames.filter(m, m == n).size() == 1))",
    message = ListenerTls.DUPLICATE_SERVER_NAME)
public class ListenerTls {
  public static final String DUPLICATE_SERVER_NAME = "a server name must appear only once across sniRoutes";

  @Required
  @Size(min = 1, max = 16)
  @JsonPropertyDescription("Server-name routes. A ClientHello without a server name, with a name no route matches,"
      + " or that is not TLS goes to the listener's targetGroup.")
  public List<SniRoute> sniRoutes = new ArrayList<>();
}
