package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;

/**
 * The writable side of the data plane, one method per map operation. The applier
 * talks only to this, so its ordering and diffing are tested against an in-memory
 * fake and run for real against the pinned BPF maps.
 */
public interface DataPlaneMaps {

    void putBackend(int id, Abi.Backend backend);

    void deleteBackend(int id);

    /** Writes slots {@code [from, from + ids.length)} of a group's lookup table. */
    void putTableSlots(int group, int from, int[] ids);

    void putGroup(int id, Abi.Group group);

    void deleteGroup(int id);

    void putRoute(Abi.RouteKey key, int group);

    void deleteRoute(Abi.RouteKey key);

    /** A listener's idle timeouts, by listener id. */
    void putTimeouts(int listener, Abi.Timeouts timeouts);

    /** Back to the data plane's default timeouts. */
    void deleteTimeouts(int listener);

    /** A listener's rate limit of new flows, by listener id (read with {@link Abi#LISTENER_RATE_LIMITED}). */
    void putRateLimit(int listener, Abi.RateLimit limit);

    /** No rate limit for that listener id. */
    void deleteRateLimit(int listener);

    void putListener(Abi.ListenerKey key, Abi.Listener listener);

    void deleteListener(Abi.ListenerKey key);

    /** One 64-port word of the ingress (destination port) or egress (source port) filter. */
    void putPortWord(PortFilter.Direction direction, int word, long bits);

    /**
     * Deletes every conntrack entry, forward and reply, of these backend ids: backends removed
     * from the snapshot, whose flows would otherwise hang until their idle timeout. A UDP
     * flow's next datagram, and a TCP flow's next segment, then take the new-flow path: UDP
     * goes to a live backend, TCP is picked up by one, which resets it (see bpf/README.md,
     * "Removed backends"). Not a configuration write, and not rolled back.
     *
     * @return the entries deleted
     */
    long releaseFlows(java.util.Set<Integer> backends);

    /**
     * The SNAT addresses that FullNAT flows within their idle timeout still use (a scan of the flow
     * tables): replies come back to them, so the ingress address filter keeps them while any is
     * left, whatever the listeners say now. Not a write.
     */
    java.util.Set<java.net.InetAddress> fullNatSourcesInUse();
}
