#!/usr/bin/env bash
# The nodelb lab throughput benchmark. One lab (a client, a node, three nginx
# backends), one run, several ways of getting the client's HTTP requests to the
# backends through the node; wrk in the client namespace measures each way:
#
#   direct    straight to be1 (10.1.2.11:8080), routed by the node: no balancing
#   ecmp      the node routes the VIP 10.1.1.1 over the three backends (multipath
#             route, L4 hash); the backends hold the VIP on lo. Target VIP:8080.
#   ecmp-xdp  ecmp with an XDP program that only returns XDP_PASS on n0 and n1:
#             what attaching XDP to the lab's veths costs by itself
#   ecmp-tc   ecmp with a tc ingress program that only returns TC_ACT_OK on n0 and n1
#             (clsact, direct action): what the tc hook would cost instead
#   iptables  kube-proxy style DNAT in the node (nat PREROUTING, statistic random)
#   nftables  kube-proxy's nftables mode shape: numgen random picks an endpoint chain
#             (vmap), each doing DNAT
#   ipvs      kube-proxy's IPVS mode shape: the VIP on the node's lo, an IPVS virtual
#             server (round robin) with the backends in NAT (masquerade) mode; needs
#             a kernel with IP_VS
#   haproxy   HAProxy 2 threads, TCP mode, roundrobin, bound to the VIP on the node
#   nodelb    the nodelb agent (standalone, DNAT, XDP on n0 and n1); translated packets
#             leave from XDP (the fast path, --xdp-forward=auto: the lab's node peers
#             have GRO on, so both node interfaces take redirects)
#   nodelb-stack  nodelb with --xdp-forward=off: translated packets go up the node's
#             stack, which forwards them (the path before the fast path)
#
# Each way is measured with keep-alive (requests/s) and with one request per
# connection (wrk -H 'Connection: close': new connections/s) at each
# concurrency, with the CPU time the whole machine spent per request.
#
#   bench.sh [--modes LIST] [--conns LIST] [--metrics LIST] [--duration S]
#            [--warmup S] [--threads N] [--rounds N] [--pin] [--out FILE]
#
#   --modes    default direct,ecmp,ecmp-xdp,iptables,nftables,haproxy,nodelb (and ipvs
#              where the kernel has IP_VS)
#   --conns    wrk connections per point, default 8,64,256
#   --metrics  keepalive,close (default both)
#   --duration measured seconds per point (default 5), --warmup seconds before (1)
#   --rounds   repeat all modes N times, interleaved (each round starts one mode
#              later); the report shows medians
#   --pin      wrk on CPU 0, everything else in the lab (nginx, HAProxy, the agent)
#              on CPU 1: less scheduling noise between points (needs 2 CPUs or more)
#   --profile  also record a kernel+user CPU profile (perf, all CPUs) of every
#              measured run: perf.data files and a summary next to the report.
#              perf costs CPU itself: figures from a profiled run are not comparable.
#
# Results: a markdown report on stdout and in target/bench/lab-<time>.md, the raw
# wrk output next to it (.log). Everything the run creates is removed at the end,
# also after a failure or Ctrl-C. Exit status: 0 all points valid, 1 a mode could
# not run, 2 a point had more errors than allowed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
lab="$top/deploy/lab/lab.sh"
# shellcheck source=agent.sh
source "$top/deploy/lab/agent.sh"

MODES=direct,ecmp,ecmp-xdp,iptables,nftables,haproxy,nodelb
CONNS=8,64,256
METRICS=keepalive,close
DURATION=5
WARMUP=1
THREADS=2
ROUNDS=1
PROFILE=0
PIN=0
OUT=""
# A point is invalid when socket errors + non-2xx answers exceed this share of requests.
ERROR_LIMIT_PERMILLE=1
VIP=10.1.1.1
BACKEND_COUNT=3

die() { echo "bench: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --modes) MODES=${2:?}; shift 2 ;;
    --conns) CONNS=${2:?}; shift 2 ;;
    --metrics) METRICS=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --warmup) WARMUP=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --pin) PIN=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "bench: unknown argument '$1'" >&2; usage 1 ;;
  esac
done

[ "$PIN" -eq 0 ] || [ "$(nproc)" -ge 2 ] || die "--pin needs at least 2 CPUs"

all_modes="direct ecmp ecmp-xdp ecmp-tc iptables nftables ipvs haproxy nodelb nodelb-stack"
IFS=, read -r -a modes <<<"$MODES"
IFS=, read -r -a conns <<<"$CONNS"
IFS=, read -r -a metrics <<<"$METRICS"
for m in "${metrics[@]}"; do [[ "$m" == keepalive || "$m" == close ]] || die "unknown metric '$m' (keepalive, close)"; done
[ "${#modes[@]}" -gt 0 ] || die "--modes is empty"
for m in "${modes[@]}"; do
  [[ " $all_modes " == *" $m "* ]] || die "unknown mode '$m' (known: ${all_modes// /,})"
