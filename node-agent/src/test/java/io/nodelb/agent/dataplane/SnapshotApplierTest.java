package io.nodelb.agent.dataplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState.Limits;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.IdleTimeouts;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.SourceRoute;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SnapshotApplierTest {

    private static final int TABLE = 251;
    private static final Limits LIMITS = new Limits(TABLE, 64, 16, 256, 61000, 61999);
    private static final DesiredState.Host HOST = name -> switch (name) {
        case "eth0" -> List.of(ip("192.0.2.1"), ip("2001:db8::1"));
        case "eth1" -> List.of(ip("198.51.100.1"));
        default -> null;
    };

    private final InMemoryMaps maps = new InMemoryMaps(TABLE);
    private final SnapshotApplier applier = new SnapshotApplier(maps, HOST, LIMITS);

    @Test
    void programsListenersGroupsBackendsAndPortFilters() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 3), backend("10.0.0.3", 8080, 1))));

        assertThat(maps.listeners).hasSize(1);
        var entry = maps.listeners.get(new Abi.ListenerKey(ip("203.0.113.10"), 80, 6));
        assertThat(entry).isNotNull();
        assertThat(maps.groups.get(entry.group()).backends()).isEqualTo(2);
        assertThat(maps.backends.values()).extracting(Abi.Backend::port).containsOnly(8080);
        Map<Integer, Integer> share = slotShare(maps.tables.get(entry.group()));
        assertThat(share).hasSize(2);
        assertThat(share.values()).allMatch(n -> n > 40);
        assertThat(maps.portOpen(PortFilter.Direction.INGRESS, 80)).isTrue();
        assertThat(maps.portOpen(PortFilter.Direction.INGRESS, 81)).isFalse();
        assertThat(maps.portOpen(PortFilter.Direction.EGRESS, 8080)).isTrue();
        assertThat(maps.addressOpen(ip("203.0.113.10"))).as("the listener's address").isTrue();
        assertThat(maps.addressOpen(ip("192.0.2.1"))).as("another address of the node").isFalse();
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 3))).toBuilder().clearListeners().build());
        assertThat(maps.addressOpen(ip("203.0.113.10"))).as("closed with its listener").isFalse();
    }

    @Test
    void theSameSnapshotTwiceWritesNothing() {
        NodeSnapshot s = snapshot(group("web", backend("10.0.0.2", 8080, 1)));
        assertThat(applier.apply(s)).isPositive();
        maps.log.clear();
        assertThat(applier.apply(s)).isZero();
        assertThat(maps.log).isEmpty();
    }

    @Test
    void removingABackendRewritesTheTableBeforeDeletingIt() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 1))));
        maps.log.clear();

        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1))));

        assertThat(maps.log).last().asString().startsWith("deleteBackend");
        assertThat(maps.log).noneMatch(w -> w.startsWith("putListener") || w.startsWith("putBackend"));
        assertThat(maps.backends).hasSize(1);
        assertThat(slotShare(maps.tables.values().iterator().next())).hasSize(1);
    }

    @Test
    void aRemovedBackendReleasesItsFlowsOnceNoTableSelectsItAndADrainingOneKeepsThem() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 1),
                backend("10.0.0.4", 8080, 1))));
        int gone = maps.backends.entrySet().stream().filter(e -> e.getValue().address().equals(ip("10.0.0.3")))
                .findFirst().orElseThrow().getKey();

        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1),
                backend("10.0.0.3", 8080, 1).toBuilder().setState(BackendState.DRAINING).build(),
                backend("10.0.0.4", 8080, 1))));
        assertThat(maps.released).as("draining keeps its flows").isEmpty();

        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.4", 8080, 1))));
        assertThat(maps.released).containsExactly(java.util.Set.of(gone));
        assertThat(maps.stillSelected).as("released after the tables and nlb_backends let go of it").isFalse();
        assertThat(applier.lastApply().asMap()).containsKey("release flows");

        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.4", 8080, 3))));
        assertThat(maps.released).as("nothing removed").hasSize(1);
    }

    @Test
    void drainingBackendsLeaveTheTableButStayProgrammed() {
        applier.apply(snapshot(group("web",
                backend("10.0.0.2", 8080, 1),
                backend("10.0.0.3", 8080, 1).toBuilder().setState(BackendState.DRAINING).build())));

        assertThat(maps.backends).hasSize(2);
        assertThat(slotShare(maps.tables.values().iterator().next())).hasSize(1);
    }

    @Test
    void servingTerminatingBackendsTakeNewFlowsOnlyWhenNothingIsReady() {
        Backend fallback = backend("10.0.0.9", 8080, 1).toBuilder().setState(BackendState.FALLBACK).build();
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), fallback)));
        int fallbackId = idOf("10.0.0.9");
        assertThat(maps.tables.values().iterator().next()).doesNotContain(fallbackId);

        applier.apply(snapshot(group("web",
                backend("10.0.0.2", 8080, 1).toBuilder().setState(BackendState.DRAINING).build(), fallback)));
        assertThat(slotShare(maps.tables.values().iterator().next())).containsOnlyKeys(fallbackId);
    }

    @Test
    void listenerIdleTimeoutsAreWrittenByListenerIdAndRemovedWithTheSetting() {
        NodeSnapshot plain = snapshot(group("web", backend("10.0.0.2", 8080, 1)));
        applier.apply(plain);
        assertThat(maps.timeouts).isEmpty();

        applier.apply(plain.toBuilder().setListeners(0, listener().toBuilder()
                .setIdleTimeouts(IdleTimeouts.newBuilder().setTcpEstablishedSeconds(7200).setUdpSeconds(5))).build());
        int id = maps.listeners.values().iterator().next().id();
        assertThat(maps.timeouts).containsOnlyKeys(id);
        assertThat(maps.timeouts.get(id)).isEqualTo(new Abi.Timeouts(7_200_000_000_000L, 0, 5_000_000_000L));

        applier.apply(plain);
        assertThat(maps.timeouts).isEmpty();
        assertThat(maps.log).contains("deleteTimeouts " + id);
    }

    @Test
    void sourceRoutesAndPersistence() {
        NodeSnapshot s = snapshot(group("web", backend("10.0.0.2", 8080, 1)),
                group("canary", backend("10.0.0.7", 8080, 1)).toBuilder().setAlgorithm(Algorithm.SOURCE_IP).build())
                .toBuilder()
                .setListeners(0, listener().toBuilder().addSourceRoutes(SourceRoute.newBuilder()
                        .setPrefix(bytes("198.18.0.0")).setPrefixLength(15).setTargetGroup("default/canary")))
                .build();
        applier.apply(s);

        var entry = maps.listeners.values().iterator().next();
        assertThat(entry.flags() & Abi.LISTENER_HAS_ROUTES).isNotZero();
        assertThat(maps.routes).hasSize(1);
        int canary = maps.routes.values().iterator().next();
        assertThat(canary).isNotEqualTo(entry.group());
        assertThat(maps.groups.get(canary).flags()).isEqualTo(Abi.GROUP_PERSIST_SOURCE);
    }

    @Test
    void fullNatOpensTheSourcePortRangeAndPicksABackendFacingAddress() {
        NodeSnapshot s = snapshot(group("web", backend("198.51.100.7", 8080, 1))).toBuilder()
                .setListeners(0, listener().toBuilder().setNatMode(NatMode.FULL_NAT).clearInterfaces()
                        .addInterfaces("eth0").addInterfaces("eth1"))
                .build();
        applier.apply(s);

        var entry = maps.listeners.values().iterator().next();
        assertThat(entry.flags() & Abi.LISTENER_FULLNAT).isNotZero();
        assertThat(entry.snatAddress()).isEqualTo(ip("198.51.100.1"));
        assertThat(maps.portOpen(PortFilter.Direction.INGRESS, 61000)).isTrue();
        assertThat(maps.portOpen(PortFilter.Direction.INGRESS, 61999)).isTrue();
        assertThat(maps.portOpen(PortFilter.Direction.INGRESS, 62000)).isFalse();
        assertThat(maps.addressOpen(ip("198.51.100.1"))).as("the SNAT address: its replies are ours").isTrue();
    }

    @Test
    void anOldSnatAddressStaysOpenWhileFullNatFlowsUseIt() {
        long[] now = {1};
        applier.clock(() -> now[0]);
        NodeSnapshot first = snapshot(group("web", backend("198.51.100.7", 8080, 1))).toBuilder()
                .setListeners(0, listener().toBuilder().setNatMode(NatMode.FULL_NAT).setSnatAddress(bytes("198.51.100.1")))
                .build();
        NodeSnapshot moved = first.toBuilder().setListeners(0, first.getListeners(0).toBuilder()
                .setSnatAddress(bytes("198.51.100.2"))).build();
        applier.apply(first);
        assertThat(maps.fullNatScans).as("nothing cleared, nothing to ask").isZero();
        maps.fullNatSources = Set.of(ip("198.51.100.1"));

        applier.apply(moved);

        assertThat(maps.addressOpen(ip("198.51.100.2"))).as("the new SNAT address").isTrue();
        assertThat(maps.addressOpen(ip("198.51.100.1"))).as("the old one: its flows' replies come back to it").isTrue();
        assertThat(maps.fullNatScans).isEqualTo(1);
        maps.fullNatSources = Set.of();
        applier.apply(moved.toBuilder().setVersion("2").build());
        assertThat(maps.addressOpen(ip("198.51.100.1"))).as("the same bit again within a minute: no scan").isTrue();
        assertThat(maps.fullNatScans).isEqualTo(1);

        now[0] += SnapshotApplier.HOLD_RECHECK_NS;
        applier.apply(moved.toBuilder().setVersion("3").build());

        assertThat(maps.fullNatScans).isEqualTo(2);
        assertThat(maps.addressOpen(ip("198.51.100.1"))).as("closed once no flow uses it").isFalse();
        assertThat(maps.addressOpen(ip("198.51.100.2"))).isTrue();
    }

    @Test
    void anAddressFilterThatCannotBeNarrowedSafelyKeepsEveryBit() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1))));
        maps.fullNatSources = null; // the scan fails

        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1))).toBuilder().clearListeners().build());

        assertThat(maps.addressOpen(ip("203.0.113.10"))).as("kept: the flows could not be read").isTrue();
    }

    @Test
    void aListenerWithoutAddressListensOnEveryAddressOfItsInterfaces() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1))).toBuilder()
                .setListeners(0, listener().toBuilder().clearAddress()).build());

        assertThat(maps.listeners.keySet()).extracting(Abi.ListenerKey::address)
                .containsExactlyInAnyOrder(ip("192.0.2.1"), ip("2001:db8::1"));
    }

    @Test
    void aDualStackGroupGetsOneTablePerFamily() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("2001:db8:1::2", 8080, 1)))
                .toBuilder().setListeners(0, listener().toBuilder().clearAddress()).build());

        for (var e : maps.listeners.entrySet()) {
            int[] table = maps.tables.get(e.getValue().group());
            assertThat(slotShare(table).keySet()).singleElement()
                    .satisfies(id -> assertThat(DesiredState.sameFamily(maps.backends.get(id).address(),
                            e.getKey().address())).isTrue());
        }
        assertThat(maps.groups).hasSize(2);
    }

    @Test
    void anInvalidSnapshotIsRefusedAndNothingIsWritten() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1))));
        maps.log.clear();

        NodeSnapshot missingGroup = snapshot(group("other", backend("10.0.0.2", 8080, 1)));
        assertThatThrownBy(() -> applier.apply(missingGroup))
                .isInstanceOf(SnapshotRejectedException.class)
                .hasMessageContaining("listener default/web/http")
                .hasMessageContaining("target group default/web is not in the snapshot");
        NodeSnapshot missingInterface = snapshot(group("web", backend("10.0.0.2", 8080, 1))).toBuilder()
                .setListeners(0, listener().toBuilder().clearInterfaces().addInterfaces("eth9")).build();
        assertThatThrownBy(() -> applier.apply(missingInterface))
                .hasMessageContaining("interface eth9 does not exist on this node");
        assertThat(maps.log).isEmpty();
    }

    @Test
    void aFailedWriteRestoresThePreviousState() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 1))));
        var listenersBefore = new HashMap<>(maps.listeners);
        var backendsBefore = new HashMap<>(maps.backends);
        int[] tableBefore = maps.tables.values().iterator().next().clone();

        maps.failOnWrite = 3;
        assertThatThrownBy(() -> applier.apply(snapshot(group("web",
                backend("10.0.0.4", 8080, 1), backend("10.0.0.5", 8080, 5)))))
                .hasMessageContaining("injected failure");
        assertThat(maps.released).as("a failed apply removed nothing").isEmpty();

        assertThat(maps.listeners).isEqualTo(listenersBefore);
        assertThat(maps.backends).isEqualTo(backendsBefore);
        assertThat(maps.tables.values().iterator().next()).isEqualTo(tableBefore);
        // and the next apply starts from the old state
        maps.log.clear();
        assertThat(applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 1)))))
                .isZero();
    }

    @Test
    void aBackendKeepsItsIdWhileItExists() {
        applier.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 1))));
        int id = idOf("10.0.0.3");
        applier.apply(snapshot(group("web", backend("10.0.0.1", 8080, 1), backend("10.0.0.3", 8080, 2))));
        assertThat(idOf("10.0.0.3")).isEqualTo(id);
    }

    @Test
    void aBackendRemovedJustBeforeARestartDoesNotLendItsIdToANewOne(@TempDir Path state) {
        // Its last flows still carry its id in conntrack, which counts them per backend id (drains).
        SnapshotApplier first = SnapshotApplier.adopting(maps, HOST, LIMITS, DesiredState.empty(), state);
        first.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 1))));
        int removed = idOf("10.0.0.3");
        first.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1))));

        SnapshotApplier restarted = SnapshotApplier.adopting(maps, HOST, LIMITS, first.applied(), state);
        restarted.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.4", 8080, 1))));

        assertThat(idOf("10.0.0.4")).as("the new backend's id").isNotEqualTo(removed);
    }

    @Test
    void stateReadBeforeThePreviousAgentsLastApplyIsReadAgain(@TempDir Path state) {
        // The agent reads its state directory while its programs load, before it holds the data
        // plane: the agent before it may still finish an apply then, here one that only moves slots.
        SnapshotApplier previous = SnapshotApplier.adopting(maps, HOST, LIMITS, DesiredState.empty(), state);
        previous.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 1))));
        var readEarly = java.util.concurrent.CompletableFuture.completedFuture(
                SnapshotApplier.Saved.read(state, HOST, LIMITS));
        previous.apply(snapshot(group("web", backend("10.0.0.2", 8080, 1), backend("10.0.0.3", 8080, 3))));

        SnapshotApplier next = SnapshotApplier.adopting(maps, HOST, LIMITS,
                SnapshotApplier.ReadBack.of(previous.applied()), state, readEarly, new Phases());

        assertThat(next.applied().sameAs(previous.applied())).as("what the adopting applier believes is in the maps")
                .isTrue();
    }

    private int idOf(String address) {
        return maps.backends.entrySet().stream()
                .filter(e -> e.getValue().address().equals(ip(address)))
                .findFirst().orElseThrow().getKey();
    }

    @Test
    void aStreamListenerIsLeftOutOfTheListenerMapButItsGroupsAreProgrammed() {
        Listener stream = listener().toBuilder().setName("default/web/tls").setPort(443)
                .addSniRoutes(io.nodelb.dataplane.v1alpha1.SniRoute.newBuilder().addServerNames("api.example.com")
                        .addServerNames("*.example.com").setTargetGroup("default/api"))
                .setProxyProtocol(io.nodelb.dataplane.v1alpha1.ProxyProtocol.PROXY_PROTOCOL_V2).build();
        NodeSnapshot s = NodeSnapshot.newBuilder().setNode("n1").addListeners(listener()).addListeners(stream)
                .addTargetGroups(group("api", backend("10.0.0.9", 8443, 1)))
                .addTargetGroups(group("web", backend("10.0.0.2", 8080, 1))).build();
        applier.apply(s);

        assertThat(maps.listeners.keySet()).extracting(Abi.ListenerKey::port).containsExactly(80);
        assertThat(maps.portOpen(PortFilter.Direction.INGRESS, 443)).isFalse();
        DesiredState.StreamListener served = applier.applied().streams().get("default/web/tls@203.0.113.10");
        assertThat(served.port()).isEqualTo(443);
        assertThat(served.proxyProtocol()).isEqualTo(2);
        assertThat(served.fallback().name()).isEqualTo("default/web");
        assertThat(served.sniRoutes().keySet()).containsExactlyInAnyOrder("api.example.com", "*.example.com");
        int api = served.sniRoutes().get("api.example.com").id();
        assertThat(maps.backends.get(maps.tables.get(api)[0])).isEqualTo(new Abi.Backend(ip("10.0.0.9"), 8443));
        assertThat(served.fallback().id()).isEqualTo(maps.listeners.values().iterator().next().group());
    }

    @Test
    void aStreamListenerWithASourceRouteOrOnTheEndpointOfAnotherIsRefused() {
        Listener stream = listener().toBuilder().setName("default/web/tls")
                .setProxyProtocol(io.nodelb.dataplane.v1alpha1.ProxyProtocol.PROXY_PROTOCOL_V1).build();
        NodeSnapshot taken = NodeSnapshot.newBuilder().setNode("n1").addListeners(listener()).addListeners(stream)
                .addTargetGroups(group("web", backend("10.0.0.2", 8080, 1))).build();
        assertThatThrownBy(() -> applier.apply(taken)).isInstanceOf(SnapshotRejectedException.class)
                .hasMessageContaining("already taken");
        NodeSnapshot routed = NodeSnapshot.newBuilder().setNode("n1")
                .addListeners(stream.toBuilder().setPort(443).addSourceRoutes(io.nodelb.dataplane.v1alpha1.SourceRoute
                        .newBuilder().setPrefix(bytes("10.0.0.0")).setPrefixLength(8).setTargetGroup("default/web")))
                .addTargetGroups(group("web", backend("10.0.0.2", 8080, 1))).build();
        assertThatThrownBy(() -> applier.apply(routed)).isInstanceOf(SnapshotRejectedException.class)
                .hasMessageContaining("no source routes");
    }

    private static Map<Integer, Integer> slotShare(int[] table) {
        Map<Integer, Integer> share = new HashMap<>();
        Arrays.stream(table).forEach(id -> share.merge(id, 1, Integer::sum));
        return share;
    }

    static Listener listener() {
        return Listener.newBuilder().setName("default/web/http").setAddress(bytes("203.0.113.10")).setPort(80)
                .setProtocol(Protocol.TCP).setNatMode(NatMode.DNAT).setTargetGroup("default/web")
                .addInterfaces("eth0").build();
    }

    static TargetGroup group(String name, Backend... backends) {
        return TargetGroup.newBuilder().setName("default/" + name).setAlgorithm(Algorithm.MAGLEV)
                .addAllBackends(List.of(backends)).build();
    }

    static Backend backend(String address, int port, int weight) {
        return Backend.newBuilder().setAddress(bytes(address)).setPort(port).setWeight(weight)
                .setState(BackendState.ACTIVE).setOrigin("static").build();
    }

    static NodeSnapshot snapshot(TargetGroup... groups) {
        return NodeSnapshot.newBuilder().setNode("n1").addListeners(listener()).addAllTargetGroups(List.of(groups))
                .build();
    }

    static ByteString bytes(String address) {
        return ByteString.copyFrom(ip(address).getAddress());
    }

    static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
