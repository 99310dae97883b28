package io.nodelb.agent.xdp;

import io.nodelb.agent.bpf.Abi;
import java.net.Inet4Address;
import java.net.InetAddress;

/** One client flow to a listener: client:port -> vip:port over TCP or UDP. */
record Flow(String client, int clientPort, String vip, int vipPort, int proto) {

    static Flow tcp(String client, int clientPort, String vip, int vipPort) {
        return new Flow(client, clientPort, vip, vipPort, Abi.IPPROTO_TCP);
    }

    static Flow udp(String client, int clientPort, String vip, int vipPort) {
        return new Flow(client, clientPort, vip, vipPort, Abi.IPPROTO_UDP);
    }

    Flow fromPort(int port) {
        return new Flow(client, port, vip, vipPort, proto);
    }

    Flow from(String address, int port) {
        return new Flow(address, port, vip, vipPort, proto);
    }

    InetAddress clientAddress() {
        return Snapshots.ip(client);
    }

    InetAddress vipAddress() {
        return Snapshots.ip(vip);
    }

    boolean isIpv4() {
        return clientAddress() instanceof Inet4Address;
    }

    boolean isTcp() {
        return proto == Abi.IPPROTO_TCP;
    }

    /** The README's flow hash of this flow's forward tuple. */
    int hash() {
        return DataPlaneHash.flow(clientAddress(), clientPort, vipAddress(), vipPort, proto);
    }

    /** Its forward conntrack key: the tuple as it arrives. */
    Abi.CtKey forwardKey() {
        return new Abi.CtKey(clientAddress(), clientPort, vipAddress(), vipPort, proto);
    }

    /** A client -> VIP frame (TCP with these flags; UDP ignores them). */
    byte[] forward(int tcpFlags) {
        return Frames.frame(proto, tcpFlags, client, clientPort, vip, vipPort);
    }

    /** The first packet: a SYN, or a UDP datagram. */
    byte[] first() {
        return forward(Frames.SYN);
    }

    @Override
    public String toString() {
        return (isTcp() ? "tcp " : "udp ") + (isIpv4() ? client : "[" + client + "]") + ":" + clientPort + " -> "
                + (isIpv4() ? vip : "[" + vip + "]") + ":" + vipPort;
    }
}
