package io.nodelb.agent.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Command;
import io.nodelb.agent.testing.Privileged;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * bin/nodelb-agent run the way a newcomer first tries it in a lab: under {@code ip netns exec},
 * which mounts a fresh /sys and hides bpffs. The launcher must say what to do instead of claiming
 * bpffs is not mounted.
 */
@Privileged
class LabLauncherHintsIT {

    @Test
    void underIpNetnsExecTheLauncherSaysToUseNsenter() throws Exception {
        String netns = "nlbhint-" + ProcessHandle.current().pid();
        Path launcher = Path.of("../bin/nodelb-agent").toAbsolutePath().normalize();
        Command.run("ip", "netns", "add", netns);
        try {
            Command.Result result = Command.result("ip", "netns", "exec", netns, launcher.toString(), "standalone",
                    "--config", "/nonexistent.yaml");
            assertThat(result.exitCode()).isEqualTo(1);
            assertThat(result.stderr()).contains("under 'ip netns exec " + netns + "'")
                    .contains("nsenter --net=/run/netns/" + netns + " bin/nodelb-agent");
        } finally {
            Command.run("ip", "netns", "delete", netns);
        }
    }
}
