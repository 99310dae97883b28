package io.nodelb.agent;

import io.nodelb.agent.cluster.ClusterOptions.OperatorAddress;
import io.nodelb.agent.cluster.ClusterOptions.UsageException;
import io.nodelb.agent.dataplane.XdpForward;
import io.nodelb.agent.events.EventOptions;
import io.nodelb.agent.events.FlowEvents;
import java.net.InetSocketAddress;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The options of a running agent, the same in both modes ({@code standalone} and {@code cluster}),
 * declared once; each accessor checks its value and says what is wrong with it.
 */
public final class RunOptions extends HostOptions {

    @Option(names = "--metrics-port", paramLabel = "N",
            description = "serve Prometheus metrics on :N/metrics, and /livez, /readyz (env NODELB_METRICS_PORT;"
                    + " default: off)")
    Integer metricsPort;

    @Option(names = "--admin-address", paramLabel = "HOST:PORT",
            description = "serve POST /drain and /undrain there, e.g. 127.0.0.1:9401 (env NODELB_ADMIN_ADDRESS;"
                    + " default: none)")
    String adminAddress;

    @Mixin
    EventOptions events = new EventOptions();

    @Option(names = "--xdp-forward", paramLabel = "auto|off",
            description = "send translated packets on from XDP (FIB lookup, redirect) to the interfaces the"
                    + " agent attached to whose kernel side can take redirected frames; off: always up the"
                    + " stack; it skips the node's netfilter FORWARD chain (env NODELB_XDP_FORWARD; default off)")
    String xdpForward;

    @Option(names = "--stream-splice",
            description = "splice stream listeners' sockets in the kernel (sockmap) instead of relaying in the"
                    + " agent (env NODELB_STREAM_SPLICE=on); off by default: not faster than the relay where"
                    + " measured (docs/stream-listeners.md)")
    boolean streamSplice;

    @Option(names = "--uninstall-on-stop",
            description = "on SIGTERM, remove the data plane instead of leaving it running for the next agent")
    boolean uninstallOnStop;

    /** 0: no metrics server. */
    public int metricsPort() {
        if (metricsPort == null) {
            return 0;
        }
        if (metricsPort < 1 || metricsPort > 65535) {
            throw new UsageException("--metrics-port must be a port number (1-65535), got " + metricsPort);
        }
        return metricsPort;
    }

    /** Null: no admin endpoint. */
    public InetSocketAddress adminAddress() {
        if (adminAddress == null) {
            return null;
        }
        OperatorAddress parsed;
        try {
            parsed = OperatorAddress.parse(adminAddress);
        } catch (UsageException e) {
            throw new UsageException("--admin-address must be HOST:PORT (for example 127.0.0.1:9401), got '"
                    + adminAddress + "'");
        }
        return new InetSocketAddress(parsed.host(), parsed.port());
    }

    /** The flow-event settings (access log, conntrack sweep, budget) for a node of this name. */
    public FlowEvents.Settings events(String node) {
        return events.settings(node);
    }

    public XdpForward.Mode xdpForward() {
        try {
            return xdpForward == null ? XdpForward.Mode.DEFAULT : XdpForward.Mode.parse(xdpForward);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    public boolean streamSplice() {
        return streamSplice;
    }

    public boolean uninstallOnStop() {
        return uninstallOnStop;
    }
}
