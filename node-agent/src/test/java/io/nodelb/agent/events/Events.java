package io.nodelb.agent.events;

import io.nodelb.agent.bpf.Abi;
import java.net.InetAddress;
import java.time.Instant;

/** Records for the tests, as the data plane would write them. */
final class Events {

    private Events() {}

    static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static Abi.Event newFlow(int clientPort) {
        return new Abi.Event(1_000_000_000L, 1_000_000_000L, ip("10.1.0.1"), clientPort, ip("10.0.0.100"), 80,
                ip("10.2.0.1"), 8080, Abi.IPPROTO_TCP, Abi.EVENT_NEW_FLOW, 0, 0, 3, 7, 1, 60, 0, 0);
    }

    static Abi.Event end(int clientPort, int reason, long durationNs) {
        return new Abi.Event(1_000_000_000L + durationNs, 1_000_000_000L, ip("10.1.0.1"), clientPort,
                ip("10.0.0.100"), 80, ip("10.2.0.1"), 8080, Abi.IPPROTO_TCP, Abi.EVENT_FLOW_END, reason,
                Abi.CT_FULLNAT, 3, 7, 12, 1_234, 10, 56_789);
    }

    static Abi.Event drop(int clientPort) {
        return new Abi.Event(1_000_000_000L, 0, ip("fd00::1"), clientPort, ip("fd00::100"), 53, null, 0,
                Abi.IPPROTO_UDP, Abi.EVENT_DROP, Abi.Stat.DROP_NO_BACKEND.value(), 0, 4, 0, 1, 80, 0, 0);
    }

    static FlowRecord named(Abi.Event e) {
        boolean drop = e.type() == Abi.EVENT_DROP;
        return new FlowRecord(e, Instant.parse("2026-12-06T01:02:03.456Z"), drop ? null : "default/web/http",
                drop ? null : "10.2.0.1:8080", drop ? null : "pod/default/web-0", "node-a");
    }
}