done
for v in DURATION WARMUP THREADS ROUNDS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v,,} must be a whole number, got '${!v}'"
done
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 300 ] || die "--duration must be 1..300 s"
[ "$WARMUP" -le 60 ] || die "--warmup must be 0..60 s"
[ "$THREADS" -ge 1 ] || die "--threads must be at least 1"
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] || die "--rounds must be 1..20"
for c in "${conns[@]}"; do
  [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge "$THREADS" ] && [ "$c" -le 10000 ] \
    || die "each concurrency must be a number from --threads ($THREADS) to 10000, got '$c'"
done

[ "$(id -u)" -eq 0 ] || die "run as root (it builds network namespaces)"
need() { command -v "$1" >/dev/null || die "$1 is missing; install it with: $2"; }
need wrk "apt-get install wrk"
need curl "apt-get install curl"
need nginx "apt-get install nginx-light (or nginx)"
need nsenter "apt-get install util-linux"
has_mode() { [[ ",$MODES," == *",$1,"* ]]; }
# Every netfilter mode is undone by flushing the node's nftables ruleset.
if has_mode iptables || has_mode nftables; then need nft "apt-get install nftables"; fi
has_mode iptables && need iptables "apt-get install iptables"
if has_mode ipvs; then
  need ipvsadm "apt-get install ipvsadm"
  probe="nlb-ipvs-probe-$$"
  ip netns add "$probe"
  ip netns exec "$probe" ipvsadm -Ln >/dev/null 2>&1 && ipvs_ok=1 || ipvs_ok=0
  ip netns del "$probe"
  [ "$ipvs_ok" -eq 1 ] || die "mode ipvs: this kernel has no IPVS (CONFIG_IP_VS); leave ipvs out of --modes"
fi
has_mode haproxy && need haproxy "apt-get install haproxy"
{ has_mode ecmp-xdp || has_mode ecmp-tc; } && need clang "apt-get install clang"
has_mode ecmp-tc && need tc "apt-get install iproute2"
{ has_mode nodelb || has_mode nodelb-stack; } && need bpftool "apt-get install bpftool"
[ "$PROFILE" -eq 0 ] || need perf "apt-get install linux-perf"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT="$top/target/bench/lab-$stamp.md"
mkdir -p "$(dirname "$OUT")"
raw_log="${OUT%.md}.log"
: >"$raw_log"
profile_dir="${OUT%.md}.profile"
[ "$PROFILE" -eq 0 ] || mkdir -p "$profile_dir"

id=b$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
client="nlb-$id-client" node="nlb-$id-node"
pin_dir="/sys/fs/bpf/nodelb-lab-$id"
work=$(mktemp -d)
hz=$(getconf CLK_TCK)

mode_pid=""
cleanup() {
  set +e
  # A mode still running is stopped outright: all it set up lives inside the
  # lab's namespaces and pin directory, which lab.sh down removes below.
  [ -z "$mode_pid" ] || { kill -KILL "$mode_pid"; wait "$mode_pid"; } 2>/dev/null
  # lab.sh down stops everything running inside the lab's namespaces (the agent,
  # haproxy, nginx) and removes the namespaces, which drops every route, rule,
  # address and XDP/TC attachment inside them, and the lab's pins.
  "$lab" down "$id" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_client() { ip netns exec "$client" "$@"; }
in_node() { ip netns exec "$node" "$@"; }

# ---------------------------------------------------------------- measuring

# Inside a mode's subshell: record why the mode stopped, and stop it (its EXIT
# trap tears it down).
current_mode=""
fail() {
  echo "$*" >"$work/status.$current_mode"
  echo "bench: $current_mode: $*" >&2
  exit 1
}

# Busy and total CPU ticks of all CPUs (busy = user+nice+system+irq+softirq+steal).
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }

# CPU ticks used so far by the lab's long-running processes (all that runs in its
# namespaces: nginx, haproxy, the agent) and by the ksoftirqd threads. With tick
# accounting, softirq work done in a process's context (most packet processing
# here) is charged to that process, so this follows the lab's cost and not the
# host's other work.
lab_process_ticks() {
  local n p
  {
    for n in $(ip netns list | awk '{ print $1 }' | grep "^nlb-$id-"); do ip netns pids "$n"; done
    pgrep '^ksoftirqd/' || true
  } | while read -r p; do cat "/proc/$p/stat" 2>/dev/null || true; done \
    | awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }'
}

