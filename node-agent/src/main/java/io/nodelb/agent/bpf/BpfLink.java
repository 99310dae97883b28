package io.nodelb.agent.bpf;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A BPF link: a program attached to a hook, held by a file descriptor.
 *
 * <p>Lifetime, as the kernel defines it: the program stays attached while anything holds
 * the link, our fd or a pin in bpffs. So {@link #close()} detaches an unpinned link, while
 * a pinned one stays attached after close (and after this process exits) until
 * {@link #unpin()} plus the last close, or an explicit {@link #detach()}. That is how the
 * data plane outlives an agent restart: pin, close, and later {@link #openPinned}.
 *
 * <p>Links made by {@link BpfProgram#attachXdp} and {@link BpfProgram#attachTcx} are also
 * closed when their object is closed, before the programs go.
 */
public final class BpfLink implements AutoCloseable {
    private final String description;
    private final BpfObject owner; // null when opened from a pin
    private int fd;
    private Path pinPath;

    private BpfLink(BpfObject owner, int fd, String description) {
        this.owner = owner;
        this.fd = fd;
        this.description = description;
    }

    static BpfLink madeBy(BpfObject owner, int fd, String description) {
        BpfLink link = new BpfLink(owner, fd, description);
        try {
            owner.addDependent(link);
        } catch (RuntimeException e) {
            LibBpf.closeFd(fd, description);
            throw e;
        }
        return link;
    }

    /** Opens the link pinned at path: a new fd to the same attachment. */
    public static BpfLink openPinned(Path path) {
        int fd = LibBpf.objGet(path);
        try {
            LibBpf.requireFdKind(fd, path, "link_type:", "link");
        } catch (RuntimeException e) {
            LibBpf.closeFd(fd, path.toString());
            throw e;
        }
        BpfLink link = new BpfLink(null, fd, "link pinned at " + path);
        link.pinPath = path;
        return link;
    }

    /** What is attached where, for messages. */
    public String description() {
        return description;
    }

    public synchronized int fd() {
        if (fd < 0) {
            throw new IllegalStateException(description + " is closed");
        }
        return fd;
    }

    public synchronized boolean isClosed() {
        return fd < 0;
    }

    public synchronized Optional<Path> pinPath() {
        return Optional.ofNullable(pinPath);
    }

    /** Pins the link in bpffs: it stays attached after close, until unpinned. */
    public synchronized void pin(Path path) {
        LibBpf.objPin(fd(), path);
        pinPath = path;
    }

    /** Removes the pin; the link then detaches when its last fd is closed. */
    public synchronized void unpin() {
        if (pinPath == null) {
            throw new IllegalStateException(description + " is not pinned");
        }
        LibBpf.unlink(pinPath);
        pinPath = null;
    }

    /**
     * Detaches the program now, pinned or not; the link stays as an empty shell until
     * unpinned and closed. For uninstall.
     */
    public synchronized void detach() {
        LibBpf.linkDetach(fd(), description);
    }

    /**
     * Makes the link run {@code program} instead: one atomic swap for packets, so a new
     * agent installs its code on an adopted link without a moment of detachment.
     */
    public synchronized void update(BpfProgram program) {
        LibBpf.linkUpdate(fd(), program.fd(), description);
    }

    /** The kernel's id of the program the link runs now. */
    public synchronized int programId() {
        return Integer.parseInt(LibBpf.fdInfo(fd()).getOrDefault("prog_id", "0"));
    }

    /** The tag (hash of the instructions) of the program the link runs now. */
    public synchronized String programTag() {
        return LibBpf.fdInfo(fd()).getOrDefault("prog_tag", "");
    }

    /**
     * The interface the link is attached to, or 0 when it is defunct (its interface was
     * deleted, or it was detached).
     */
    public synchronized int ifindex() {
        return Integer.parseInt(LibBpf.fdInfo(fd()).getOrDefault("ifindex", "0"));
    }

    /** Closes our fd: detaches the program unless the link is pinned. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (fd < 0) {
                return;
            }
            int current = fd;
            fd = -1;
            LibBpf.closeFd(current, description);
        }
        if (owner != null) {
            owner.removeDependent(this);
        }
    }

    @Override
    public String toString() {
        return "BpfLink[" + description + (pinPath != null ? ", pinned at " + pinPath : "")
                + (fd < 0 ? ", closed" : "") + "]";
    }
}
