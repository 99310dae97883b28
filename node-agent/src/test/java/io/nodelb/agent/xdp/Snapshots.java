package io.nodelb.agent.xdp;

import com.google.protobuf.ByteString;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.Protocol;
import io.nodelb.dataplane.v1alpha1.SourceRoute;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/** NodeSnapshots for the tests, in the words of the proto; addresses from the documentation ranges. */
final class Snapshots {

    static final String VIP4 = "203.0.113.10";
    static final String VIP6 = "2001:db8:f::10";
    /** Addresses of the client-facing interface eth0 (not VIPs). */
    static final String NODE4 = "192.0.2.1";
    static final String NODE6 = "2001:db8::1";
    /** Addresses of the backend-facing interface eth1: the FullNAT sources. */
    static final String SNAT4 = "10.0.0.1";
    static final String SNAT6 = "fd00::1";

    /** Listener ports of {@link #standard()}. */
    static final int HTTP = 80;
    static final int HTTP_FULLNAT = 8443;
    static final int DNS = 53;
    static final int DNS_FULLNAT = 5353;
    /** Backend ports of {@link #standard()}. */
    static final int WEB_PORT = 8080;
    static final int DNS_PORT = 5300;

    /** The clients of the tests. */
    static final String CLIENT4 = "198.51.100.7";
    static final String CLIENT6 = "2001:db8:100::7";

    private Snapshots() {}

    /**
     * The node most tests use: on VIP4 and VIP6, TCP port 80 (DNAT) and 8443 (FullNAT) to the
     * dual-stack group "web" (three backends per family on 8080), UDP 53 (DNAT) and 5353
     * (FullNAT) to "dns" (three per family on 5300).
     */
    static NodeSnapshot standard() {
        return snapshot(standardListeners(), List.of(web(3), dns(3)));
    }

    static List<Listener> standardListeners() {
        ArrayList<Listener> listeners = new ArrayList<>();
        for (String vip : List.of(VIP4, VIP6)) {
            String f = vip.equals(VIP4) ? "4" : "6";
            listeners.add(listener("http" + f, vip, HTTP, Protocol.TCP, NatMode.DNAT, "default/web"));
            listeners.add(listener("https" + f, vip, HTTP_FULLNAT, Protocol.TCP, NatMode.FULL_NAT, "default/web"));
            listeners.add(listener("dns" + f, vip, DNS, Protocol.UDP, NatMode.DNAT, "default/dns"));
            listeners.add(listener("dnsfn" + f, vip, DNS_FULLNAT, Protocol.UDP, NatMode.FULL_NAT, "default/dns"));
        }
        return listeners;
    }

    /** "web": n backends per family, 10.0.1.i and fd00:1::i on 8080. */
    static TargetGroup web(int n) {
        ArrayList<Backend> backends = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            backends.add(backend("10.0.1." + i, WEB_PORT));
            backends.add(backend("fd00:1::" + i, WEB_PORT));
        }
        return group("default/web", backends);
    }

    /** "dns": n backends per family, 10.0.2.i and fd00:2::i on 5300. */
    static TargetGroup dns(int n) {
        ArrayList<Backend> backends = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            backends.add(backend("10.0.2." + i, DNS_PORT));
            backends.add(backend("fd00:2::" + i, DNS_PORT));
        }
        return group("default/dns", backends);
    }

    static NodeSnapshot snapshot(List<Listener> listeners, List<TargetGroup> groups) {
        return NodeSnapshot.newBuilder().setNode("node-1").addAllListeners(listeners).addAllTargetGroups(groups)
                .build();
    }

    static Listener listener(String name, String vip, int port, Protocol protocol, NatMode mode, String group) {
        Listener.Builder l = Listener.newBuilder().setName("default/lb/" + name).setAddress(bytes(vip)).setPort(port)
                .setProtocol(protocol).setNatMode(mode).setTargetGroup(group).addInterfaces("eth0");
        if (mode == NatMode.FULL_NAT) {
            l.addInterfaces("eth1").setSnatAddress(bytes(ip(vip) instanceof Inet4Address ? SNAT4 : SNAT6));
        }
        return l.build();
    }

    static Listener withRoutes(Listener listener, SourceRoute... routes) {
        return listener.toBuilder().addAllSourceRoutes(List.of(routes)).build();
    }

    static SourceRoute route(String prefix, int length, String group) {
        return SourceRoute.newBuilder().setPrefix(bytes(prefix)).setPrefixLength(length).setTargetGroup(group).build();
    }

    static TargetGroup group(String name, Algorithm algorithm, List<Backend> backends) {
        return TargetGroup.newBuilder().setName(name).setAlgorithm(algorithm).addAllBackends(backends).build();
    }

    static TargetGroup group(String name, List<Backend> backends) {
        return group(name, Algorithm.MAGLEV, backends);
    }

    static Backend backend(String address, int port) {
        return backend(address, port, 1, BackendState.ACTIVE);
    }

    static Backend backend(String address, int port, int weight, BackendState state) {
        return Backend.newBuilder().setAddress(bytes(address)).setPort(port).setWeight(weight).setState(state)
                .setOrigin("static").build();
    }

    static ByteString bytes(String address) {
        return ByteString.copyFrom(ip(address).getAddress());
    }

    static InetAddress ip(ByteString bytes) {
        try {
            return InetAddress.getByAddress(bytes.toByteArray());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }
}
