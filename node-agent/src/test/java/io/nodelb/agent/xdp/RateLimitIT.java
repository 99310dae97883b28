package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Frames.ACK;
import static io.nodelb.agent.xdp.Frames.RST;
import static io.nodelb.agent.xdp.Frames.SYN;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_DROP;
import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfMap;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.BackendRateLimit;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.RateLimit;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Rate limits (bpf/README.md, "Rate limits") through BPF_PROG_TEST_RUN: a token bucket of new flows
 * per listener and source prefix in nlb_rate_buckets, refused first packets counted as
 * DROP_RATE_LIMITED, packets of open flows untouched; a bucket of new flows per backend in
 * nlb_be_buckets (DROP_BACKEND_LIMITED); a packet bucket per listener and source prefix in
 * nlb_pkt_buckets (DROP_PACKET_LIMITED).
 */
@Privileged
class RateLimitIT extends DataPlaneFixture {

    private static final String OTHER4 = "198.51.100.8";
    /** A listener with a limit and no backends (flood). */
    private static final int FLOOD_PORT = 9000;
    private static final int FLOOD_SOURCES = 1_000_000;

    @Override
    NodeSnapshot snapshot() {
        return withLimits(Map.of("http4", limit(1, 3, 32, 64), "http6", limit(1, 2, 32, 64),
                "dns4", limit(1, 2, 24, 64)));
    }

    /** Buckets outlive the flows the fixture clears: every test starts with none (a backend's: full). */
    @BeforeEach
    void startWithoutBuckets() {
        emptySlots("nlb_rate_buckets");
        emptySlots("nlb_pkt_buckets");
        for (int id : dataPlane.backendIds()) {
            putBackendBucket(id, new Abi.RateBucket(0, 0));
        }
    }

    @Test
    void aClientOverItsBudgetIsRefusedWhileAnotherIsServedAndItsOpenFlowGoesOn() {
        StandardListener http4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        long[] before = dataPlane.stats();
        List<Flow> opened = new ArrayList<>();
        for (int port = 40000; port < 40005; port++) {
            Flow flow = http4.flow(port);
            int verdict = dataPlane.xdp(flow.first()).retval();
            if (opened.size() < 3) {
                assertThat(verdict).as("SYN %s within the burst of 3", flow).isEqualTo(XDP_PASS);
                opened.add(flow);
            } else {
                assertThat(verdict).as("SYN %s over the budget", flow).isEqualTo(XDP_DROP);
                assertThat(dataPlane.conntrack()).as("a refused flow leaves no state").doesNotContainKey(flow.forwardKey());
            }
        }
        assertThat(dataPlane.statsSince(before))
                .containsOnly(entry(Abi.Stat.NEW_FLOW, 3L), entry(Abi.Stat.DROP_RATE_LIMITED, 2L));

        // Another source has its own bucket; the open flows' packets pass with the first source's bucket empty.
        long[] step = dataPlane.stats();
        assertThat(dataPlane.xdp(http4.flow(40010).from(OTHER4, 40010).first()).retval()).isEqualTo(XDP_PASS);
        for (Flow flow : opened) {
            assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).as("ACK of open %s", flow).isEqualTo(XDP_PASS);
        }
        // A RST of an unknown flow starts nothing: it takes no token and is not refused.
        assertThat(dataPlane.xdp(http4.flow(40020).forward(RST)).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(step)).containsOnly(entry(Abi.Stat.NEW_FLOW, 1L),
                entry(Abi.Stat.CT_HIT, (long) opened.size()), entry(Abi.Stat.RST_NO_STATE, 1L));

