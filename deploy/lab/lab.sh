#!/usr/bin/env bash
# The nodelb lab: a client, a node and backends, each in its own network
# namespace, joined by veth pairs. Everything a run creates carries its id in
# its name, so two runs never collide, and `down` removes all of it.
#
#   lab.sh up ID [BACKENDS] [NODES]
#                             build the topology (default 3 backends, 1 node; 2 nodes
#                             for the cluster tests)
#   lab.sh servers ID         start nginx in every backend (HTTP :8080, UDP :9000 and :9001)
#   lab.sh down ID            stop what runs inside, delete namespaces and pins
#   lab.sh list               ids of labs that exist
#
#            client                 node                     lan (bridge)        beK
#   c0 10.1.0.2/24 ──── n0 10.1.0.1/24   n1 10.1.2.1/24 ──── br0 ──────── eth0 10.1.2.(10+K)/24
#      10.1.0.3 (2nd source)                                                      VIP on lo for the ECMP baseline
#   IPv6: fd00:1:0::/64 client side, fd00:1:2::/64 backend side
#   VIPs (routed to the node): 10.1.1.1 and fd00:1:1::1
#
# With NODES=2 a second node (nlb-ID-node2) stands beside the first, in front of
# the same backends, with interfaces of the same names:
#   c1 10.1.3.2/24 ──── n0 10.1.3.1/24 (node2)   n1 10.1.2.2/24 ──── br0
#   IPv6: fd00:1:3::/64; the client sends what it sends from 10.1.3.x through node2
#   (a source rule), and backends route 10.1.3.0/24 back through node2.
#
# The node forwards; nodelb attaches XDP to n0 and n1 and TC egress to n0. The node's
# peers (c0, c1, up0, up1) have GRO on so they take frames XDP redirects to them.
# Backends route the client side through the node (DNAT replies must), unless
# the caller removes that route to prove FullNAT.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "$0")" && pwd)
RUN_DIR=${NODELB_LAB_RUN_DIR:-/run/nodelb-lab}

ns() { echo "nlb-$1-$2"; }
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

die() { echo "lab: $*" >&2; exit 1; }

check_id() {
  [[ "$1" =~ ^[a-z0-9]{1,8}$ ]] || die "id must be 1-8 lower-case letters or digits, got '$1'"
}

