package io.nodelb.agent;

import io.nodelb.agent.dataplane.BpfDataPlane;
import io.nodelb.agent.dataplane.HostSettings;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Where the data plane and the agent's state live on the host: the options every command that
 * touches them takes ({@code standalone}, {@code cluster}, {@code uninstall}), declared once.
 */
public class HostOptions {
    public static final Path DEFAULT_PIN_PATH = Path.of("/sys/fs/bpf/nodelb");

    @Option(names = "--pin-path", paramLabel = "DIR",
            description = "where maps and links are pinned (env NODELB_PIN_PATH; default /sys/fs/bpf/nodelb)")
    Path pinPath;

    @Option(names = "--state-dir", paramLabel = "DIR",
            description = "saved ids and the host's original settings (env NODELB_STATE_DIR; default"
                    + " /run/nodelb/<pin path>)")
    Path stateDir;

    @Option(names = "--proc-sys", paramLabel = "DIR",
            description = "the host's /proc/sys, where the sysctls the agent changes live (env NODELB_PROC_SYS;"
                    + " default /proc/sys). A container's own is read-only: mount the host's /proc/sys/net"
                    + " elsewhere, e.g. /host/proc/sys/net, and give /host/proc/sys")
    Path procSys;

    public Path pinPath() {
        return pinPath == null ? DEFAULT_PIN_PATH : pinPath;
    }

    public Path stateDir() {
        return stateDir == null ? BpfDataPlane.stateDirectoryFor(pinPath()) : stateDir;
    }

    public Path procSys() {
        return procSys == null ? HostSettings.DEFAULT_PROC_SYS : procSys;
    }
}
