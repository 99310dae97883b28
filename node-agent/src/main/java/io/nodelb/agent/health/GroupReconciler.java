package io.nodelb.agent.health;

import io.nodelb.agent.dataplane.WeightOverlay;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.HealthCheck;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one node knows about the backends of one target group: their health, ramp-up, breaker,
 * least-connections level, and the weights that follow ({@link EffectiveWeights}). Pure: time,
 * check results and flow counts are given; threads belong to {@link HealthController}.
 * Callers hold the reconciler's lock.
 */
final class GroupReconciler {
    static final Duration DEFAULT_RAMP = Duration.ofSeconds(30);
    static final Duration DEFAULT_LEAST_CONNECTIONS_INTERVAL = Duration.ofSeconds(5);

    /** What the group asks of the node; a change starts the group's judgement afresh. */
    /**
     * @param leastConnections null: not least-connections
     * @param maxConnections live flows at which a backend gets no new flows; 0: no limit
     * @param flowCount how often live flows are counted; null: never
     */
    record Settings(HealthCheck check, Duration ramp, Breaker.Settings breaker, Duration leastConnections,
                    int maxConnections, Duration flowCount) {
        /** null when the group needs none of it (its weights are the configured ones). */
        static Settings of(TargetGroup group) {
            HealthCheck check = group.hasHealthCheck() ? group.getHealthCheck() : null;
            Breaker.Settings breaker = null;
            if (group.hasCircuitBreaker()) {
                var b = group.getCircuitBreaker();
                breaker = new Breaker.Settings(Math.max(1, b.getConsecutiveFailures()), b.getErrorRatePercent(),
                        Math.max(1, b.getMinimumVolume()), Duration.ofSeconds(Math.max(1, b.getWindowSeconds())),
                        Duration.ofSeconds(Math.max(1, b.getOpenSeconds())), Math.max(1, b.getHalfOpenSuccesses()));
            }
            Duration lc = group.getAlgorithm() != Algorithm.LEAST_CONNECTIONS ? null
                    : group.getLeastConnectionsIntervalSeconds() > 0
                            ? Duration.ofSeconds(group.getLeastConnectionsIntervalSeconds())
                            : DEFAULT_LEAST_CONNECTIONS_INTERVAL;
            int maxConnections = group.hasCircuitBreaker() ? group.getCircuitBreaker().getMaxConnections() : 0;
            if (check == null && breaker == null && lc == null) {
                return null;
            }
            Duration ramp = group.hasRampUpSeconds() ? Duration.ofSeconds(group.getRampUpSeconds()) : DEFAULT_RAMP;
            Duration flowCount = lc != null ? lc : maxConnections > 0 ? DEFAULT_LEAST_CONNECTIONS_INTERVAL : null;
            return new Settings(check, ramp, breaker, lc, maxConnections, flowCount);
        }
    }

    /** One backend; fields read by metrics at scrape time are volatile. */
    static final class Member {
        final String key;
        final InetAddress address;
        final int port;
        volatile int configured;
        volatile boolean serving;
        final HealthState health;
        final Breaker breaker;
        final LeastConnections leastConnections = new LeastConnections();
        /** At or above the breaker's maxConnections at the last count. */
        boolean full;
        /** When it came back (healthy again, breaker closed): its ramp-up starts; MIN_VALUE: not ramping. */
        long backSince = Long.MIN_VALUE;
        volatile long lastCheckNanos;
        /** Its weight as the data plane has it: set once written, so metrics never run ahead of the table. */
        volatile int effective;
        volatile Breaker.State breakerState = Breaker.State.CLOSED;
        volatile boolean healthy = true;

        Member(String key, InetAddress address, int port, Settings settings) {
            this.key = key;
            this.address = address;
            this.port = port;
            HealthCheck check = settings.check();
            health = check == null ? new HealthState(1, 1)
                    : new HealthState(check.getHealthyThreshold(), check.getUnhealthyThreshold());
            breaker = settings.breaker() == null ? null : new Breaker(settings.breaker());
        }
    }

    final String name;
    final Settings settings;
    private final Map<String, Member> members = new LinkedHashMap<>();
    private boolean failOpen;
    private long leastConnectionsAt = Long.MIN_VALUE;
    /** The last weights, kept while nothing they depend on moved (see {@link #weigh}). */
    private EffectiveWeights.Result weighed;
    /** Something the weights depend on changed since {@link #weighed}. */
    private boolean dirty = true;

    GroupReconciler(String name, Settings settings) {
        this.name = name;
        this.settings = settings;
    }

