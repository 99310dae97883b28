package io.nodelb.agent.standalone;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Fields of the API that the standalone agent would accept and then ignore, refused instead
 * (nothing accepted is silently dropped). The operator reports the ones it cannot honour in status.
 */
final class StandaloneSupport {
    private StandaloneSupport() {}

    static List<String> unused(Map<String, Object> document) {
        List<String> problems = new ArrayList<>();
        if (!(document.get("spec") instanceof Map<?, ?> spec)) {
            return problems;
        }
        if ("LoadBalancer".equals(document.get("kind")) && spec.containsKey("nodeSelector")) {
            problems.add("spec.nodeSelector: Forbidden: a standalone agent programs every LoadBalancer of its file"
                    + " (it has no node labels to match); remove nodeSelector, or give this node a file of its own");
        }
        return problems;
    }
}