# One measured point: a warm-up, then wrk with CPU sampled around it.
# Appends "round mode metric conns requests req/s errors host_cpu_us_per_req busy% p99
# background% lab_cpu_us_per_req" to results; background% is how busy the host was
# in an idle second before the point.
measure() {
  local round=$1 mode=$2 metric=$3 c=$4 url=$5
  local -a args=(-t "$THREADS" -c "$c" --timeout 2s) on_cpu0=()
  [ "$metric" = close ] && args+=(-H 'Connection: close')
  [ "$PIN" -eq 1 ] && on_cpu0=(taskset -c 0)
  if [ "$WARMUP" -gt 0 ]; then
    timeout -k 5 $((WARMUP + 20)) ip netns exec "$client" "${on_cpu0[@]}" wrk "${args[@]}" -d "${WARMUP}s" "$url" >/dev/null \
      || fail "wrk warm-up against $url failed or hung"
  fi
  # What the host is busy with while the lab is idle: other work skews the point.
  local before after out background
  before=$(cpu_ticks); sleep 1; after=$(cpu_ticks)
  background=$(awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, " "); split(a, y, " ");
    t = y[2] - x[2]; printf "%.0f", (t ? 100 * (y[1] - x[1]) / t : 0) }')
  local perf_pid="" perf_data="$profile_dir/$mode-$metric-c$c-r$round.perf.data"
  if [ "$PROFILE" -eq 1 ]; then
    timeout -k 5 $((DURATION + 30)) perf record -q -a -g -e cpu-clock -F 499 -o "$perf_data" \
      -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  local lab_before lab_after time_wait
  time_wait=$(in_client ss -Htan state time-wait | wc -l)
  lab_before=$(lab_process_ticks)
  before=$(cpu_ticks)
  # bash's `times` after wrk gives the CPU time wrk used (its last line).
  out=$(timeout -k 5 $((DURATION + 30)) ip netns exec "$client" "${on_cpu0[@]}" \
    bash -c 'wrk "$@"; rc=$?; times; exit $rc' wrk "${args[@]}" --latency -d "${DURATION}s" "$url") \
    || { echo "$out" >&2; fail "wrk against $url failed or hung"; }
  after=$(cpu_ticks)
  lab_after=$(lab_process_ticks)
  [ -z "$perf_pid" ] || { wait "$perf_pid" || true; profile_summary "$perf_data" "$mode $metric c=$c round $round"; }
  { echo "### round $round $mode $metric c=$c $url (client TIME_WAIT sockets before: $time_wait)"; echo "$out"; echo; } >>"$raw_log"
  local line
  line=$(awk -v round="$round" -v mode="$mode" -v metric="$metric" -v c="$c" -v hz="$hz" -v bg="$background" \
    -v before="$before" -v after="$after" -v lab="$((lab_after - lab_before))" '
    /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ { split($1, u, "m"); split($2, k, "m"); wrk_s = 60 * u[1] + u[2] + 60 * k[1] + k[2] }
    /requests in/ { req = $1 }
    /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx/ { err += $5 }
    /^Requests\/sec/ { rps = $2 }
    /^ +99%/ { p99 = $2 }
    END {
      split(before, b, " "); split(after, a, " ")
      busy = a[1] - b[1]; total = a[2] - b[2]
      if (req == "" || rps == "" || req == 0) { print "none"; exit }
      printf "%s %s %s %s %d %.0f %d %.1f %.0f %s %s %.1f\n", round, mode, metric, c, req, rps, err,
        busy * 1e6 / hz / req, (total ? 100 * busy / total : 0), (p99 == "" ? "-" : p99), bg,
        (lab / hz + wrk_s) * 1e6 / req
    }' <<<"$out")
  [ "$line" != none ] || { echo "$out" >&2; fail "could not read wrk's summary"; }
  echo "$line" >>"$work/results"
  read -r _ _ _ _ req rps err cpu busy p99 _ labcpu <<<"$line"
  printf 'bench:   %-8s %-9s c=%-4s %7s req/s  CPU-us/req: lab %6s, host %6s  busy %3s%%  p99 %-8s errors %-3s host busy before %s%%\n' \
    "$mode" "$metric" "$c" "$rps" "$labcpu" "$cpu" "$busy" "$p99" "$err" "$background" >&2
}