    /** Takes the group's backends as the snapshot gives them; returns those that are new. */
    List<Member> sync(TargetGroup group) {
        Map<String, Backend> now = new LinkedHashMap<>();
        group.getBackendsList().forEach(b -> now.put(WeightOverlay.key(b), b));
        members.keySet().retainAll(now.keySet());
        List<Member> added = new ArrayList<>();
        now.forEach((key, b) -> {
            Member m = members.get(key);
            if (m == null) {
                try {
                    m = new Member(key, InetAddress.getByAddress(b.getAddress().toByteArray()), b.getPort(), settings);
                } catch (UnknownHostException e) {
                    return; // the applier refuses such a snapshot
                }
                members.put(key, m);
                added.add(m);
            }
            m.configured = b.getWeight();
            m.serving = b.getState() != BackendState.DRAINING;
        });
        dirty = true;
        return added;
    }

    boolean has(Member member) {
        return members.get(member.key) == member;
    }

    /** One active check's result; returns true when the weights may change. */
    boolean onCheck(Member m, Probe.Result result, long now) {
        m.lastCheckNanos = result.nanos();
        boolean changed = m.health.record(result.ok(), result.reason());
        if (changed && m.health.healthy()) {
            m.backSince = now;
        }
        changed |= onSignals(m, result.ok() ? 1 : 0, result.ok() ? 0 : 1, now);
        dirty |= changed;
        return changed;
    }

    /** Signals for the breaker; returns true when its state changed. */
    boolean onSignals(Member m, long successes, long failures, long now) {
        if (m.breaker == null) {
            return false;
        }
        Breaker.State before = m.breaker.state(now);
        boolean changed = m.breaker.record(now, successes, failures);
        if (changed && before == Breaker.State.HALF_OPEN && m.breaker.state(now) == Breaker.State.CLOSED) {
            m.backSince = now;
        }
        dirty |= changed;
        return changed;
    }

    Member member(String key) {
        return members.get(key);
    }

    /** Whether it is due for new flow counts at {@code now} (least-connections, maxConnections). */
    boolean flowsDue(long now) {
        return settings.flowCount() != null
                && (leastConnectionsAt == Long.MIN_VALUE || now - leastConnectionsAt >= settings.flowCount().toNanos());
    }

    /** New live flow counts per backend key; moves the least-connections levels and the connection limit. */
    void onFlows(Map<String, Long> flows, long now) {
        leastConnectionsAt = now;
        dirty = true;
        for (Member m : members.values()) {
            m.full = settings.maxConnections() > 0 && flows.getOrDefault(m.key, 0L) >= settings.maxConnections();
        }
        if (settings.leastConnections() == null) {
            return;
        }
        long groupFlows = 0;
        long groupWeight = 0;
        for (Member m : members.values()) {
            if (m.serving && m.configured > 0) {
                groupFlows += flows.getOrDefault(m.key, 0L);
                groupWeight += m.configured;
            }
        }
        for (Member m : members.values()) {
            if (m.serving && m.configured > 0) {
                m.leastConnections.update(LeastConnections.raw(flows.getOrDefault(m.key, 0L), m.configured,
                        groupFlows, groupWeight));
            }
        }
    }

    /**
     * The group's weights at {@code now}, through the one combination: the same object as last
     * time when nothing changed since (no check, signal or flow count moved anything, nobody is
     * ramping, no breaker whose timers could move), so that the caller can skip the rest.
     */
    /** The weights now in the data plane's table: what metrics and the node report show. */
    void written(Map<String, Integer> weights) {
        weights.forEach((key, weight) -> {
            Member m = members.get(key);
            if (m != null) {
                m.effective = weight;
            }
        });
    }

    EffectiveWeights.Result weigh(long now) {
        if (weighed != null && !dirty && settings.breaker() == null
                && members.values().stream().allMatch(m -> m.backSince == Long.MIN_VALUE)) {
            return weighed;
        }
        dirty = false;
        List<EffectiveWeights.Input> inputs = new ArrayList<>(members.size());
        for (Member m : members.values()) {
            double ramp = m.backSince == Long.MIN_VALUE ? 1.0
                    : RampUp.factor(Duration.ofNanos(now - m.backSince), settings.ramp());
            if (ramp == 1.0) {
                m.backSince = Long.MIN_VALUE;
            }
            double breaker = (m.breaker == null ? 1.0 : m.breaker.factor(now)) * (m.full ? 0 : 1);
            m.breakerState = m.breaker == null ? Breaker.State.CLOSED : m.breaker.state(now);
            m.healthy = m.health.healthy();
            inputs.add(new EffectiveWeights.Input(m.key, m.configured, m.serving, m.health.healthy(), ramp, breaker,
                    m.leastConnections.level()));
        }
        EffectiveWeights.Result result = EffectiveWeights.combine(inputs);
        failOpen = result.failOpen();
        if (weighed != null && weighed.equals(result)) {
            return weighed;
        }
        weighed = result;
        return result;
    }

    boolean failOpen() {
        return failOpen;
    }

    List<Member> members() {
        return List.copyOf(members.values());
    }
}