        // The limit off again: the same source is served at once.
        dataPlane.apply(Snapshots.standard());
        assertThat(dataPlane.listener(Snapshots.VIP4, Snapshots.HTTP, Abi.IPPROTO_TCP).flags()
                & Abi.LISTENER_RATE_LIMITED).isZero();
        assertThat(dataPlane.xdp(http4.flow(40030).first()).retval()).isEqualTo(XDP_PASS);
    }

    @Test
    void aListenerWithoutALimitIsUnaffected() {
        StandardListener https4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.FULL_NAT);
        int before = buckets("nlb_rate_buckets").size();
        long[] step = dataPlane.stats();
        for (int port = 41000; port < 41020; port++) {
            assertThat(dataPlane.xdp(https4.flow(port).first()).retval()).isEqualTo(XDP_PASS);
        }
        assertThat(dataPlane.statsSince(step)).containsOnly(entry(Abi.Stat.NEW_FLOW, 20L));
        assertThat(buckets("nlb_rate_buckets")).hasSize(before);
        assertThat(buckets("nlb_pkt_buckets")).isEmpty();
    }

    @Test
    void bucketsRefillAtTheConfiguredRate() throws InterruptedException {
        // 5 per second, burst 5: spent, then refilled by a second of the clock (the bucket holds no more than 5).
        dataPlane.apply(withLimits(Map.of("http4", limit(5, 5, 32, 64))));
        StandardListener http4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        assertThat(admitted(http4, 42000, 8)).isEqualTo(5);
        Thread.sleep(1_100);
        assertThat(admitted(http4, 42100, 8)).isEqualTo(5);

        // Empty again; move its last refill 400 ms back: 400 ms at 5/s is 2 tokens.
        Abi.RateKey key = new Abi.RateKey(listenerId(Snapshots.VIP4, Snapshots.HTTP, Abi.IPPROTO_TCP),
                Snapshots.ip(Snapshots.CLIENT4));
        Abi.RateBucket spent = bucket("nlb_rate_buckets", key);
        assertThat(spent.tokens()).isLessThan(1_000_000_000L);
        putBucket("nlb_rate_buckets", key, new Abi.RateBucket(0, spent.lastNs() - TimeUnit.MILLISECONDS.toNanos(400)));
        assertThat(admitted(http4, 42200, 8)).isEqualTo(2);
    }

    @Test
    void sourcesShareABucketPerConfiguredPrefix() {
        // dns4: /24, burst 2. Two addresses of 198.51.100.0/24 share it; 198.51.101.0/24 has its own.
        StandardListener dns4 = new StandardListener(false, Abi.IPPROTO_UDP, NatMode.DNAT);
        assertThat(dataPlane.xdp(dns4.flow(43000).from("198.51.100.7", 43000).first()).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(dns4.flow(43001).from("198.51.100.200", 43001).first()).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(dns4.flow(43002).from("198.51.100.99", 43002).first()).retval()).isEqualTo(XDP_DROP);
        assertThat(dataPlane.xdp(dns4.flow(43003).from("198.51.101.7", 43003).first()).retval()).isEqualTo(XDP_PASS);
        int dns4Id = listenerId(Snapshots.VIP4, Snapshots.DNS, Abi.IPPROTO_UDP);
        assertThat(buckets().keySet()).filteredOn(k -> k.listener() == dns4Id).extracting(Abi.RateKey::prefix)
                .containsExactlyInAnyOrder(Snapshots.ip("198.51.100.0"), Snapshots.ip("198.51.101.0"));

        // http6: the default /64, burst 2. Two hosts of 2001:db8:100::/64 share it; 2001:db8:100:1::/64 has its own.
        StandardListener http6 = new StandardListener(true, Abi.IPPROTO_TCP, NatMode.DNAT);
        assertThat(dataPlane.xdp(http6.flow(43100).from("2001:db8:100::7", 43100).first()).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(http6.flow(43101).from("2001:db8:100::8:9", 43101).first()).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.xdp(http6.flow(43102).from("2001:db8:100::ffff:1", 43102).first()).retval())
                .isEqualTo(XDP_DROP);
        assertThat(dataPlane.xdp(http6.flow(43103).from("2001:db8:100:1::7", 43103).first()).retval()).isEqualTo(XDP_PASS);
        int http6Id = listenerId(Snapshots.VIP6, Snapshots.HTTP, Abi.IPPROTO_TCP);
        assertThat(buckets().keySet()).filteredOn(k -> k.listener() == http6Id).extracting(Abi.RateKey::prefix)
                .containsExactlyInAnyOrder(Snapshots.ip("2001:db8:100::"), Snapshots.ip("2001:db8:100:1::"));
    }

    /**
     * A key's bucket is in one of two slots (ratelimit.h, rl_slot): two sources whose pair is the same keep a
     * bucket each; a third takes the slot used longer ago, and the source pushed out starts full again.
     */
    @Test
    void threeSourcesOfOnePairOfSlotsKeepTheTwoUsedLast() throws Exception {
        dataPlane.apply(withLimits(Map.of("http4", limit(1, 1, 32, 64))));
        StandardListener http4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        int listener = listenerId(Snapshots.VIP4, Snapshots.HTTP, Abi.IPPROTO_TCP);
        int slots = dataPlane.map("nlb_rate_buckets").maxEntries();
        Map<Integer, List<String>> byPair = new HashMap<>();
        List<String> sources = null;
        for (int i = 1; sources == null; i++) {
            String address = "10." + (i >>> 16 & 255) + "." + (i >>> 8 & 255) + "." + (i & 255);
            List<String> same = byPair.computeIfAbsent(
                    Abi.RateSlot.firstOf(new Abi.RateKey(listener, Snapshots.ip(address)), slots), p -> new ArrayList<>());
            same.add(address);
            sources = same.size() == 3 ? same : null;
        }
        String a = sources.get(0), b = sources.get(1), c = sources.get(2);

        assertThat(admittedFrom(http4, a, 47000)).as("a's first SYN").isTrue();
        assertThat(admittedFrom(http4, a, 47001)).as("a over its burst of 1").isFalse();
        assertThat(admittedFrom(http4, b, 47002)).as("b, in the pair's other slot").isTrue();
        assertThat(admittedFrom(http4, a, 47003)).as("a's bucket is still there, empty").isFalse();
        Thread.sleep(20); // a later tick of the coarse clock than a's and b's last refill
        assertThat(admittedFrom(http4, b, 47004)).isFalse();
        assertThat(admittedFrom(http4, c, 47005)).as("c takes a's slot, used longer ago").isTrue();
        assertThat(buckets().keySet()).filteredOn(k -> k.listener() == listener).extracting(Abi.RateKey::prefix)
                .containsExactlyInAnyOrder(Snapshots.ip(b), Snapshots.ip(c));
        assertThat(admittedFrom(http4, a, 47006)).as("a, pushed out, starts with a full bucket").isTrue();
    }

    private boolean admittedFrom(StandardListener l, String source, int port) {
        return dataPlane.xdp(l.flow(port).from(source, port).first()).retval() == XDP_PASS;
    }

    @Test
    void aMillionSpoofedSourcesLeaveTheBucketsBounded() {
        flood(limit(1, 1, 32, 64), "nlb_rate_buckets", Abi.MAX_RATE_BUCKETS);
    }

    @Test
    void aMillionSpoofedSourcesLeaveThePacketBucketsBounded() {
        flood(packetLimit(1, 1), "nlb_pkt_buckets", Abi.MAX_PKT_BUCKETS);
    }

    /**
     * A SYN from each of a million sources to a listener with this limit and no backends: every packet it
     * admits is dropped NO_BACKEND, nothing enters conntrack, and the sources share the fixed slots of `buckets`.
     */
    private void flood(RateLimit limit, String buckets, int maxBuckets) {
        List<Listener> listeners = new ArrayList<>(Snapshots.standardListeners());
        listeners.add(Snapshots.listener("flood", Snapshots.VIP4, FLOOD_PORT, Protocol.TCP, NatMode.DNAT, "default/empty")
                .toBuilder().setRateLimit(limit).build());
        dataPlane.apply(Snapshots.snapshot(listeners,
                List.of(Snapshots.web(3), Snapshots.dns(3), Snapshots.group("default/empty", List.of()))));
        byte[] frame = Frames.frame(Abi.IPPROTO_TCP, SYN, "10.0.0.0", 50000, Snapshots.VIP4, FLOOD_PORT);
        int srcAt = 14 + 12; // Ethernet header, then the IPv4 source address
        assertThat(frame[srcAt]).isEqualTo((byte) 10);
        long[] before = dataPlane.stats();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        for (int i = 0; i < FLOOD_SOURCES; i++) {
            int source = 0x0a000000 + i; // 10.0.0.0/12: a million distinct addresses
            frame[srcAt + 1] = (byte) (source >>> 16);
            frame[srcAt + 2] = (byte) (source >>> 8);
            frame[srcAt + 3] = (byte) source;
            dataPlane.xdp(frame);
            if ((i & 0xffff) == 0) {
                assertThat(System.nanoTime()).as("the flood took over 3 minutes at source %d", i).isLessThan(deadline);
            }
        }
        // Each source came with a full bucket, took its token, and found no backend.
        assertThat(dataPlane.statsSince(before)).containsOnly(entry(Abi.Stat.DROP_NO_BACKEND, (long) FLOOD_SOURCES));
        assertThat(buckets(buckets)).as("slots in use").hasSizeGreaterThan(maxBuckets / 2);
        assertThat(dataPlane.map(buckets).maxEntries()).isEqualTo(maxBuckets);
        // The limited listeners still work after the flood.
        StandardListener http4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        assertThat(dataPlane.xdp(http4.flow(44000).first()).retval()).isEqualTo(XDP_PASS);
    }

    @Test
    void aSourceOverItsPacketBudgetIsRefusedWhileAnotherIsServed() {
        // http4: 1 packet per second, burst 4, and no limit of new flows.
        dataPlane.apply(withLimits(Map.of("http4", packetLimit(1, 4))));
        assertThat(dataPlane.listener(Snapshots.VIP4, Snapshots.HTTP, Abi.IPPROTO_TCP).flags()
                & (Abi.LISTENER_RATE_LIMITED | Abi.LISTENER_PACKET_LIMITED)).isEqualTo(Abi.LISTENER_PACKET_LIMITED);
        StandardListener http4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        Flow flow = http4.flow(46000);
        long[] before = dataPlane.stats();
        assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_PASS);
        for (int i = 0; i < 3; i++) {
            assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).as("packet %d within the burst", i + 2)
                    .isEqualTo(XDP_PASS);
        }
        // Over the budget: packets of the open flow and new flows alike.
        assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).isEqualTo(XDP_DROP);
        assertThat(dataPlane.xdp(http4.flow(46001).first()).retval()).isEqualTo(XDP_DROP);
        // Another source has its own bucket.
        assertThat(dataPlane.xdp(http4.flow(46002).from(OTHER4, 46002).first()).retval()).isEqualTo(XDP_PASS);
        assertThat(dataPlane.statsSince(before)).containsOnly(entry(Abi.Stat.NEW_FLOW, 2L),
                entry(Abi.Stat.CT_HIT, 3L), entry(Abi.Stat.DROP_PACKET_LIMITED, 2L));
        assertThat(dataPlane.conntrack()).doesNotContainKey(http4.flow(46001).forwardKey());

        // Its last refill moved 2.5 s back: 2 packets at 1/s.
        Abi.RateKey key = new Abi.RateKey(listenerId(Snapshots.VIP4, Snapshots.HTTP, Abi.IPPROTO_TCP),
                Snapshots.ip(Snapshots.CLIENT4));
        Abi.RateBucket spent = bucket("nlb_pkt_buckets", key);
        assertThat(spent.tokens()).isLessThan(1_000_000_000L);
        putBucket("nlb_pkt_buckets", key, new Abi.RateBucket(0, spent.lastNs() - TimeUnit.MILLISECONDS.toNanos(2_500)));
        long[] step = dataPlane.stats();
        for (int i = 0; i < 4; i++) {
            dataPlane.xdp(flow.forward(ACK));
        }
        assertThat(dataPlane.statsSince(step)).containsOnly(entry(Abi.Stat.CT_HIT, 2L),
                entry(Abi.Stat.DROP_PACKET_LIMITED, 2L));

        // Idle 10 s, past 2^32 ns (where the refill takes the division): full again, its burst of 4 and no more.
        spent = bucket("nlb_pkt_buckets", key);
        putBucket("nlb_pkt_buckets", key, new Abi.RateBucket(0, spent.lastNs() - TimeUnit.SECONDS.toNanos(10)));
        step = dataPlane.stats();
        for (int i = 0; i < 6; i++) {
            dataPlane.xdp(flow.forward(ACK));
        }
        assertThat(dataPlane.statsSince(step)).containsOnly(entry(Abi.Stat.CT_HIT, 4L),
                entry(Abi.Stat.DROP_PACKET_LIMITED, 2L));
    }

    @Test
    void aBackendOverItsBudgetRefusesNewFlowsWhileAnotherIsServedAndItsOpenFlowsGoOn() {
        StandardListener http4 = new StandardListener(false, Abi.IPPROTO_TCP, NatMode.DNAT);
        // Where each flow goes, without any limit: Maglev is deterministic, so the same with one.
        dataPlane.apply(Snapshots.standard());
        Map<Integer, Integer> backendOf = new HashMap<>();
        for (int port = 47000; port < 47040; port++) {
            Flow flow = http4.flow(port);
            assertThat(dataPlane.xdp(flow.first()).retval()).isEqualTo(XDP_PASS);
            backendOf.put(port, dataPlane.entry(flow.forwardKey()).backend());
        }
        dataPlane.clearConntrack();

        // 1 new flow per second and a burst of 3 per backend.
        dataPlane.apply(withBackendLimit(1, 3));
        int backend = backendOf.get(47000);
        assertThat(dataPlane.backend(backend).rate()).isEqualTo(1);
        long[] before = dataPlane.stats();
        Map<Integer, Integer> admitted = new HashMap<>();
        List<Flow> opened = new ArrayList<>();
        List<Integer> refused = new ArrayList<>();
        boolean servedAfterARefusal = false;
        for (int port = 47000; port < 47040; port++) {
            Flow flow = http4.flow(port);
            int b = backendOf.get(port);
            int verdict = dataPlane.xdp(flow.first()).retval();
            if (admitted.getOrDefault(b, 0) < 3) {
                assertThat(verdict).as("%s to backend %d within its burst", flow, b).isEqualTo(XDP_PASS);
                assertThat(dataPlane.entry(flow.forwardKey()).backend()).isEqualTo(b);
                admitted.merge(b, 1, Integer::sum);
                opened.add(flow);
                servedAfterARefusal |= refused.stream().anyMatch(p -> backendOf.get(p) != b);
            } else {
                assertThat(verdict).as("%s to backend %d over its budget", flow, b).isEqualTo(XDP_DROP);
                assertThat(dataPlane.conntrack()).as("a refused flow leaves no state").doesNotContainKey(
                        flow.forwardKey());
                refused.add(port);
            }
        }
        assertThat(refused).isNotEmpty();
        assertThat(servedAfterARefusal).as("another backend served after one refused").isTrue();
        assertThat(dataPlane.statsSince(before)).containsOnly(entry(Abi.Stat.NEW_FLOW, (long) opened.size()),
                entry(Abi.Stat.DROP_BACKEND_LIMITED, (long) refused.size()));
        assertThat(dataPlane.conntrack()).as("no reply entry left by a refused flow").hasSize(2 * opened.size());

        // Open flows go on with every bucket empty.
        long[] step = dataPlane.stats();
        for (Flow flow : opened) {
            assertThat(dataPlane.xdp(flow.forward(ACK)).retval()).as("ACK of open %s", flow).isEqualTo(XDP_PASS);
        }
        assertThat(dataPlane.statsSince(step)).containsOnly(entry(Abi.Stat.CT_HIT, (long) opened.size()));

        // A refused backend's last refill moved 2.5 s back: 2 tokens at 1/s, its other backends still empty.
        int full = backendOf.get(refused.get(0));
        Abi.RateBucket spent = backendBucket(full);
        assertThat(spent.tokens()).isLessThan(1_000_000_000L);
        putBackendBucket(full, new Abi.RateBucket(0, spent.lastNs() - TimeUnit.MILLISECONDS.toNanos(2_500)));
        step = dataPlane.stats();
        for (int port : refused) {
            dataPlane.xdp(http4.flow(port).first());
        }
        long toFull = refused.stream().filter(p -> backendOf.get(p) == full).count();
        assertThat(dataPlane.statsSince(step)).containsOnly(entry(Abi.Stat.NEW_FLOW, Math.min(2L, toFull)),
                entry(Abi.Stat.DROP_BACKEND_LIMITED, refused.size() - Math.min(2L, toFull)));
    }

    /** How many of `tries` new flows from the standard client (ports from firstPort) were admitted. */
    private int admitted(StandardListener listener, int firstPort, int tries) {
        int passed = 0;
        for (int port = firstPort; port < firstPort + tries; port++) {
            if (dataPlane.xdp(listener.flow(port).first()).retval() == XDP_PASS) {
                passed++;
            }
        }
        return passed;
    }

    private static RateLimit packetLimit(int rate, int burst) {
        return RateLimit.newBuilder().setPacketsPerSecond(rate).setPacketBurst(burst).setSourcePrefixLength(32)
                .setSourcePrefixLengthV6(64).build();
    }

    /** The standard node with a backend rate limit on "web". */
    private static NodeSnapshot withBackendLimit(int rate, int burst) {
        TargetGroup web = Snapshots.web(3).toBuilder().setBackendRateLimit(
                BackendRateLimit.newBuilder().setNewConnectionsPerSecond(rate).setBurst(burst)).build();
        return Snapshots.snapshot(Snapshots.standardListeners(), List.of(web, Snapshots.dns(3)));
    }

    private static RateLimit limit(int rate, int burst, int prefixV4, int prefixV6) {
        return RateLimit.newBuilder().setNewConnectionsPerSecond(rate).setBurst(burst).setSourcePrefixLength(prefixV4)
                .setSourcePrefixLengthV6(prefixV6).build();
    }

    /** The standard node with rate limits on the listeners named (by the last part of their name). */
    private static NodeSnapshot withLimits(Map<String, RateLimit> byName) {
        List<Listener> listeners = new ArrayList<>();
        for (Listener l : Snapshots.standardListeners()) {
            RateLimit r = byName.get(l.getName().substring(l.getName().lastIndexOf('/') + 1));
            listeners.add(r == null ? l : l.toBuilder().setRateLimit(r).build());
        }
        return Snapshots.snapshot(listeners, List.of(Snapshots.web(3), Snapshots.dns(3)));
    }

    private int listenerId(String vip, int port, int proto) {
        return dataPlane.listener(vip, port, proto).id();
    }

    private Map<Abi.RateKey, Abi.RateBucket> buckets() {
        return buckets("nlb_rate_buckets");
    }

    /** The buckets in use in an array of slots (a slot never used has last_ns 0), by their keys. */
    private Map<Abi.RateKey, Abi.RateBucket> buckets(String map) {
        Map<Abi.RateKey, Abi.RateBucket> out = new HashMap<>();
        dataPlane.map(map).forEachEntry(4096, (k, v) -> {
            if (Abi.RateSlot.inUse(v)) {
                Abi.RateSlot slot = Abi.RateSlot.readFrom(v);
                assertThat(out.put(slot.key(), slot.bucket())).as("one slot per key: %s", slot.key()).isNull();
            }
        });
        return out;
    }

    /** The slot of key's bucket: the first of its two, or the second. */
    private int slotOf(String map, Abi.RateKey key) {
        int first = Abi.RateSlot.firstOf(key, dataPlane.map(map).maxEntries());
        for (int i = first; i <= first + 1; i++) {
            Abi.RateSlot slot = slot(map, i);
            if (slot != null && slot.key().equals(key)) {
                return i;
            }
        }
        throw new AssertionError("no slot of " + key + " in " + map + " at " + first + " or the next");
    }

    /** Slot index of map; null when never used. */
    private Abi.RateSlot slot(String map, int index) {
        return at(map, index, v -> Abi.RateSlot.inUse(v) ? Abi.RateSlot.readFrom(v) : null);
    }

    /** Entry {@code index} of an array map, read by {@code read}. */
    private <T> T at(String map, int index, java.util.function.Function<MemorySegment, T> read) {
        BpfMap array = dataPlane.map(map);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = array.allocateKey(arena);
            MemorySegment v = array.allocateValue(arena);
            k.set(ValueLayout.JAVA_INT, 0, index);
            assertThat(array.lookup(k, v)).isTrue();
            return read.apply(v);
        }
    }

    /** Every slot in use back to never used (an array's entries cannot be deleted). */
    private void emptySlots(String map) {
        BpfMap slots = dataPlane.map(map);
        List<Integer> used = new ArrayList<>();
        slots.forEachEntry(4096, (k, v) -> {
            if (Abi.RateSlot.inUse(v)) {
                used.add(k.get(ValueLayout.JAVA_INT, 0));
            }
        });
        for (int index : used) {
            put(slots, k -> k.set(ValueLayout.JAVA_INT, 0, index), v -> v.fill((byte) 0));
        }
    }

    /** Key's bucket, read from its two slots only (a scan of the whole array takes long enough to refill it). */
    private Abi.RateBucket bucket(String map, Abi.RateKey key) {
        return slot(map, slotOf(map, key)).bucket();
    }

    private void putBucket(String map, Abi.RateKey key, Abi.RateBucket bucket) {
        int index = slotOf(map, key);
        put(dataPlane.map(map), k -> k.set(ValueLayout.JAVA_INT, 0, index), new Abi.RateSlot(key, bucket)::writeTo);
    }

    private Abi.RateBucket backendBucket(int backendId) {
        return at("nlb_be_buckets", backendId, Abi.RateBucket::readFrom);
    }

    private void putBackendBucket(int backendId, Abi.RateBucket bucket) {
        put(dataPlane.map("nlb_be_buckets"), k -> k.set(ValueLayout.JAVA_INT, 0, backendId), bucket::writeTo);
    }

    private static void put(BpfMap map, java.util.function.Consumer<MemorySegment> key,
                            java.util.function.Consumer<MemorySegment> value) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = map.allocateKey(arena);
            MemorySegment v = map.allocateValue(arena);
            key.accept(k);
            value.accept(v);
            map.update(k, v, 0);
        }
    }
}
