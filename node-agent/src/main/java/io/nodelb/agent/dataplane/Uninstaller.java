package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.BpfLink;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Shutdown, the explicit teardown ({@code nodelb-agent uninstall}): detaches the programs of
 * the links pinned under the pin path (ours only: nothing else on the interfaces is touched),
 * removes every pin there, of every layout version, puts back each host setting this agent
 * or one before it changed, and removes the state directory. It needs no loaded program, so
 * it also clears what an agent of another version left.
 */
public final class Uninstaller {

    private static final System.Logger LOG = System.getLogger(Uninstaller.class.getName());
    /** With the temporary files a write leaves when the agent is killed before its rename. */
    private static final List<String> STATE_FILES = List.of("ids.properties", "applied-snapshot.pb",
            "host-settings.properties", "ids.properties.tmp", "applied-snapshot.pb.tmp",
            "host-settings.properties.tmp");

    private Uninstaller() {}

    /**
     * @return one line per thing removed or put back
     * @throws AgentLock.AgentRunningException when an agent runs on this data plane
     */
    public static List<String> uninstall(Path pinPath, Path stateDirectory) {
        return uninstall(pinPath, stateDirectory, HostSettings.DEFAULT_PROC_SYS);
    }

    /** As {@link #uninstall(Path, Path)}, putting the host's sysctls back under {@code procSys}. */
    public static List<String> uninstall(Path pinPath, Path stateDirectory, Path procSys) {
        List<String> done = new ArrayList<>();
        FileChannel lock = AgentLock.acquire(stateDirectory, pinPath);
        try {
            if (Files.isDirectory(pinPath)) {
                for (Path layout : list(pinPath)) {
                    if (Files.isDirectory(layout) && layout.getFileName().toString().matches("v\\d+")) {
                        removeLayout(layout, done);
                    }
                }
                deleteIfEmpty(pinPath);
            }
            HostSettings settings = HostSettings.system(procSys, stateDirectory);
            settings.originals().forEach((key, value) ->
                    done.add("put back " + key.replace('/', '.') + " = " + (value.isEmpty() ? "(empty)" : value)));
            settings.restoreAll();
            for (String file : STATE_FILES) {
                Files.deleteIfExists(stateDirectory.resolve(file));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("uninstall under " + pinPath + " failed", e);
        } finally {
            AgentLock.release(lock);
        }
        removeStateDirectory(stateDirectory);
        return done;
    }

    /** Links first (detached, then unpinned), then the maps' pins. */
    private static void removeLayout(Path layout, List<String> done) throws IOException {
        List<Path> pins = list(layout);
        for (Path pin : pins) {
            if (pin.getFileName().toString().startsWith("link_")) {
                try (BpfLink link = BpfLink.openPinned(pin)) {
                    link.detach();
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot detach " + pin + ": " + e.getMessage());
                }
                Files.deleteIfExists(pin);
                done.add("detached and unpinned " + pin);
            }
        }
        for (Path pin : list(layout)) {
            Files.deleteIfExists(pin);
            done.add("unpinned " + pin);
        }
        Files.deleteIfExists(layout);
    }

    private static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.sorted().toList();
        }
    }

    private static void deleteIfEmpty(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            if (entries.findAny().isEmpty()) {
                Files.delete(dir);
            }
        }
    }

    /** The lock file and the state directory, with its empty parents below {@link BpfDataPlane#STATE_ROOT}. */
    private static void removeStateDirectory(Path stateDirectory) {
        try {
            Files.deleteIfExists(stateDirectory.resolve(AgentLock.FILE));
            for (Path dir = stateDirectory; dir != null && !dir.equals(BpfDataPlane.STATE_ROOT) && Files.isDirectory(dir);
                 dir = dir.getParent()) {
                try (Stream<Path> entries = Files.list(dir)) {
                    if (entries.findAny().isPresent()) {
                        return;
                    }
                }
                Files.delete(dir);
                if (!dir.startsWith(BpfDataPlane.STATE_ROOT)) {
                    return; // a directory given with --state-dir: remove it, not its parents
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "leaving " + stateDirectory + ": " + e.getMessage());
        }
    }
}
