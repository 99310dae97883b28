package io.nodelb.agent.dataplane;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One agent per data plane: a lock file in the state directory, held while the process lives
 * (the kernel drops it when the process dies, however it dies). Uninstall takes it too, so it
 * never tears down a data plane that an agent is running.
 */
public final class AgentLock {

    private AgentLock() {}

    static final String FILE = "agent.lock";

    static FileChannel acquire(Path stateDirectory, Path pinPath) {
        Path file = stateDirectory.resolve(FILE);
        FileChannel channel = null;
        try {
            Files.createDirectories(stateDirectory);
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            if (channel.tryLock() == null) {
                throw new AgentRunningException(pinPath, file);
            }
            return channel;
        } catch (OverlappingFileLockException e) {
            release(channel);
            throw new AgentRunningException(pinPath, file);
        } catch (AgentRunningException e) {
            release(channel);
            throw e;
        } catch (IOException e) {
            release(channel);
            throw new UncheckedIOException("cannot lock " + file, e);
        }
    }

    static void release(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing held to give back
            }
        }
    }

    /** Another agent runs on this data plane. */
    public static final class AgentRunningException extends IllegalStateException {
        AgentRunningException(Path pinPath, Path lockFile) {
            super("another nodelb agent is running on the data plane pinned under " + pinPath + " (it holds "
                    + lockFile + "); stop it first, or give this one another --pin-path");
        }
    }
}