# Where the CPU went during one point. Only the lab's commands count (network
# processing runs in softirq in the context of wrk, nginx, haproxy, ksoftirqd or
# the idle task), so other work on the host does not dilute the shares: the
# heaviest symbols by own samples, and the inclusive share of the code paths the
# lab cares about (veth's XDP receive and its copy of skbs, netfilter, BPF).
profile_summary() {
  local data=$1 title=$2 comms="wrk,nginx,haproxy,swapper" cpu
  for cpu in $(seq 0 $(($(nproc) - 1))); do comms+=",ksoftirqd/$cpu"; done
  [ -s "$data" ] || { echo "bench: no profile recorded for $title" >&2; return 0; }
  local -a report=(timeout 120 perf report -i "$data" --stdio --comms "$comms" --percentage relative)
  {
    echo "## profile: $title ($data)"
    echo "samples by command (all commands):"
    timeout 120 perf report -i "$data" --stdio --sort comm -g none 2>/dev/null | grep -E '^ +[0-9.]+%' | sed -n '1,8p' || true
    echo "top symbols of the lab's commands, own samples:"
    "${report[@]}" --no-children --sort sym -g none 2>/dev/null | grep -E '^ +[0-9.]+%' | sed -n '1,25p' || true
    echo "inclusive share of selected paths in the lab's commands (children, self):"
    "${report[@]}" --children --sort sym -g none 2>/dev/null \
      | grep -E '^ +[0-9.]+% +[0-9.]+% .*(skb_pp_cow_data|veth_xdp_rcv|veth_poll|process_backlog|veth_xmit|bpf_prog_|nf_conntrack_in|nf_nat_|nft_do_chain|ip_forward|tcp_v4_rcv|net_rx_action)' \
      | sed -n '1,30p' || true
    echo
  } >>"${OUT%.md}.profile.txt"
}

# 60 one-shot connections to url; every answer must come, and from the expected backends.
verify() {
  local url=$1 expect=$2 answers names
  answers=$(in_client bash -c "for i in \$(seq 1 60); do curl -s -m 2 -H 'Connection: close' '$url' || echo FAIL; done")
  local total failed
  total=$(grep -c . <<<"$answers" || true)
  failed=$(grep -c FAIL <<<"$answers" || true)
  names=$(grep -v FAIL <<<"$answers" | sort -u | tr '\n' ' ')
  [ "$failed" -eq 0 ] && [ "$total" -eq 60 ] || fail "$failed of 60 requests to $url failed (answers: ${names:-none})"
  [ "${names% }" = "$expect" ] || fail "requests to $url reached '${names% }', expected '$expect': not balancing"
}

# ---------------------------------------------------------------- the modes
# setup_X sets url and expect; teardown_X undoes everything setup_X did (and is
# safe to call after a partial setup).

all_backends() { local k s=""; for k in $(seq 1 "$BACKEND_COUNT"); do s+="be$k "; done; echo "${s% }"; }

# direct reaches be1 from the client's second address: the DNAT modes reach be1
# on the same address and port from 10.1.0.2, and be1 keeps their connections in
# TIME_WAIT for 60 s. A new SYN on such a 4-tuple from a socket whose timestamps
# come from another clock (Linux offsets them per address pair) is not accepted
# and waits out a 1 s retransmission: direct right after nodelb or iptables was
# bound by those waits, not by the CPU.
setup_direct() {
  in_client ip route add 10.1.2.0/24 via 10.1.0.1 src 10.1.0.3
  url="http://10.1.2.11:8080/"; expect="be1"
}
teardown_direct() { in_client ip route del 10.1.2.0/24 2>/dev/null || true; }

setup_ecmp() {
  in_node sysctl -qw net.ipv4.fib_multipath_hash_policy=1
  local hops=() k
  for k in $(seq 1 "$BACKEND_COUNT"); do hops+=(nexthop via "10.1.2.$((10 + k))" dev n1); done
  in_node ip route add "$VIP/32" "${hops[@]}"
  url="http://$VIP:8080/"; expect=$(all_backends)
}
teardown_ecmp() {
  in_node ip route del "$VIP/32" 2>/dev/null || true
  in_node sysctl -qw net.ipv4.fib_multipath_hash_policy=0
}

# Builds bpf/src/NAME.bpf.c into $work/NAME.bpf.o.
build_floor() {
  clang -O2 -g -target bpf -Wall -Werror -I"/usr/include/$(uname -m)-linux-gnu" \
    -c "$top/bpf/src/$1.bpf.c" -o "$work/$1.bpf.o" || fail "clang could not build bpf/src/$1.bpf.c"
}

setup_ecmp-xdp() {
  build_floor xdp_pass
  setup_ecmp
  local dev
  for dev in n0 n1; do
    in_node ip link set dev "$dev" xdpdrv obj "$work/xdp_pass.bpf.o" sec xdp.frags || fail "could not attach XDP to $dev"
  done
  { echo "### ecmp-xdp: what is attached in the node"; in_node bpftool net show; echo; } >>"$raw_log"
}
teardown_ecmp-xdp() {
  local dev
  for dev in n0 n1; do in_node ip link set dev "$dev" xdpdrv off 2>/dev/null || true; done
  teardown_ecmp
}

