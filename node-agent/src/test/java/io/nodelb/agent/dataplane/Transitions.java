package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;

/** What the applier's transition from one state to another does, without doing it. */
public final class Transitions {

    private Transitions() {}

    /** The number of map writes {@link SnapshotApplier#apply} makes to go from {@code from} to {@code to}. */
    public static int writes(DesiredState from, DesiredState to) {
        int[] writes = {0};
        DataPlaneMaps counter = new DataPlaneMaps() {
            @Override public void putBackend(int id, Abi.Backend backend) { writes[0]++; }
            @Override public void deleteBackend(int id) { writes[0]++; }
            @Override public void putTableSlots(int group, int from, int[] ids) { writes[0]++; }
            @Override public void putGroup(int id, Abi.Group group) { writes[0]++; }
            @Override public void deleteGroup(int id) { writes[0]++; }
            @Override public void putRoute(Abi.RouteKey key, int group) { writes[0]++; }
            @Override public void deleteRoute(Abi.RouteKey key) { writes[0]++; }
            @Override public void putTimeouts(int listener, Abi.Timeouts timeouts) { writes[0]++; }
            @Override public void deleteTimeouts(int listener) { writes[0]++; }
            @Override public void putRateLimit(int listener, Abi.RateLimit limit) { writes[0]++; }
            @Override public void deleteRateLimit(int listener) { writes[0]++; }
            @Override public void putListener(Abi.ListenerKey key, Abi.Listener listener) { writes[0]++; }
            @Override public long releaseFlows(java.util.Set<Integer> backends) { return 0; }
            @Override public java.util.Set<java.net.InetAddress> fullNatSourcesInUse() { return java.util.Set.of(); }
            @Override public void deleteListener(Abi.ListenerKey key) { writes[0]++; }
            @Override public void putPortWord(PortFilter.Direction direction, int word, long bits) { writes[0]++; }
        };
        SnapshotApplier.transition(counter, from, to);
        return writes[0];
    }
}
