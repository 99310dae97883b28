package io.nodelb.agent.dataplane;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The host sysctls the data plane needs changed, and their original values.
 *
 * <p>The originals are written to a file in the agent's state directory before a value
 * is changed, and only the first time: an agent that was killed and restarted finds the
 * admin's values there instead of reading back its own, so a later restore puts back
 * exactly what the host had. Procfs values are read with a single read: the kernel
 * answers a second read of some (ip_local_reserved_ports) with end of file, which once
 * cut an admin's {@code 30000-32767} down to {@code 3}.
 */
public final class HostSettings {

    private static final System.Logger LOG = System.getLogger(HostSettings.class.getName());
    /**
     * Where the sysctls are, unless told otherwise ({@code --proc-sys}). A container sees its
     * own /proc/sys read-only; it mounts the host's /proc/sys/net elsewhere (the Helm chart:
     * {@code /host/proc/sys/net}) and names that root.
     */
    public static final Path DEFAULT_PROC_SYS = Path.of("/proc/sys");
    static final String RESERVED_PORTS = "net/ipv4/ip_local_reserved_ports";

    private final Path procSys;
    private final Path originalsFile;
    /** sysctl path below /proc/sys -> value before we changed it. */
    private final Map<String, String> originals;

    HostSettings(Path procSys, Path originalsFile) {
        this.procSys = procSys;
        this.originalsFile = originalsFile;
        this.originals = StateFiles.read(originalsFile);
    }

    /** The host's settings under /proc/sys, originals kept in {@code stateDirectory}. */
    public static HostSettings system(Path stateDirectory) {
        return system(DEFAULT_PROC_SYS, stateDirectory);
    }

    /** The host's settings under {@code procSys} (a /proc/sys mounted elsewhere), originals kept in {@code stateDirectory}. */
    public static HostSettings system(Path procSys, Path stateDirectory) {
        return new HostSettings(procSys, stateDirectory.resolve("host-settings.properties"));
    }

    /** The /proc/sys these settings are read from and written to. */
    public Path procSys() {
        return procSys;
    }

    /**
     * IPv4 settings FullNAT needs on an interface where XDP rewrites: a forward packet leaves
     * XDP with the SNAT address (this node's own) as its source, which input drops unless
     * accept_local is set; a reply leaves it with the VIP as its source, which strict
     * reverse-path filtering drops (loose is fine).
     */
    public synchronized void relaxForNat(String ifname) {
        set(conf(ifname, "accept_local"), "1");
        if ("1".equals(read(conf(ifname, "rp_filter")))) {
            set(conf(ifname, "rp_filter"), "2");
        }
    }

    /**
     * Keeps this node's own connections off the FullNAT source ports: a local socket on one of
     * them could share its 5-tuple with a translated flow, whose reply entry would then take
     * the socket's packets. Reserved ports are skipped by ephemeral port allocation only; an
     * explicit bind still works.
     */
    public synchronized void reservePorts(int min, int max) {
        String now = read(RESERVED_PORTS);
        if (now == null) {
            LOG.log(System.Logger.Level.WARNING, "cannot read " + RESERVED_PORTS
                    + "; local connections may take the FullNAT source ports " + min + "-" + max);
            return;
        }
        if (!PortRanges.covers(now, min, max)) {
            String range = min + "-" + max;
            set(RESERVED_PORTS, now.isEmpty() ? range : now + "," + range);
        }
    }

    /** Puts back what was changed on one interface. */
    public synchronized void restoreInterface(String ifname) {
        restoreWhere(key -> key.startsWith("net/ipv4/conf/" + ifname + "/"));
    }

    /** Puts back every setting this agent (or one before it) changed. */
    public synchronized void restoreAll() {
        restoreWhere(key -> true);
    }

    /** What was changed and its original value, by sysctl path. */
    public synchronized Map<String, String> originals() {
        return Map.copyOf(originals);
    }

    private void restoreWhere(java.util.function.Predicate<String> which) {
        for (String key : java.util.List.copyOf(originals.keySet())) {
            if (which.test(key)) {
                write(key, originals.get(key));
                originals.remove(key);
            }
        }
        StateFiles.write(originalsFile, originals);
    }

    /** Sets a value, remembering the original the first time (on disk before the change). */
    private void set(String key, String value) {
        String now = read(key);
        if (now == null || now.equals(value)) {
            return;
        }
        if (!originals.containsKey(key)) {
            originals.put(key, now);
            StateFiles.write(originalsFile, originals);
        }
        try {
            Files.writeString(procSys.resolve(key), value + "\n");
        } catch (NoSuchFileException e) {
            // The interface or its namespace is gone, and the setting with it.
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot set " + key.replace('/', '.') + "=" + value + " in "
                    + procSys + ": " + e + "; FullNAT over IPv4 needs it. In a container /proc/sys is read-only:"
                    + " mount the host's /proc/sys/net and give its root with --proc-sys (NODELB_PROC_SYS)");
        }
    }

    private static String conf(String ifname, String knob) {
        return "net/ipv4/conf/" + ifname + "/" + knob;
    }

    /** The value, or null when the file is gone (an interface deleted, a namespace gone). */
    String read(String key) {
        try (InputStream in = Files.newInputStream(procSys.resolve(key))) {
            byte[] buffer = new byte[64 * 1024];
            int n = in.read(buffer); // one read: see the class comment
            return n <= 0 ? "" : new String(buffer, 0, n, StandardCharsets.US_ASCII).strip();
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + procSys.resolve(key), e);
        }
    }

    private void write(String key, String value) {
        try {
            // An empty write is ignored by the kernel; a newline clears a list.
            Files.writeString(procSys.resolve(key), value + "\n");
        } catch (NoSuchFileException e) {
            // The interface or its namespace is gone, and the setting with it.
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot put back " + key.replace('/', '.') + "=" + value
                    + ": " + e.getMessage());
        }
    }
}