setup_ecmp-tc() {
  build_floor tc_pass
  setup_ecmp
  local dev
  for dev in n0 n1; do
    in_node tc qdisc add dev "$dev" clsact || fail "could not add clsact to $dev"
    in_node tc filter add dev "$dev" ingress bpf direct-action obj "$work/tc_pass.bpf.o" sec tc \
      || fail "could not attach tc ingress to $dev"
  done
  { echo "### ecmp-tc: what is attached in the node"; in_node bpftool net show; echo; } >>"$raw_log"
}
teardown_ecmp-tc() {
  local dev
  for dev in n0 n1; do in_node tc qdisc del dev "$dev" clsact 2>/dev/null || true; done
  teardown_ecmp
}

setup_iptables() {
  # The shape kube-proxy gives a Service: a service chain that picks an endpoint
  # chain at random (1/3, then 1/2 of the rest, then the rest), each doing DNAT.
  local k n=$BACKEND_COUNT
  in_node iptables -w -t nat -N NLB-SVC
  for k in $(seq 1 "$n"); do
    in_node iptables -w -t nat -N "NLB-SEP-$k"
    in_node iptables -w -t nat -A "NLB-SEP-$k" -p tcp -j DNAT --to-destination "10.1.2.$((10 + k)):8080"
    if [ "$k" -lt "$n" ]; then
      in_node iptables -w -t nat -A NLB-SVC -m statistic --mode random \
        --probability "$(awk -v r=$((n - k + 1)) 'BEGIN { printf "%.11f", 1 / r }')" -j "NLB-SEP-$k"
    else
      in_node iptables -w -t nat -A NLB-SVC -j "NLB-SEP-$k"
    fi
  done
  in_node iptables -w -t nat -A PREROUTING -d "$VIP/32" -p tcp --dport 80 -j NLB-SVC
  url="http://$VIP/"; expect=$(all_backends)
}
teardown_iptables() {
  # The node namespace belongs to this run: removing all its tables also
  # unregisters the nat hooks, so conntrack stops tracking for the next mode.
  in_node nft flush ruleset
}

setup_nftables() {
  # As kube-proxy's nftables mode writes a Service: a random number picks an
  # endpoint chain through a verdict map, the endpoint chain does the DNAT.
  local k n=$BACKEND_COUNT picks=""
  {
    echo "table ip nlb {"
    for k in $(seq 1 "$n"); do
      echo "  chain endpoint-$k { meta l4proto tcp dnat to 10.1.2.$((10 + k)):8080; }"
      picks+="$((k - 1)) : goto endpoint-$k, "
    done
    echo "  chain service { numgen random mod $n vmap { ${picks%, } }; }"
    echo "  chain prerouting { type nat hook prerouting priority dstnat; ip daddr $VIP tcp dport 80 goto service; }"
    echo "}"
  } >"$work/nftables.conf"
  in_node nft -f "$work/nftables.conf" || fail "nft could not load $work/nftables.conf"
  url="http://$VIP/"; expect=$(all_backends)
}
teardown_nftables() { in_node nft flush ruleset; }

setup_ipvs() {
  # kube-proxy binds each VIP to a dummy interface so that IPVS sees it as local.
  in_node ip addr add "$VIP/32" dev lo
  in_node ipvsadm -A -t "$VIP:80" -s rr || fail "ipvsadm could not add the virtual server"
  local k
  for k in $(seq 1 "$BACKEND_COUNT"); do
    in_node ipvsadm -a -t "$VIP:80" -r "10.1.2.$((10 + k)):8080" -m || fail "ipvsadm could not add be$k"
  done
  url="http://$VIP/"; expect=$(all_backends)
}
teardown_ipvs() {
  in_node ipvsadm -C 2>/dev/null || true
  in_node ip addr del "$VIP/32" dev lo 2>/dev/null || true
}

haproxy_pid=""
setup_haproxy() {
  in_node ip addr add "$VIP/32" dev lo
  # haproxy needs two descriptors per connection (client and server side): its
  # maxconn is as high as this process's hard descriptor limit allows.
  local hard maxconn c
  hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=1048576
  maxconn=$(( (hard - 1000) / 2 )); [ "$maxconn" -le 60000 ] || maxconn=60000
  for c in "${conns[@]}"; do
    [ "$maxconn" -ge $((2 * c)) ] || fail "the descriptor limit ($hard) leaves haproxy maxconn $maxconn, too few for $c connections"
  done
  local k
  {
    cat <<EOF
global
  nbthread 2
  maxconn $maxconn
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend vip
  bind $VIP:80
  default_backend lab
backend lab
  balance roundrobin
EOF
    for k in $(seq 1 "$BACKEND_COUNT"); do echo "  server be$k 10.1.2.$((10 + k)):8080"; done
  } >"$work/haproxy.cfg"
  # ip netns exec execs haproxy, so $! is haproxy's own PID; -db keeps it in the foreground.
  ip netns exec "$node" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  local tries=0
  until in_node ss -Hltn "src $VIP:80" | grep -q LISTEN; do
    kill -0 "$haproxy_pid" 2>/dev/null || { cat "$work/haproxy.log" >&2; fail "haproxy stopped"; }
    tries=$((tries + 1)); [ "$tries" -lt 50 ] || fail "haproxy did not listen in 5 s"
    sleep 0.1
  done
  url="http://$VIP/"; expect=$(all_backends)
}
teardown_haproxy() {
  if [ -n "$haproxy_pid" ]; then
    stop_pid "$haproxy_pid" TERM 10
    haproxy_pid=""
  fi
  in_node ip addr del "$VIP/32" dev lo 2>/dev/null || true
}

