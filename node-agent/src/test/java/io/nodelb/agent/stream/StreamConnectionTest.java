package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.agent.dataplane.DesiredState;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StreamConnectionTest {
    private static final DesiredState.StreamListener LISTENER = new DesiredState.StreamListener("ns/lb/tls",
            InetAddress.getLoopbackAddress(), 443, new DesiredState.GroupRef("g", 3), Map.of(), 2, 7, true, true, 0);

    private static TcpInfo info(long lastSent, long lastRecv) {
        return new TcpInfo(1, lastSent, lastRecv, 100, 200, 5, 6, 0, 100, 0);
    }

    @Test
    void aConnectionIsAsIdleAsItsMostRecentDataEitherWayOnEitherSocket() {
        assertThat(StreamConnection.idleMs(9_000, info(5_000, 7_000), info(8_000, 6_000))).isEqualTo(5_000);
        assertThat(StreamConnection.idleMs(9_000, info(5_000, 7_000), info(8_000, 4_000))).isEqualTo(4_000);
        // bytes the relay copied itself count as activity too
        assertThat(StreamConnection.idleMs(1_000, info(5_000, 7_000), info(8_000, 4_000))).isEqualTo(1_000);
    }

    @Test
    void countersAreTheClientSocketsOrElseWhatTheRelayCopied() {
        var spliced = StreamConnection.counters(new TcpInfo(1, 0, 0, 4096, 517, 9, 11, 0, 4096, 0), false, 517, 0, 0);
        assertThat(spliced).isEqualTo(new StreamConnection.Counters(11, 517, 9, 4096));
        var relayed = StreamConnection.counters(null, false, 517, 100, 4096);
        assertThat(relayed).isEqualTo(new StreamConnection.Counters(0, 617, 0, 4096));
    }

    @Test
    void finsAreNotCountedAsPayloadBytes() {
        // Both FINs exchanged (state close after the agent's half-close): 517 + 1 received, 4096 + 1 acked.
        var ended = new TcpInfo(7, 0, 0, 4097, 518, 9, 11, 0, 4096, 0);
        assertThat(StreamConnection.counters(ended, true, 517, 0, 0))
                .isEqualTo(new StreamConnection.Counters(11, 517, 9, 4096));
        // The client's FIN in close-wait, before the agent saw its end of stream; retransmitted bytes once.
        var closeWait = new TcpInfo(8, 0, 0, 3000, 518, 9, 11, 1096, 4000, 1000);
        assertThat(StreamConnection.counters(closeWait, false, 517, 0, 0))
                .isEqualTo(new StreamConnection.Counters(11, 517, 9, 3000));
    }

    @Test
    void aFinIsToldFromAResetByTheSocketsState() {
        assertThat(TcpInfo.finishedByPeer(8)).as("close-wait").isTrue();
        assertThat(TcpInfo.finishedByPeer(9)).as("last-ack").isTrue();
        assertThat(TcpInfo.finishedByPeer(6)).as("time-wait").isTrue();
        assertThat(TcpInfo.finishedByPeer(7)).as("close: reset").isFalse();
        assertThat(TcpInfo.finishedByPeer(1)).as("established").isFalse();
    }

    @Test
    void theIdleCheckIsCoarseAndBounded() {
        assertThat(StreamListeners.idleCheckInterval(Duration.ofSeconds(900).toNanos())).isEqualTo(Duration.ofSeconds(10));
        assertThat(StreamListeners.idleCheckInterval(Duration.ofSeconds(2).toNanos())).isEqualTo(Duration.ofMillis(200));
        assertThat(StreamListeners.idleCheckInterval(Duration.ofMillis(10).toNanos())).isEqualTo(Duration.ofMillis(100));
        assertThat(StreamListeners.idleTimeoutNs(LISTENER)).isEqualTo(Duration.ofSeconds(900).toNanos());
    }

    @Test
    void anIdleConnectionIsClosedBothSidesAndEndsIdleAndARefusalIsADrop() throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             SocketChannel clientSide = SocketChannel.open(server.getLocalAddress());
             SocketChannel agentSide = server.accept();
             SocketChannel backendSide = SocketChannel.open(server.getLocalAddress());
             SocketChannel upstream = server.accept()) {
            clientSide.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
            var peer = (InetSocketAddress) agentSide.getRemoteAddress();
            var vip = (InetSocketAddress) agentSide.getLocalAddress();
            var backend = new InetSocketAddress(InetAddress.getLoopbackAddress(), 8443);
            long created = System.nanoTime();
            StreamConnection c = new StreamConnection(LISTENER, "g", StreamSocket.Channel.of(agentSide),
                    StreamSocket.Channel.of(upstream), peer, vip, backend, 5,
                    created, 3, true);
            assertThat(c.closeIfIdle(System.nanoTime(), Duration.ofHours(1).toNanos())).isFalse();
            assertThat(agentSide.isOpen()).isTrue();
            assertThat(c.closeIfIdle(System.nanoTime(), 0)).isTrue();
            assertThat(agentSide.isOpen()).isFalse();
            assertThat(upstream.isOpen()).isFalse();
            assertThat(c.closeIfIdle(System.nanoTime(), 0)).as("once").isFalse();
            // the abortive close reaches the client as a reset or an end of stream: never more data
            ByteBuffer buffer = ByteBuffer.allocate(1);
            try {
                assertThat(clientSide.read(buffer)).isEqualTo(-1);
            } catch (java.io.IOException reset) {
                assertThat(reset.getMessage()).containsIgnoringCase("reset");
            }
            c.failed(); // the relay's read fails after the idle close: still an idle end
            Abi.Event end = c.flowEnd(created + 1_500_000_000L);
            assertThat(end.type()).isEqualTo(Abi.EVENT_FLOW_END);
            assertThat(end.reason()).isEqualTo(Abi.END_IDLE);
            assertThat(end.timeNs() - end.createdNs()).isEqualTo(1_500_000_000L);
            assertThat(end.listenerId()).isEqualTo(7);
            assertThat(end.backendId()).isEqualTo(5);
            assertThat(end.flags() & Abi.CT_FULLNAT).isEqualTo(Abi.CT_FULLNAT);
            assertThat(end.source()).isEqualTo(peer.getAddress());
            assertThat(end.sourcePort()).isEqualTo(peer.getPort());
            assertThat(end.bytes()).as("the 3 bytes the client sent").isEqualTo(3);

            Abi.Event drop = StreamConnection.drop(LISTENER, peer, vip, created);
            assertThat(drop.type()).isEqualTo(Abi.EVENT_DROP);
            assertThat(drop.reason()).isEqualTo(Abi.Stat.DROP_NO_BACKEND.ordinal());
            assertThat(drop.backend()).isNull();
        }
    }
}
