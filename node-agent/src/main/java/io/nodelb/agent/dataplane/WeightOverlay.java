package io.nodelb.agent.dataplane;

import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;

/**
 * The node's own word on its backends' weights (health, ramp-up, breaker, least-connections):
 * per target group, per backend key ({@link DesiredState#backendKey}), the weight its table
 * gets instead of the configured one. Laid over whatever snapshot is desired, so a new snapshot
 * keeps the node's judgement of the backends it still has; backends it does not name keep
 * their configured weights.
 */
public record WeightOverlay(Map<String, Map<String, Integer>> byGroup) {
    public static final WeightOverlay NONE = new WeightOverlay(Map.of());

    public WeightOverlay {
        byGroup = Map.copyOf(byGroup);
    }

    /** {@code snapshot} with these weights; the same object when nothing changes. */
    public NodeSnapshot applyTo(NodeSnapshot snapshot) {
        if (byGroup.isEmpty()) {
            return snapshot;
        }
        NodeSnapshot.Builder out = null;
        for (int g = 0; g < snapshot.getTargetGroupsCount(); g++) {
            TargetGroup group = snapshot.getTargetGroups(g);
            Map<String, Integer> weights = byGroup.get(group.getName());
            if (weights == null) {
                continue;
            }
            TargetGroup.Builder changed = null;
            for (int b = 0; b < group.getBackendsCount(); b++) {
                Backend backend = group.getBackends(b);
                Integer weight = weights.get(key(backend));
                if (weight != null && weight != backend.getWeight()) {
                    if (changed == null) {
                        changed = group.toBuilder();
                    }
                    changed.setBackends(b, backend.toBuilder().setWeight(weight));
                }
            }
            if (changed != null) {
                if (out == null) {
                    out = snapshot.toBuilder();
                }
                out.setTargetGroups(g, changed);
            }
        }
        return out == null ? snapshot : out.build();
    }

    /** The backend's key, or "" when its address is not one (the applier refuses it anyway). */
    public static String key(Backend backend) {
        try {
            return DesiredState.backendKey(InetAddress.getByAddress(backend.getAddress().toByteArray()),
                    backend.getPort());
        } catch (UnknownHostException e) {
            return "";
        }
    }
}