agent_pid=""
nodelb_options=(--xdp-forward auto)
# The agent's metrics in the node's namespace: the report's raw log shows what the XDP fast path did.
nodelb_metrics_port=19391
setup_nodelb-stack() { nodelb_options=(--xdp-forward off); setup_nodelb; }
teardown_nodelb-stack() { teardown_nodelb; nodelb_options=(--xdp-forward auto); }
setup_nodelb() {
  [ -x "$top/bin/nodelb-agent" ] || fail "bin/nodelb-agent is missing"
  local k
  {
    echo "apiVersion: nodelb.io/v1alpha1"
    echo "kind: TargetGroup"
    echo "metadata: {name: web}"
    echo "spec:"
    echo "  backends:"
    for k in $(seq 1 "$BACKEND_COUNT"); do echo "  - {address: 10.1.2.$((10 + k)), port: 8080, weight: 1}"; done
    cat <<EOF
---
apiVersion: nodelb.io/v1alpha1
kind: LoadBalancer
metadata: {name: web}
spec:
  interfaces: [n0, n1]
  natMode: DNAT
  listeners:
  - {name: http, address: $VIP, port: 80, protocol: TCP, targetGroup: web}
EOF
  } >"$work/nodelb.yaml"
  start_agent "$node" "$work/nodelb.yaml" "$pin_dir" "$work/agent.log" --metrics-port "$nodelb_metrics_port" \
    "${nodelb_options[@]}" \
    || fail "the agent did not start (see above)"
  { echo "### nodelb: agent output and what is attached in the node"; cat "$work/agent.log"; in_node bpftool net show; echo; } >>"$raw_log"
  url="http://$VIP/"; expect=$(all_backends)
}
teardown_nodelb() {
  if [ -n "$agent_pid" ]; then
    { echo "### nodelb: XDP fast path at the end (packets by outcome, interfaces marked safe)"
      in_node curl -s -m 3 "http://127.0.0.1:$nodelb_metrics_port/metrics" | grep '^nodelb_xdp_forward' || true
      echo; } >>"$raw_log"
    stop_pid "$agent_pid" TERM 15
    agent_pid=""
    { echo "### nodelb: agent output at the end"; cat "$work/agent.log"; echo; } >>"$raw_log"
  fi
  # SIGTERM leaves the pinned data plane running for a next agent (by design);
  # the benchmark wants it gone: unpinning drops the links, and anything attached
  # the old way (netlink XDP, clsact filters) is removed by hand.
  rm -rf "$pin_dir"
  local dev
  for dev in n0 n1; do
    in_node ip link set dev "$dev" xdp off 2>/dev/null || true
    in_node tc qdisc del dev "$dev" clsact 2>/dev/null || true
  done
}

# Stop a process this script started: the signal, then KILL after a bounded wait.
stop_pid() {
  local pid=$1 sig=$2 wait_s=$3 i
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $((wait_s * 10))); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "bench: PID $pid ignored SIG$sig for ${wait_s} s, killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# After each mode the node must be back to plain forwarding, or every later
# figure would be wrong.
node_is_plain() {
  local problems=""
  [ -z "$(in_node ip route show "$VIP/32")" ] || problems+=" route to $VIP;"
  [ -z "$(in_client ip route show 10.1.2.0/24)" ] || problems+=" the client's route for direct;"
  in_node ip -o addr show dev lo | grep -q " $VIP/" && problems+=" $VIP on lo;"
  [ -z "$(in_node nft list ruleset)" ] || problems+=" nftables rules;"
  ! has_mode ipvs || [ -z "$(in_node ipvsadm -Sn)" ] || problems+=" IPVS services;"
  in_node bpftool net show 2>/dev/null | grep -qE '^(n0|n1)\(' && problems+=" XDP/TC programs on n0/n1;"
  # bpftool 7.1 does not list tcx links; they live only as long as a process
  # holds them or a pin does, and both are checked here.
  [ ! -e "$pin_dir" ] || problems+=" pins under $pin_dir;"
  [ "$(in_node sysctl -n net.ipv4.fib_multipath_hash_policy)" = 0 ] || problems+=" multipath hash policy;"
  [ -z "$(ip netns pids "$node")" ] || problems+=" processes in the node namespace;"
  [ -z "$problems" ] || { echo "bench: after a mode the node still has:$problems" >&2; return 1; }
}


