package io.nodelb.agent.xdp;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.dataplane.v1alpha1.NatMode;
import java.util.stream.Stream;

/** One listener of {@link Snapshots#standard()}: a family, a protocol and a NAT mode. */
record StandardListener(boolean ipv6, int proto, NatMode mode) {

    /** All eight: IPv4 and IPv6, TCP and UDP, DNAT and FullNAT. */
    static Stream<StandardListener> all() {
        return Stream.of(false, true).flatMap(v6 -> Stream.of(Abi.IPPROTO_TCP, Abi.IPPROTO_UDP)
                .flatMap(proto -> Stream.of(NatMode.DNAT, NatMode.FULL_NAT)
                        .map(mode -> new StandardListener(v6, proto, mode))));
    }

    static Stream<StandardListener> tcp() {
        return all().filter(StandardListener::isTcp);
    }

    boolean isTcp() {
        return proto == Abi.IPPROTO_TCP;
    }

    boolean isFullNat() {
        return mode == NatMode.FULL_NAT;
    }

    /** A flow from the standard client on clientPort to this listener. */
    Flow flow(int clientPort) {
        return new Flow(ipv6 ? Snapshots.CLIENT6 : Snapshots.CLIENT4, clientPort, vip(), port(), proto);
    }

    String vip() {
        return ipv6 ? Snapshots.VIP6 : Snapshots.VIP4;
    }

    int port() {
        return isTcp() ? (isFullNat() ? Snapshots.HTTP_FULLNAT : Snapshots.HTTP)
                : (isFullNat() ? Snapshots.DNS_FULLNAT : Snapshots.DNS);
    }

    /** The FullNAT source address of this family. */
    String snat() {
        return ipv6 ? Snapshots.SNAT6 : Snapshots.SNAT4;
    }

    @Override
    public String toString() {
        return (ipv6 ? "IPv6 " : "IPv4 ") + (isTcp() ? "TCP " : "UDP ") + mode;
    }
}
