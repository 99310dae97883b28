package io.nodelb.agent.xdp;

import static io.nodelb.agent.xdp.LoadedDataPlane.XDP_PASS;
import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.bpf.BpfProgram.TestRunResult;
import io.nodelb.agent.packet.Packet;
import io.nodelb.agent.testing.Privileged;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Which group and backend a new flow gets: source-CIDR routes (longest prefix wins, everyone
 * else to the default group) and session persistence (SOURCE_IP: one backend per client
 * address), both checked against the README's hash.
 */
@Privileged
class SelectionIT extends DataPlaneFixture {

    private static final int STICKY_TCP = 9000;
    private static final int STICKY_UDP = 9053;
    private static final int PORTS_PER_CLIENT = 16;

    @Override
    NodeSnapshot snapshot() {
        List<Listener> listeners = new ArrayList<>();
        List<TargetGroup> groups = new ArrayList<>(List.of(Snapshots.web(3),
                group("default/net16", "10.16.0.", "fd00:16::", 2),
                group("default/net24", "10.24.0.", "fd00:24::", 2),
                group("default/host32", "10.32.0.", "fd00:32::", 2),
                Snapshots.group("default/sticky", Algorithm.SOURCE_IP, backends("10.50.0.", "fd00:50::", 4))));
        for (String vip : List.of(Snapshots.VIP4, Snapshots.VIP6)) {
            listeners.add(Snapshots.withRoutes(
                    Snapshots.listener("http@" + vip, vip, Snapshots.HTTP, Protocol.TCP, NatMode.DNAT, "default/web"),
                    Snapshots.route("10.1.0.0", 16, "default/net16"),
                    Snapshots.route("10.1.2.0", 24, "default/net24"),
                    Snapshots.route("10.1.2.3", 32, "default/host32"),
                    Snapshots.route("2001:db8:1::", 48, "default/net16"),
                    Snapshots.route("2001:db8:1:2::", 64, "default/net24"),
                    Snapshots.route("2001:db8:1:2::3", 128, "default/host32")));
            listeners.add(Snapshots.listener("sticky@" + vip, vip, STICKY_TCP, Protocol.TCP, NatMode.DNAT,
                    "default/sticky"));
            listeners.add(Snapshots.listener("stickyudp@" + vip, vip, STICKY_UDP, Protocol.UDP, NatMode.FULL_NAT,
                    "default/sticky"));
        }
        return Snapshots.snapshot(listeners, groups);
    }