# --pin: every process in the lab's namespaces (nginx, HAProxy, the agent), all
# threads, onto CPU 1; wrk runs on CPU 0.
pin_lab_to_cpu1() {
  local ns pid
  for ns in $(ip netns list | awk -v p="nlb-$id-" 'index($1, p) == 1 { print $1 }'); do
    for pid in $(ip netns pids "$ns"); do
      taskset -a -p -c 1 "$pid" >/dev/null 2>&1 || true # it may have exited meanwhile
    done
  done
}

# One mode, run in a subshell: set up, check it balances, measure every point;
# the EXIT trap tears it down whatever happened.
run_mode() {
  local round=$1 mode=$2 metric c
  current_mode=$mode
  trap "set +e; teardown_$mode" EXIT
  "setup_$mode"
  [ "$PIN" -eq 1 ] && pin_lab_to_cpu1
  verify "$url" "$expect"
  for metric in "${metrics[@]}"; do
    for c in "${conns[@]}"; do measure "$round" "$mode" "$metric" "$c" "$url"; done
  done
}

# ---------------------------------------------------------------- the report

# Median of the numbers on stdin ("" when there are none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# Column $4 (1-based, of: round mode metric conns requests rps errors host-cpu busy p99
# background lab-cpu)
# for one point, median over rounds.
point() { awk -v m="$1" -v t="$2" -v c="$3" -v f="$4" '$2 == m && $3 == t && $4 == c { print $f }' "$work/results" | median; }
point_sum() { awk -v m="$1" -v t="$2" -v c="$3" -v f="$4" '$2 == m && $3 == t && $4 == c { s += $f; n++ } END { if (n) print s }' "$work/results"; }

table_head() {
  local c line="| mode |" rule="|---|"
  for c in "${conns[@]}"; do line+=" c=$c |"; rule+="---:|"; done
  echo "$line"; echo "$rule"
}

# kind: value | cpu | a mode to divide by (direct, ecmp, ecmp-xdp)
metric_table() {
  local metric=$1 kind=$2 mode c
  table_head
  for mode in "${modes[@]}"; do
    if [ -e "$work/status.$mode" ] && [ -z "$(point "$mode" "$metric" "${conns[0]}" 6)" ]; then
      local cells="" i; for i in "${conns[@]}"; do cells+=" – |"; done
      echo "| $mode (not run) |$cells"; continue
    fi
    local line="| $mode |"
    for c in "${conns[@]}"; do
      local v base cell
      v=$(point "$mode" "$metric" "$c" 6)
      if [ -z "$v" ]; then line+=" – |"; continue; fi
      case "$kind" in
        value)
          local err req
          err=$(point_sum "$mode" "$metric" "$c" 7); req=$(point_sum "$mode" "$metric" "$c" 5)
          cell=$(awk -v v="$v" 'BEGIN { printf "%.0f", v }')
          if [ "$err" -gt 0 ]; then
            if [ $((err * 1000)) -gt $((req * ERROR_LIMIT_PERMILLE)) ]; then cell+=" ✗ ($err errors)"; else cell+=" ($err err)"; fi
          fi ;;
        direct|ecmp|ecmp-xdp)
          base=$(point "$kind" "$metric" "$c" 6)
          cell=$([ -n "$base" ] && awk -v v="$v" -v b="$base" 'BEGIN { printf "%.2f", v / b }' || echo –) ;;
        cpu) cell=$(point "$mode" "$metric" "$c" 8) ;;
        labcpu) cell=$(point "$mode" "$metric" "$c" 12) ;;
      esac
      line+=" $cell |"
    done
    echo "$line"
  done
}

