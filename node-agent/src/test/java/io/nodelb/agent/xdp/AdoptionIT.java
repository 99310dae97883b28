package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.Snapshots.HTTP;
import static io.nodelb.agent.xdp.Snapshots.VIP4;
import static io.nodelb.agent.xdp.Snapshots.VIP6;
import static io.nodelb.agent.xdp.Snapshots.ip;
import static io.nodelb.agent.xdp.Snapshots.route;
import static io.nodelb.agent.xdp.Snapshots.withRoutes;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import io.nodelb.agent.dataplane.SnapshotApplier;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.IdleTimeouts;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What a restarted agent reads back from the maps is exactly what the previous one
 * programmed, so its first snapshot is a true diff: nothing unchanged is rewritten and
 * nothing left over survives.
 */
@Privileged
class AdoptionIT {

    private LoadedDataPlane loaded;
    private Path state;

    @BeforeEach
    void load() throws Exception {
        loaded = LoadedDataPlane.load();
        state = Files.createTempDirectory("nodelb-adoption-");
    }

    @AfterEach
    void close() throws Exception {
        loaded.close();
        try (var files = Files.walk(state)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Test
    void theMapsReadBackAsExactlyWhatWasProgrammed() {
        SnapshotApplier first = adopting(DesiredState.empty());
        first.apply(full());

        assertThat(withoutInterfaces(loaded.dataPlane().programmed()).sameAs(withoutInterfaces(first.applied())))
                .as("read back == programmed").isTrue();
        assertThat(loaded.dataPlane().programmed().listeners()).containsKeys(Abi.ListenerKey.echo(ip(VIP4)),
                Abi.ListenerKey.echo(ip(VIP6)));
    }

    @Test
    void aRestartedAgentWritesOnlyTheDifference() {
        SnapshotApplier first = adopting(DesiredState.empty());
        NodeSnapshot full = full();
        first.apply(full);

        // A test-run data plane has no links: say the interfaces are attached, as links would.
        SnapshotApplier second = adopting(withInterfaces(loaded.dataPlane().programmed(), first.applied().interfaces()));
        assertThat(second.appliedVersion()).as("the saved version, checked against the maps")
                .isEqualTo(full.getVersion());
        assertThat(second.apply(full)).as("writes for the same snapshot after a restart").isZero();

        NodeSnapshot fewer = versioned(full.toBuilder().removeListeners(0).build());
        assertThat(second.apply(fewer)).as("writes for one listener less").isPositive();
        assertThat(withoutInterfaces(loaded.dataPlane().programmed()).sameAs(withoutInterfaces(second.applied())))
                .isTrue();
        assertThat(second.applied().listeners()).doesNotContainKey(new Abi.ListenerKey(ip(VIP4), HTTP, Abi.IPPROTO_TCP));
    }

    @Test
    void withoutSavedIdsARestartStillConvergesAndRemovesWhatIsNoLongerWanted() throws Exception {
        adopting(DesiredState.empty()).apply(full());
        Files.delete(state.resolve("ids.properties"));

        SnapshotApplier second = adopting(loaded.dataPlane().programmed());
        assertThat(second.appliedVersion()).as("a version that cannot be checked is not believed").isEmpty();
        NodeSnapshot fewer = versioned(full().toBuilder().removeListeners(0).build());
        second.apply(fewer);

        assertThat(withoutInterfaces(loaded.dataPlane().programmed()).sameAs(withoutInterfaces(second.applied())))
                .as("maps == the new state, old entries under other ids gone").isTrue();
    }

    private SnapshotApplier adopting(DesiredState programmed) {
        return SnapshotApplier.adopting(loaded.dataPlane().maps(), LoadedDataPlane.HOST, loaded.limits(), programmed,
                state);
    }

    /** The standard node plus source routes and idle timeouts: every map the applier writes. */
    private static NodeSnapshot full() {
        NodeSnapshot standard = Snapshots.standard();
        List<Listener> listeners = new ArrayList<>(standard.getListenersList());
        listeners.set(0, withRoutes(listeners.get(0), route("198.51.100.0", 24, "default/dns"))
                .toBuilder().setIdleTimeouts(IdleTimeouts.newBuilder().setTcpEstablishedSeconds(60)).build());
        listeners.set(4, withRoutes(listeners.get(4), route("2001:db8:100::", 48, "default/dns")));
        // The VIPs' echo entries (port 0, ICMP / ICMPv6) read back too: Reply on VIP4, Drop on VIP6.
        listeners.replaceAll(l -> l.toBuilder().setIcmpEcho(ip(l.getAddress()).equals(ip(VIP4))
                ? io.nodelb.dataplane.v1alpha1.IcmpEcho.ICMP_ECHO_REPLY
                : io.nodelb.dataplane.v1alpha1.IcmpEcho.ICMP_ECHO_DROP).build());
        return versioned(standard.toBuilder().clearListeners().addAllListeners(listeners).build());
    }

    private static NodeSnapshot versioned(NodeSnapshot s) {
        return s.toBuilder().setVersion(io.nodelb.model.compiler.Snapshots.version(s)).build();
    }

    /** The links are not part of a test-run data plane. */
    private static DesiredState withoutInterfaces(DesiredState s) {
        return withInterfaces(s, Set.of());
    }

    private static DesiredState withInterfaces(DesiredState s, Set<String> interfaces) {
        return new DesiredState(s.listeners(), s.routes(), s.timeouts(), s.rateLimits(), s.groups(), s.tables(), s.backends(),
                s.ingressPorts(), s.egressPorts(), interfaces);
    }
}