# Turn off what makes veth hand over partial checksums or super-packets: XDP
# sees frames as a NIC would deliver them (full checksums, at most one MTU).
plain_frames() {
  in_ns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

# The peer of a node interface: GRO on, so the veth runs NAPI and takes frames the node's XDP
# redirects into it (the fast path); without XDP or GRO on the peer, veth drops them, and the
# kernel says so in the node interface's XDP features (no ndo-xmit), which the agent checks.
redirect_peer() {
  in_ns "$1" ethtool -K "$2" gro on >/dev/null 2>&1 || true
}

sysctl_ns() { in_ns "$1" sysctl -qw "$2" >/dev/null; }

# A node namespace: forwarding on, checksums as a NIC would hand them over.
node_up() {
  local node=$1
  sysctl_ns "$node" net.ipv4.ip_forward=1
  sysctl_ns "$node" net.ipv6.conf.all.forwarding=1
  sysctl_ns "$node" net.ipv4.conf.all.rp_filter=0
  sysctl_ns "$node" net.ipv4.conf.default.rp_filter=0
  plain_frames "$node" n0
  plain_frames "$node" n1
}

# The second node: its own link to the client, its own leg on the backends' bridge.
second_node() {
  local id=$1 backends=$2 client node2 lan k
  client=$(ns "$id" client) node2=$(ns "$id" node2) lan=$(ns "$id" lan)
  ip netns add "$node2"
  in_ns "$node2" ip link set lo up
  sysctl_ns "$node2" net.ipv6.conf.all.accept_dad=0
  sysctl_ns "$node2" net.ipv6.conf.default.accept_dad=0
  ip link add c1 netns "$client" type veth peer name n0 netns "$node2"
  in_ns "$client" ip addr add 10.1.3.2/24 dev c1
  in_ns "$client" ip -6 addr add fd00:1:3::2/64 dev c1 nodad
  in_ns "$client" ip link set c1 up
  in_ns "$client" ip rule add from 10.1.3.0/24 table 102
  in_ns "$client" ip route add default via 10.1.3.1 table 102
  in_ns "$client" ip -6 rule add from fd00:1:3::/64 table 102
  in_ns "$client" ip -6 route add default via fd00:1:3::1 table 102
  plain_frames "$client" c1
  redirect_peer "$client" c1
  ip link add n1 netns "$node2" type veth peer name up1 netns "$lan"
  in_ns "$node2" ip addr add 10.1.3.1/24 dev n0
  in_ns "$node2" ip -6 addr add fd00:1:3::1/64 dev n0 nodad
  in_ns "$node2" ip addr add 10.1.2.2/24 dev n1
  in_ns "$node2" ip -6 addr add fd00:1:2::2/64 dev n1 nodad
  in_ns "$node2" ip link set n0 up
  in_ns "$node2" ip link set n1 up
  node_up "$node2"
  in_ns "$lan" ip link set up1 master br0
  in_ns "$lan" ip link set up1 up
  plain_frames "$lan" up1
  redirect_peer "$lan" up1
  for k in $(seq 1 "$backends"); do
    in_ns "$(ns "$id" "be$k")" ip route add 10.1.3.0/24 via 10.1.2.2
    in_ns "$(ns "$id" "be$k")" ip -6 route add fd00:1:3::/64 via fd00:1:2::2
    in_ns "$node2" ping -c1 -W1 "10.1.2.$((10 + k))" >/dev/null 2>&1 || true
    in_ns "$node2" ping -6 -c1 -W1 "fd00:1:2::$((10 + k))" >/dev/null 2>&1 || true
  done
  in_ns "$client" ping -c1 -W1 10.1.3.1 >/dev/null 2>&1 || true
  in_ns "$client" ping -6 -c1 -W1 fd00:1:3::1 >/dev/null 2>&1 || true
}

up() {
  local id=$1 backends=${2:-3} nodes=${3:-1}
  check_id "$id"
  [[ "$backends" =~ ^[1-9]$ ]] || die "backends must be 1-9"
  [[ "$nodes" =~ ^[12]$ ]] || die "nodes must be 1 or 2"
  ip netns list | grep -q "^$(ns "$id" node)\b" && die "lab $id already exists"
  local client node lan
  client=$(ns "$id" client) node=$(ns "$id" node) lan=$(ns "$id" lan)
  for n in "$client" "$node" "$lan"; do ip netns add "$n"; done
  for n in "$client" "$node" "$lan"; do
    in_ns "$n" ip link set lo up
    sysctl_ns "$n" net.ipv6.conf.all.accept_dad=0
    sysctl_ns "$n" net.ipv6.conf.default.accept_dad=0
  done

  # client <-> node
  ip link add c0 netns "$client" type veth peer name n0 netns "$node"
  in_ns "$client" ip addr add 10.1.0.2/24 dev c0
  in_ns "$client" ip addr add 10.1.0.3/24 dev c0
  in_ns "$client" ip -6 addr add fd00:1:0::2/64 dev c0 nodad
  in_ns "$client" ip -6 addr add fd00:1:0::3/64 dev c0 nodad
  in_ns "$client" ip link set c0 up
  in_ns "$client" ip route add default via 10.1.0.1
  in_ns "$client" ip -6 route add default via fd00:1:0::1
  plain_frames "$client" c0
  redirect_peer "$client" c0

  # node <-> lan bridge
  ip link add n1 netns "$node" type veth peer name up0 netns "$lan"
  in_ns "$node" ip addr add 10.1.0.1/24 dev n0
  in_ns "$node" ip -6 addr add fd00:1:0::1/64 dev n0 nodad
  in_ns "$node" ip addr add 10.1.2.1/24 dev n1
  in_ns "$node" ip -6 addr add fd00:1:2::1/64 dev n1 nodad
  in_ns "$node" ip link set n0 up
  in_ns "$node" ip link set n1 up
  node_up "$node"

  in_ns "$lan" ip link add br0 type bridge
  in_ns "$lan" ip link set up0 master br0
  in_ns "$lan" ip link set up0 up
  in_ns "$lan" ip link set br0 up
  plain_frames "$lan" up0
  redirect_peer "$lan" up0

  local k
  for k in $(seq 1 "$backends"); do
    local be
    be=$(ns "$id" "be$k")
    ip netns add "$be"
    in_ns "$be" ip link set lo up
    sysctl_ns "$be" net.ipv6.conf.all.accept_dad=0
    ip link add eth0 netns "$be" type veth peer name "p$k" netns "$lan"
    in_ns "$lan" ip link set "p$k" master br0
    in_ns "$lan" ip link set "p$k" up
    plain_frames "$lan" "p$k"
    in_ns "$be" ip addr add "10.1.2.$((10 + k))/24" dev eth0
    in_ns "$be" ip -6 addr add "fd00:1:2::$((10 + k))/64" dev eth0 nodad
    in_ns "$be" ip link set eth0 up
    in_ns "$be" ip route add 10.1.0.0/24 via 10.1.2.1
    in_ns "$be" ip -6 route add fd00:1:0::/64 via fd00:1:2::1
    # The ECMP baseline delivers the VIP itself to the backends.
    in_ns "$be" ip addr add 10.1.1.1/32 dev lo
    in_ns "$be" ip -6 addr add fd00:1:1::1/128 dev lo
    plain_frames "$be" eth0
  done
  # Resolve neighbours once so the first measured packets do not wait for ARP/ND.
  for k in $(seq 1 "$backends"); do
    in_ns "$node" ping -c1 -W1 "10.1.2.$((10 + k))" >/dev/null 2>&1 || true
    in_ns "$node" ping -6 -c1 -W1 "fd00:1:2::$((10 + k))" >/dev/null 2>&1 || true
  done
  in_ns "$client" ping -c1 -W1 10.1.0.1 >/dev/null 2>&1 || true
  in_ns "$client" ping -6 -c1 -W1 fd00:1:0::1 >/dev/null 2>&1 || true
  if [ "$nodes" -eq 2 ]; then
    second_node "$id" "$backends"
  fi
  mkdir -p "$RUN_DIR/$id"
  echo "$backends" >"$RUN_DIR/$id/backends"
  echo "lab $id: client $(ns "$id" client), $nodes node(s) $(ns "$id" node)$([ "$nodes" -eq 2 ] && echo " $(ns "$id" node2)"), $backends backends"
}

servers() {
  local id=$1 k backends
  check_id "$id"
  backends=$(cat "$RUN_DIR/$id/backends" 2>/dev/null) || die "lab $id is not up"
  for k in $(seq 1 "$backends"); do
    local dir="$RUN_DIR/$id/be$k"
    mkdir -p "$dir"
    sed -e "s|@NAME@|be$k|g" -e "s|@DIR@|$dir|g" "$LAB_DIR/backend-nginx.conf" >"$dir/nginx.conf"
    in_ns "$(ns "$id" "be$k")" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
  done
  # Wait until every backend answers on its own address (bounded).
  for k in $(seq 1 "$backends"); do
    local tries=0
    until in_ns "$(ns "$id" node)" curl -s -m 1 -o /dev/null "http://10.1.2.$((10 + k)):8080/"; do
      tries=$((tries + 1))
      [ "$tries" -lt 50 ] || die "backend be$k did not start (see $RUN_DIR/$id/be$k/error.log)"
      sleep 0.1
    done
  done
}

down() {
  local id=$1 n pid
  check_id "$id"
  for n in $(ip netns list | awk '{print $1}' | grep "^nlb-$id-" || true); do
    # Everything running inside a namespace of this lab was started by this lab.
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  sleep 0.2
  for n in $(ip netns list | awk '{print $1}' | grep "^nlb-$id-" || true); do
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$n"
  done
  rm -rf "/sys/fs/bpf/nodelb-lab-$id" "/sys/fs/bpf/nodelb-lab-$id-node2" "$RUN_DIR/$id"
}

list() {
  ip netns list | awk '{print $1}' | sed -n 's/^nlb-\([a-z0-9]*\)-node$/\1/p'
}

[ "$(id -u)" -eq 0 ] || die "run as root"
cmd=${1:-}
shift || true
case "$cmd" in
  up) up "$@" ;;
  servers) servers "$@" ;;
  down) down "$@" ;;
  list) list ;;
  *) die "usage: lab.sh up ID [BACKENDS] [NODES] | servers ID | down ID | list" ;;
esac