report() {
  local metric title
  echo "# nodelb lab throughput, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs shared by everything:" \
    "wrk, the three nginx backends, the node's forwarding and whatever else runs on the host"
  echo "- kernel $(uname -r); $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2);" \
    "$(nginx -v 2>&1 | sed 's/^nginx version: //')$(command -v haproxy >/dev/null && echo "; $(haproxy -v | head -n1 | cut -d' ' -f1-3)")"
  echo "- each point: wrk -t$THREADS --timeout 2s, ${WARMUP} s warm-up then ${DURATION} s measured;" \
    "$ROUNDS round(s), median shown; HTTP GET / answered by nginx with 4 bytes"
  [ "$PIN" -eq 0 ] || echo "- pinned (--pin): wrk on CPU 0; nginx, HAProxy and the agent on CPU 1"
  echo "- CPU per request, two ways: (lab) user+system time of every process in the lab's namespaces" \
    "and of ksoftirqd (/proc/PID/stat) plus wrk's own (bash times); softirq work is charged to the" \
    "process it interrupts, so this is the lab's cost; (whole machine) busy ticks of all CPUs from" \
    "/proc/stat (user+nice+system+irq+softirq+steal), which includes the host's other work"
  echo "- load average (1/5/15 min) before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- host CPU busy in the idle second before each point (other work on the machine):" \
    "$(awk '{ print $11 }' "$work/results" | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "min %s%%, median %s%%, max %s%%", v[1], v[int((NR + 1) / 2)], v[NR] }')"
  echo "- a point marked ✗ had socket errors + non-2xx answers above $ERROR_LIMIT_PERMILLE per mille of its requests"
  for metric in "${metrics[@]}"; do
    if [ "$metric" = keepalive ]; then title="Keep-alive: requests/s"; else title="New connections: connections/s (Connection: close, one request each)"; fi
    echo
    echo "## $title"
    echo
    metric_table "$metric" value
    if has_mode direct; then echo; echo "Ratio to direct:"; echo; metric_table "$metric" direct; fi
    if has_mode ecmp; then echo; echo "Ratio to ecmp:"; echo; metric_table "$metric" ecmp; fi
    if has_mode ecmp-xdp && has_mode nodelb; then
      echo; echo "Ratio to ecmp-xdp (what nodelb's programs cost beyond attaching XDP to these veths):"; echo
      metric_table "$metric" ecmp-xdp
    fi
    echo; echo "CPU-µs per request, the lab's processes (wrk, nginx, haproxy or the agent, ksoftirqd):"; echo
    metric_table "$metric" labcpu
    echo; echo "CPU-µs per request, whole machine (includes the host's other work):"; echo
    metric_table "$metric" cpu
  done
  local mode shown=""
  for mode in "${modes[@]}"; do
    [ -e "$work/status.$mode" ] || continue
    [ -n "$shown" ] || { echo; echo "## Modes that stopped"; echo; shown=1; }
    echo "- $mode: $(cat "$work/status.$mode")"
  done
  echo
  echo "Raw wrk output: $raw_log"
  [ "$PROFILE" -eq 0 ] || echo "CPU profiles: $profile_dir, summary ${OUT%.md}.profile.txt (a profiled run: figures above are skewed by perf)"
}

# ---------------------------------------------------------------- the run

echo "bench: lab $id (3 backends), modes $MODES, concurrency $CONNS, ${DURATION} s per point" >&2
"$lab" up "$id" "$BACKEND_COUNT" >/dev/null
"$lab" servers "$id"
# Many short connections. wrk often closes first, so the client keeps a
# TIME_WAIT socket per connection for 60 s; all modes but direct and ecmp reach
# the same 10.1.1.1:80, so without reuse a mode inherits the previous modes'
# TIME_WAITs, runs out of ports and burns its CPU in connect()'s port search
# (__inet_hash_connect). tcp_tw_reuse=1 lets connect() take over a TIME_WAIT
# port older than 1 s, as any load generator must.
for n in "$client" "$node"; do
  ip netns exec "$n" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
  ip netns exec "$n" sysctl -qw net.ipv4.tcp_tw_reuse=1
done
: >"$work/results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

for round in $(seq 1 "$ROUNDS"); do
  # Each round starts one mode later, so slow drifts of the host's other load
  # do not always fall on the same mode.
  order=()
  for i in "${!modes[@]}"; do order+=("${modes[$(( (i + round - 1) % ${#modes[@]} ))]}"); done
  for mode in "${order[@]}"; do
    [ ! -e "$work/status.$mode" ] || continue
    echo "bench: round $round/$ROUNDS: $mode" >&2
    # In the background so that a signal to this script is handled at once.
    ( set -e; run_mode "$round" "$mode" ) &
    mode_pid=$!
    rc=0; wait "$mode_pid" || rc=$?
    mode_pid=""
    [ "$rc" -eq 0 ] || [ -e "$work/status.$mode" ] || echo "failed (exit $rc, see the messages above)" >"$work/status.$mode"
    node_is_plain || die "a mode left state behind; stopping so later figures are not wrong"
  done
done

report | tee "$OUT"
echo "bench: report written to $OUT" >&2
status=0
for mode in "${modes[@]}"; do [ ! -e "$work/status.$mode" ] || status=1; done
if [ "$status" -eq 0 ] && awk -v lim="$ERROR_LIMIT_PERMILLE" '$7 * 1000 > $5 * lim { bad = 1 } END { exit !bad }' "$work/results"; then
  status=2
fi
exit "$status"