    static Stream<Arguments> routedClients() {
        return Stream.of(
                Arguments.of("10.1.2.3", "10.1.2.3/32"),
                Arguments.of("10.1.2.4", "10.1.2.0/24"),
                Arguments.of("10.1.2.255", "10.1.2.0/24"),
                Arguments.of("10.1.3.3", "10.1.0.0/16"),
                Arguments.of("10.1.255.255", "10.1.0.0/16"),
                Arguments.of("10.1.0.0", "10.1.0.0/16"),
                Arguments.of("10.2.2.3", "default"),
                Arguments.of("10.0.255.255", "default"),
                Arguments.of(Snapshots.CLIENT4, "default"),
                Arguments.of("2001:db8:1:2::3", "2001:db8:1:2::3/128"),
                Arguments.of("2001:db8:1:2::4", "2001:db8:1:2::/64"),
                Arguments.of("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
                Arguments.of("2001:db8:1:3::3", "2001:db8:1::/48"),
                Arguments.of("2001:db8:1:ffff::1", "2001:db8:1::/48"),
                Arguments.of("2001:db8:2:2::3", "default"),
                Arguments.of("2001:db8:0:ffff::1", "default"),
                Arguments.of(Snapshots.CLIENT6, "default"));
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("routedClients")
    void aClientGoesToItsLongestRoutesGroupOrTheDefault(String client, String route) {
        boolean v4 = Snapshots.ip(client) instanceof Inet4Address;
        String vip = v4 ? Snapshots.VIP4 : Snapshots.VIP6;
        Abi.Listener listener = dataPlane.listener(vip, Snapshots.HTTP, Abi.IPPROTO_TCP);
        int group = route.equals("default")
                ? listener.group()
                : dataPlane.routeGroup(listener, route.substring(0, route.indexOf('/')),
                        Integer.parseInt(route.substring(route.indexOf('/') + 1)));
        Set<InetAddress> groupBackends = addressesOf(group);
        assertThat(groupBackends).as("backends of the group of %s", route).hasSize(route.equals("default") ? 3 : 2);

        for (int port = 42000; port < 42000 + PORTS_PER_CLIENT; port++) {
            Flow flow = Flow.tcp(client, port, vip, Snapshots.HTTP);
            TestRunResult result = dataPlane.xdp(flow.first());
            assertThat(result.retval()).isEqualTo(XDP_PASS);
            InetAddress backend = Packet.parse(result.output()).dst();
            assertThat(backend).as("%s via %s", flow, route).isIn(groupBackends)
                    .isEqualTo(dataPlane.backend(dataPlane.predictedBackend(group, flow)).address());
        }
    }

    static Stream<Arguments> stickyListeners() {
        return Stream.of(
                Arguments.of(Snapshots.VIP4, STICKY_TCP, Abi.IPPROTO_TCP, "198.51.100."),
                Arguments.of(Snapshots.VIP4, STICKY_UDP, Abi.IPPROTO_UDP, "198.51.100."),
                Arguments.of(Snapshots.VIP6, STICKY_TCP, Abi.IPPROTO_TCP, "2001:db8:100::"),
                Arguments.of(Snapshots.VIP6, STICKY_UDP, Abi.IPPROTO_UDP, "2001:db8:100::"));
    }

    @ParameterizedTest(name = "{0} port {1}")
    @MethodSource("stickyListeners")
    void sessionPersistenceSendsEveryFlowOfAClientToOneBackend(String vip, int port, int proto, String clients) {
        Abi.Listener listener = dataPlane.listener(vip, port, proto);
        Set<InetAddress> chosen = new HashSet<>();
        for (int c = 1; c <= 32; c++) {
            String client = clients + c;
            Set<InetAddress> backendsOfClient = new HashSet<>();
            for (int p = 0; p < PORTS_PER_CLIENT; p++) {
                Flow flow = new Flow(client, 20000 + 997 * p, vip, port, proto);
                TestRunResult result = dataPlane.xdp(flow.first());
                assertThat(result.retval()).isEqualTo(XDP_PASS);
                backendsOfClient.add(Packet.parse(result.output()).dst());
                assertThat(Packet.parse(result.output()).dst())
                        .isEqualTo(dataPlane.backend(dataPlane.predictedBackend(listener.group(), flow)).address());
            }
            assertThat(backendsOfClient).as("backends of client %s", client).hasSize(1);
            chosen.addAll(backendsOfClient);
        }
        assertThat(chosen).as("32 clients over 4 backends").hasSizeGreaterThanOrEqualTo(3);
        assertThat(chosen).isSubsetOf(addressesOf(listener.group()));
    }

    private Set<InetAddress> addressesOf(int group) {
        Set<InetAddress> addresses = new HashSet<>();
        for (int id : dataPlane.table(group)) {
            addresses.add(dataPlane.backend(id).address());
        }
        return addresses;
    }

    private static TargetGroup group(String name, String prefix4, String prefix6, int n) {
        return Snapshots.group(name, backends(prefix4, prefix6, n));
    }

    private static List<Backend> backends(String prefix4, String prefix6, int n) {
        List<Backend> backends = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            backends.add(Snapshots.backend(prefix4 + i, Snapshots.WEB_PORT));
            backends.add(Snapshots.backend(prefix6 + i, Snapshots.WEB_PORT));
        }
        return backends;
    }
}
