package io.nodelb.agent.dataplane;

import io.nodelb.agent.bpf.Abi;
import io.nodelb.model.input.IpLiterals;
import io.nodelb.dataplane.v1alpha1.Algorithm;
import io.nodelb.dataplane.v1alpha1.Backend;
import io.nodelb.dataplane.v1alpha1.BackendState;
import io.nodelb.dataplane.v1alpha1.IdleTimeouts;
import io.nodelb.dataplane.v1alpha1.IcmpEcho;
import io.nodelb.dataplane.v1alpha1.Listener;
import io.nodelb.dataplane.v1alpha1.NatMode;
import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import io.nodelb.dataplane.v1alpha1.ProxyProtocol;
import io.nodelb.dataplane.v1alpha1.SourceRoute;
import io.nodelb.dataplane.v1alpha1.TargetGroup;
import io.nodelb.model.MaglevTable;
import io.nodelb.model.Target;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * Everything the BPF maps must contain for one snapshot on this node: the pure
 * translation from names to map entries. Built without touching the kernel, so a
 * snapshot that cannot be programmed is refused before anything changes.
 */
public record DesiredState(
        Map<Abi.ListenerKey, Abi.Listener> listeners,
        Map<Abi.RouteKey, Integer> routes,
        Map<Integer, Abi.Timeouts> timeouts,
        Map<Integer, Abi.RateLimit> rateLimits,
        Map<Integer, Abi.Group> groups,
        Map<Integer, int[]> tables,
        Map<Integer, Abi.Backend> backends,
        PortFilter ingressPorts,
        PortFilter egressPorts,
        Set<String> interfaces,
        Map<String, StreamListener> streams) {

    /**
     * A listener the agent serves itself (TLS SNI routes, PROXY protocol): bound on the node, not in
     * the listener map, so the XDP program passes its packets to the node's stack. Not map state:
     * left out of {@link #sameAs} and never read back.
     *
     * @param proxyProtocol 0 none, 1 or 2 the PROXY protocol version
     */
    /**
     * @param id the listener id its flow events carry (from the listeners' ids; no map entry has it)
     * @param fullNat the listener's natMode is FULL_NAT (what its flow events report)
     * @param flowEvents the listener's {@code flowEvents}
     * @param idleTimeoutNs a connection silent both ways this long is closed; 0: the data plane's default
     */
    public record StreamListener(String name, InetAddress address, int port, GroupRef fallback,
                                 Map<String, GroupRef> sniRoutes, int proxyProtocol, int id, boolean fullNat,
                                 boolean flowEvents, long idleTimeoutNs) {}

    /** A target group by its snapshot name and the id of its table for this listener's family. */
    public record GroupRef(String name, int id) {}

    /** Without stream listeners (map state only: what the maps read back give). */
    public DesiredState(Map<Abi.ListenerKey, Abi.Listener> listeners, Map<Abi.RouteKey, Integer> routes,
            Map<Integer, Abi.Timeouts> timeouts, Map<Integer, Abi.RateLimit> rateLimits, Map<Integer, Abi.Group> groups,
            Map<Integer, int[]> tables, Map<Integer, Abi.Backend> backends, PortFilter ingressPorts,
            PortFilter egressPorts, Set<String> interfaces) {
        this(listeners, routes, timeouts, rateLimits, groups, tables, backends, ingressPorts, egressPorts, interfaces,
                Map.of());
    }

    public static DesiredState empty() {
        return new DesiredState(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of(),
                new PortFilter(), new PortFilter(), Set.of());
    }

    /** Limits and defaults of this agent's data plane. */
    public record Limits(int tableSize, int maxListeners, int maxGroups, int maxBackends,
                         int snatPortMin, int snatPortMax) {
        public Limits {
            // Port 0 is never a FullNAT source port (the data plane uses it as "none").
            if (snatPortMin < 1 || snatPortMin > snatPortMax || snatPortMax > 65535) {
                throw new IllegalArgumentException("FullNAT port range " + snatPortMin + "-" + snatPortMax
                        + " is not within 1-65535");
            }
        }

        public static Limits defaults() {
            return new Limits(4093, 4096, 1024, 65536, 61000, 65535);
        }

        /** These limits with room for at most {@code backends} backends (ids 1..backends). */
        public Limits withMaxBackends(int backends) {
            return new Limits(tableSize, maxListeners, maxGroups, Math.min(backends + 1, maxBackends), snatPortMin,
                    snatPortMax);
        }
    }

    /** What the applier needs to know about this host. */
    public interface Host {
        /** The interface's addresses, or null when there is no such interface. */
        List<InetAddress> addresses(String interfaceName);

        /** The interfaces of this process's network namespace. */
        static Host system() {
            return name -> {
                try {
                    java.net.NetworkInterface nic = java.net.NetworkInterface.getByName(name);
                    return nic == null ? null : nic.inetAddresses().toList();
                } catch (java.net.SocketException e) {
                    throw new SnapshotRejectedException("cannot read interface " + name + ": " + e.getMessage());
                }
            };
        }
    }

    /** Ids that must survive from one snapshot to the next. */
    static final class Ids {
        final IdAllocator listeners;
        final IdAllocator groups;
        final IdAllocator backends;

        Ids(Limits limits) {
            listeners = new IdAllocator("listener", limits.maxListeners());
            groups = new IdAllocator("target group", limits.maxGroups());
            backends = new IdAllocator("backend", limits.maxBackends());
        }

        private Ids(IdAllocator l, IdAllocator g, IdAllocator b) {
            listeners = l;
            groups = g;
            backends = b;
        }

        Ids copy() {
            return new Ids(listeners.copy(), groups.copy(), backends.copy());
        }

        /**
         * As {@code kind.name=id} entries, for the state file, and {@code next.kind=id}: where
         * each allocator goes on, so an id freed just before a restart is not handed out at once.
         */
        Map<String, String> toEntries() {
            Map<String, String> out = new java.util.TreeMap<>();
            listeners.assigned().forEach((n, id) -> out.put("listener." + n, id.toString()));
            groups.assigned().forEach((n, id) -> out.put("group." + n, id.toString()));
            backends.assigned().forEach((n, id) -> out.put("backend." + n, id.toString()));
            out.put("next.listener", Integer.toString(listeners.cursor()));
            out.put("next.group", Integer.toString(groups.cursor()));
            out.put("next.backend", Integer.toString(backends.cursor()));
            return out;
        }

        /** The ids of {@link #toEntries}; entries of another kind are ignored. */
        static Ids fromEntries(Limits limits, Map<String, String> entries) {
            Ids ids = new Ids(limits);
            entries.forEach((key, id) -> {
                int dot = key.indexOf('.');
                String kind = dot < 0 ? "" : key.substring(0, dot);
                String name = key.substring(dot + 1);
                if (kind.equals("next")) {
                    IdAllocator allocator = of(ids, name);
                    if (allocator != null) {
                        allocator.resumeAt(Integer.parseInt(id));
                    }
                    return;
                }
                IdAllocator allocator = of(ids, kind);
                if (allocator != null) {
                    allocator.assign(name, Integer.parseInt(id));
                }
            });
            return ids;
        }

        private static IdAllocator of(Ids ids, String kind) {
            return switch (kind) {
                case "listener" -> ids.listeners;
                case "group" -> ids.groups;
                case "backend" -> ids.backends;
                default -> null;
            };
        }

        /** Reserves every id {@code programmed} uses that no name owns (see {@link IdAllocator#reserve}). */
        void reserveProgrammed(DesiredState programmed) {
            programmed.listeners().values().forEach(l -> listeners.reserve(l.id()));
            programmed.timeouts().keySet().forEach(listeners::reserve);
            programmed.rateLimits().keySet().forEach(listeners::reserve);
            programmed.groups().keySet().forEach(groups::reserve);
            programmed.backends().keySet().forEach(backends::reserve);
        }

        void releaseUnnamed() {
            listeners.releaseUnnamed();
            groups.releaseUnnamed();
            backends.releaseUnnamed();
        }
    }

    /** Equal content, tables compared by value (a record compares arrays by identity). */
    public boolean sameAs(DesiredState other) {
        if (!sameAsWithoutTables(other) || !tables.keySet().equals(other.tables.keySet())) {
            return false;
        }
        return tables.entrySet().stream().allMatch(e -> java.util.Arrays.equals(e.getValue(), other.tables.get(e.getKey())));
    }

    /** Equal content in everything but the lookup tables. */
    public boolean sameAsWithoutTables(DesiredState other) {
        return listeners.equals(other.listeners) && routes.equals(other.routes) && timeouts.equals(other.timeouts)
                && rateLimits.equals(other.rateLimits)
                && groups.equals(other.groups) && backends.equals(other.backends)
                && ingressPorts.equals(other.ingressPorts) && egressPorts.equals(other.egressPorts)
                && interfaces.equals(other.interfaces);
    }

    /** This state with other lookup tables. */
    public DesiredState withTables(Map<Integer, int[]> otherTables) {
        return new DesiredState(listeners, routes, timeouts, rateLimits, groups, otherTables, backends, ingressPorts, egressPorts,
                interfaces, streams);
    }

    /** This state with another ingress filter. */
    public DesiredState withIngressPorts(PortFilter otherIngress) {
        return new DesiredState(listeners, routes, timeouts, rateLimits, groups, tables, backends, otherIngress,
                egressPorts, interfaces, streams);
    }

    /**
     * Translates a snapshot. Ids are taken from {@code ids}, which the caller
     * commits only once the state is programmed.
     *
     * @throws SnapshotRejectedException naming the listener or group and the reason
     */
    static DesiredState of(NodeSnapshot snapshot, Host host, Limits limits, Ids ids) {
        return of(snapshot, host, limits, ids, new TableCache());
    }

    /**
     * Maglev tables already built, by group name and members: planning the same groups again
     * (the saved snapshot checked at a restart, then the first snapshot; one snapshot after
     * another) builds only the tables whose members changed. Keeps what the last plan used.
     */
    static final class TableCache {
        private Map<String, int[]> previous = Map.of();
        private Map<String, int[]> current = new HashMap<>();

        int[] table(String key, java.util.function.Supplier<int[]> build) {
            int[] table = previous.get(key);
            if (table == null) {
                table = current.get(key);
            }
            if (table == null) {
                table = build.get();
            }
            current.put(key, table);
            return table;
        }

        /** Forgets the tables the plan just made did not use. */
        void planDone() {
            previous = current;
            current = new HashMap<>();
        }
    }

    static DesiredState of(NodeSnapshot snapshot, Host uncached, Limits limits, Ids ids, TableCache cache) {
        // Each interface is looked up once per plan: a lookup lists every interface of the host.
        Map<String, List<InetAddress>> addressesOf = new HashMap<>();
        Host host = name -> addressesOf.computeIfAbsent(name, uncached::addresses);
        Map<String, TargetGroup> groupsByName = new LinkedHashMap<>();
        for (TargetGroup g : snapshot.getTargetGroupsList()) {
            if (groupsByName.put(g.getName(), g) != null) {
                throw new SnapshotRejectedException("target group " + g.getName() + " appears twice");
            }
        }

        Map<Integer, Abi.Group> groups = new LinkedHashMap<>();
        Map<Integer, int[]> tables = new LinkedHashMap<>();
        Map<Integer, Abi.Backend> backends = new LinkedHashMap<>();
        PortFilter egress = new PortFilter();
        Set<String> liveGroups = new HashSet<>();
        Set<String> liveBackends = new HashSet<>();
        // Backend ids first, for every backend of every group, so tables can point at them.
        Map<String, Integer> backendIds = new HashMap<>();
        for (TargetGroup g : groupsByName.values()) {
            String where = "target group " + g.getName();
            for (Backend b : g.getBackendsList()) {
                InetAddress address = address(b.getAddress().toByteArray(), where + " backend");
                if (b.getPort() < 1 || b.getPort() > 65535) {
                    throw new SnapshotRejectedException(
                            where + " backend " + address.getHostAddress() + ": port " + b.getPort()
                                    + " is outside 1-65535");
                }
                String key = backendKey(address, b.getPort());
                int id = ids.backends.idFor(key);
                liveBackends.add(key);
                backendIds.put(key, id);
                backends.merge(id, backend(address, b.getPort(), g, where), DesiredState::stricter);
                egress.add(b.getPort());
            }
        }
        // A group gets one table per address family a listener needs: a VIP is translated
        // only to backends of its own family.
        Map<String, Integer> groupIds = new HashMap<>();
        java.util.function.BiFunction<TargetGroup, InetAddress, Integer> groupFor = (g, vip) -> {
            String family = vip instanceof Inet4Address ? "ipv4" : "ipv6";
            String name = g.getName() + "/" + family;
            return groupIds.computeIfAbsent(name, n -> {
                int groupId = ids.groups.idFor(n);
                liveGroups.add(n);
                List<Target> active = new ArrayList<>();
                List<Target> fallback = new ArrayList<>();
                for (Backend b : g.getBackendsList()) {
                    InetAddress address = address(b.getAddress().toByteArray(), "");
                    if (!sameFamily(address, vip) || b.getWeight() == 0) {
                        continue;
                    }
                    Target t = new Target(backendKey(address, b.getPort()), b.getWeight());
                    if (b.getState() == BackendState.ACTIVE) {
                        active.add(t);
                    } else if (b.getState() == BackendState.FALLBACK) {
                        fallback.add(t);
                    }
                }
                // KEP-1669: serving-but-terminating endpoints take new flows only when nothing is ready.
                List<Target> members = active.isEmpty() ? fallback : active;
                int[] table;
                if (members.isEmpty()) {
                    table = new int[limits.tableSize()];
                } else {
                    int[] memberIds = members.stream().mapToInt(m -> backendIds.get(m.key())).toArray();
                    StringBuilder key = new StringBuilder(n).append('/').append(limits.tableSize());
                    for (int i = 0; i < members.size(); i++) {
                        key.append(' ').append(members.get(i).key()).append('*').append(members.get(i).weight())
                                .append('=').append(memberIds[i]);
                    }
                    table = cache.table(key.toString(),
                            () -> MaglevTable.build(members, limits.tableSize()).slots(memberIds));
                }
                groups.put(groupId, new Abi.Group(g.getAlgorithm() == Algorithm.SOURCE_IP ? Abi.GROUP_PERSIST_SOURCE : 0,
                        members.size()));
                tables.put(groupId, table);
                return groupId;
            });
        };

        Map<Abi.ListenerKey, Abi.Listener> listeners = new LinkedHashMap<>();
        Map<Abi.RouteKey, Integer> routes = new LinkedHashMap<>();
        Map<Integer, Abi.Timeouts> timeouts = new LinkedHashMap<>();
        Map<Integer, Abi.RateLimit> rateLimits = new LinkedHashMap<>();
        PortFilter ingress = new PortFilter();
        Set<String> interfaces = new TreeSet<>();
        Set<String> liveListeners = new HashSet<>();
        Map<String, StreamListener> streams = new LinkedHashMap<>();
        Set<Abi.ListenerKey> streamEndpoints = new HashSet<>();
        Map<InetAddress, IcmpEcho> echoes = new LinkedHashMap<>();
        boolean anyFullNat = false;

        for (Listener l : snapshot.getListenersList()) {
            String where = "listener " + l.getName();
            if (l.getInterfacesCount() == 0) {
                throw new SnapshotRejectedException(where + ": no interfaces to attach to");
            }
            List<InetAddress> interfaceAddresses = new ArrayList<>();
            for (String ifname : l.getInterfacesList()) {
                List<InetAddress> addrs = host.addresses(ifname);
                if (addrs == null) {
                    throw new SnapshotRejectedException(where + ": interface " + ifname + " does not exist on this node");
                }
                interfaces.add(ifname);
                interfaceAddresses.addAll(addrs);
            }
            if (l.getPort() < 1 || l.getPort() > 65535) {
                throw new SnapshotRejectedException(where + ": port " + l.getPort() + " is outside 1-65535");
            }
            int protocol = switch (l.getProtocol()) {
                case TCP -> Abi.IPPROTO_TCP;
                case UDP -> Abi.IPPROTO_UDP;
                default -> throw new SnapshotRejectedException(where + ": protocol must be TCP or UDP");
            };
            TargetGroup defaultGroup = groupsByName.get(l.getTargetGroup());
            if (defaultGroup == null) {
                throw new SnapshotRejectedException(
                        where + ": target group " + l.getTargetGroup() + " is not in the snapshot");
            }
            List<InetAddress> vips = l.getAddress().isEmpty()
                    ? interfaceAddresses
                    : List.of(address(l.getAddress().toByteArray(), where + " address"));
            if (!l.getAddress().isEmpty()) { // an address-less listener's are the node's own: the stack's
                echo(l, vips, echoes, where);
            }
            if (l.getSniRoutesCount() > 0 || l.getProxyProtocol() != ProxyProtocol.PROXY_PROTOCOL_NONE) {
                if (protocol != Abi.IPPROTO_TCP) {
                    throw new SnapshotRejectedException(where + ": SNI routes and the PROXY protocol are for TCP only");
                }
                if (l.hasRateLimit() || l.getSourceRoutesCount() > 0) {
                    throw new SnapshotRejectedException(where + ": a stream listener (SNI routes, PROXY protocol) takes"
                            + " no rate limit and no source routes");
                }
                for (InetAddress vip : vips) {
                    if (vip.isLinkLocalAddress()) {
                        continue; // an fe80:: address is bound per interface; clients use the others
                    }
                    Map<String, GroupRef> sni = new LinkedHashMap<>();
                    for (io.nodelb.dataplane.v1alpha1.SniRoute r : l.getSniRoutesList()) {
                        TargetGroup routed = groupsByName.get(r.getTargetGroup());
                        if (routed == null) {
                            throw new SnapshotRejectedException(
                                    where + ": SNI route target group " + r.getTargetGroup() + " is not in the snapshot");
                        }
                        GroupRef ref = new GroupRef(routed.getName(), groupFor.apply(routed, vip));
                        r.getServerNamesList().forEach(name -> sni.put(name, ref));
                    }
                    int version = switch (l.getProxyProtocol()) {
                        case PROXY_PROTOCOL_V1 -> 1;
                        case PROXY_PROTOCOL_V2 -> 2;
                        default -> 0;
                    };
                    String streamName = l.getName() + "@" + vip.getHostAddress();
                    liveListeners.add(streamName);
                    if (!streamEndpoints.add(new Abi.ListenerKey(vip, l.getPort(), protocol))) {
                        throw new SnapshotRejectedException(where + ": " + vip.getHostAddress() + " port " + l.getPort()
                                + " is already taken by another listener");
                    }
                    streams.put(streamName, new StreamListener(l.getName(), vip, l.getPort(),
                            new GroupRef(defaultGroup.getName(), groupFor.apply(defaultGroup, vip)), Map.copyOf(sni), version,
                            ids.listeners.idFor(streamName), l.getNatMode() == NatMode.FULL_NAT,
                            !l.getFlowEventsDisabled(), timeouts(l.getIdleTimeouts()).establishedNs()));
                }
                continue;
            }
            boolean fullNat = l.getNatMode() == NatMode.FULL_NAT;
            anyFullNat |= fullNat;
            Abi.Timeouts idle = timeouts(l.getIdleTimeouts());
            Abi.RateLimit rateLimit = l.hasRateLimit() ? rateLimit(l.getRateLimit(), where) : null;
            for (InetAddress vip : vips) {
                String listenerName = l.getName() + "@" + vip.getHostAddress();
                int listenerId = ids.listeners.idFor(listenerName);
                liveListeners.add(listenerName);
                InetAddress snat = fullNat ? snatAddress(l, vip, interfaceAddresses, where) : null;
                for (SourceRoute r : l.getSourceRoutesList()) {
                    TargetGroup routed = groupsByName.get(r.getTargetGroup());
                    if (routed == null) {
                        throw new SnapshotRejectedException(
                                where + ": source route target group " + r.getTargetGroup() + " is not in the snapshot");
                    }
                    InetAddress prefix = address(r.getPrefix().toByteArray(), where + " source route");
                    if (sameFamily(prefix, vip)) {
                        routes.put(new Abi.RouteKey(listenerId, prefix, checkedPrefix(prefix, r.getPrefixLength(), where)),
                                groupFor.apply(routed, vip));
                    }
                }
                boolean hasRoutes = l.getSourceRoutesList().stream()
                        .anyMatch(r -> sameFamily(address(r.getPrefix().toByteArray(), where), vip));
                Abi.ListenerKey key = new Abi.ListenerKey(vip, l.getPort(), protocol);
                int flags = (fullNat ? Abi.LISTENER_FULLNAT : 0) | (hasRoutes ? Abi.LISTENER_HAS_ROUTES : 0)
                        | (l.getFlowEventsDisabled() ? 0 : Abi.LISTENER_EVENTS)
                        | (rateLimit != null ? rateLimit.listenerFlags() : 0);
                Abi.Listener entry = new Abi.Listener(listenerId, groupFor.apply(defaultGroup, vip), flags,
                        fullNat ? limits.snatPortMin() : 0, fullNat ? limits.snatPortMax() : 0, snat);
                if (streamEndpoints.contains(key) || listeners.put(key, entry) != null) {
                    throw new SnapshotRejectedException(where + ": " + vip.getHostAddress() + " port " + l.getPort()
                            + " is already taken by another listener");
                }
                if (!idle.equals(Abi.Timeouts.DEFAULTS)) {
                    timeouts.put(listenerId, idle);
                }
                if (rateLimit != null) {
                    rateLimits.put(listenerId, rateLimit);
                }
                ingress.add(l.getPort());
            }
        }
        if (anyFullNat) {
            ingress.addRange(limits.snatPortMin(), limits.snatPortMax());
        }
        echoEntries(echoes, listeners); // port 0 and ICMP: never a listener's key
        ingress.addAddresses(listeners);
        cache.planDone();
        ids.listeners.retainOnly(liveListeners);
        ids.groups.retainOnly(liveGroups);
        ids.backends.retainOnly(liveBackends);
        for (Abi.ListenerKey key : streamEndpoints) {
            if (listeners.containsKey(key)) {
                throw new SnapshotRejectedException("listener on " + key.address().getHostAddress() + " port " + key.port()
                        + " is already taken by another listener (a stream listener)");
            }
        }
        return new DesiredState(listeners, routes, timeouts, rateLimits, groups, tables, backends, ingress, egress,
                interfaces, Map.copyOf(streams));
    }

    /**
     * Records the ICMP echo setting of a listener's address (bpf/README.md, "ICMP echo"), Pass
     * included: listeners that share an address must ask for the same (the compiler makes them).
     */
    private static void echo(Listener l, List<InetAddress> vips, Map<InetAddress, IcmpEcho> echoes, String where) {
        if (l.getIcmpEcho() == IcmpEcho.UNRECOGNIZED) {
            throw new SnapshotRejectedException(where + ": unknown ICMP echo setting " + l.getIcmpEchoValue());
        }
        for (InetAddress vip : vips) {
            IcmpEcho before = echoes.putIfAbsent(vip, l.getIcmpEcho());
            if (before != null && before != l.getIcmpEcho()) {
                throw new SnapshotRejectedException(where + ": ICMP echo to " + vip.getHostAddress() + " is "
                        + l.getIcmpEcho() + " here but " + before + " on another listener of that address");
            }
        }
    }

    /** How many listener entries (per address) are programmed, the VIPs' echo entries left out. */
    public long listenerCount() {
        return listeners.keySet().stream().filter(k -> !k.isEcho()).count();
    }

    /** The nlb_listeners entries of the addresses whose echo requests XDP answers or drops (none for Pass). */
    private static void echoEntries(Map<InetAddress, IcmpEcho> echoes, Map<Abi.ListenerKey, Abi.Listener> listeners) {
        echoes.forEach((vip, echo) -> {
            int flags = switch (echo) {
                case ICMP_ECHO_REPLY -> Abi.LISTENER_ECHO_REPLY;
                case ICMP_ECHO_DROP -> Abi.LISTENER_ECHO_DROP;
                default -> 0;
            };
            if (flags != 0) {
                listeners.put(Abi.ListenerKey.echo(vip), new Abi.Listener(0, 0, flags, 0, 0, null));
            }
        });
    }

    /** A backend of group g, with the group's backend rate limit if it has one. */
    private static Abi.Backend backend(InetAddress address, int port, TargetGroup g, String where) {
        if (!g.hasBackendRateLimit()) {
            return new Abi.Backend(address, port);
        }
        try {
            return new Abi.Backend(address, port, g.getBackendRateLimit().getNewConnectionsPerSecond(),
                    g.getBackendRateLimit().getBurst());
        } catch (IllegalArgumentException e) {
            throw new SnapshotRejectedException(where + ": " + e.getMessage());
        }
    }

    /**
     * One backend (address and port) in several groups has one id and one bucket: the strictest of their
     * limits (the lower rate and burst; any limit over none), as the limit guards the backend itself.
     */
    private static Abi.Backend stricter(Abi.Backend a, Abi.Backend b) {
        if (a.rate() == 0 || b.rate() == 0) {
            return a.rate() == 0 ? b : a;
        }
        return new Abi.Backend(a.address(), a.port(), Math.min(a.rate(), b.rate()), Math.min(a.burst(), b.burst()));
    }

    /** The listener's rate limit, checked against what the data plane can hold. */
    private static Abi.RateLimit rateLimit(io.nodelb.dataplane.v1alpha1.RateLimit r, String where) {
        try {
            return new Abi.RateLimit(r.getNewConnectionsPerSecond(), r.getBurst(), r.getSourcePrefixLength(),
                    r.getSourcePrefixLengthV6(), r.getPacketsPerSecond(), r.getPacketBurst());
        } catch (IllegalArgumentException e) {
            throw new SnapshotRejectedException(where + ": " + e.getMessage());
        }
    }

    /** The listener's idle timeouts in nanoseconds; 0 (unset) keeps the data plane's default. */
    private static Abi.Timeouts timeouts(IdleTimeouts t) {
        return new Abi.Timeouts(
                TimeUnit.SECONDS.toNanos(Integer.toUnsignedLong(t.getTcpEstablishedSeconds())),
                TimeUnit.SECONDS.toNanos(Integer.toUnsignedLong(t.getTcpClosingSeconds())),
                TimeUnit.SECONDS.toNanos(Integer.toUnsignedLong(t.getUdpSeconds())));
    }

    /** How a backend is named in ids, metrics and logs: {@code 10.0.0.2:8080} or {@code [fd00::2]:8080}. */
    public static String backendKey(InetAddress address, int port) {
        return address instanceof Inet4Address
                ? address.getHostAddress() + ":" + port
                : "[" + IpLiterals.format(address) + "]:" + port;
    }

    private static InetAddress snatAddress(Listener l, InetAddress vip, List<InetAddress> candidates, String where) {
        if (!l.getSnatAddress().isEmpty()) {
            InetAddress snat = address(l.getSnatAddress().toByteArray(), where + " snatAddress");
            if (!sameFamily(snat, vip)) {
                throw new SnapshotRejectedException(where + ": snatAddress " + snat.getHostAddress()
                        + " is not of the same family as " + vip.getHostAddress());
            }
            return snat;
        }
        // Prefer an address of another interface than the VIP's own: the one facing the backends.
        return candidates.stream()
                .filter(a -> sameFamily(a, vip) && !a.equals(vip) && !a.isLinkLocalAddress())
                .reduce((first, second) -> second)
                .orElseThrow(() -> new SnapshotRejectedException(where + ": FullNAT needs a source address of the "
                        + (vip instanceof Inet4Address ? "IPv4" : "IPv6")
                        + " family on its interfaces, or an explicit snatAddress"));
    }

    private static int checkedPrefix(InetAddress prefix, int length, String where) {
        int bits = prefix.getAddress().length * 8;
        if (length < 0 || length > bits) {
            throw new SnapshotRejectedException(where + ": prefix length " + length + " is outside 0-" + bits);
        }
        byte[] b = prefix.getAddress();
        for (int i = length; i < bits; i++) {
            if ((b[i / 8] & (0x80 >>> (i % 8))) != 0) {
                throw new SnapshotRejectedException(where + ": source route " + prefix.getHostAddress() + "/" + length
                        + " has bits set past the prefix length");
            }
        }
        return length;
    }

    static boolean sameFamily(InetAddress a, InetAddress b) {
        return (a instanceof Inet4Address) == (b instanceof Inet4Address);
    }

    private static InetAddress address(byte[] bytes, String where) {
        if (bytes.length != 4 && bytes.length != 16) {
            throw new SnapshotRejectedException(where + ": an address must be 4 or 16 bytes, got " + bytes.length);
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new SnapshotRejectedException(where + ": " + e.getMessage());
        }
    }
}
