#!/usr/bin/env bash
# TLS SNI routing in the lab, same run, same backends: nodelb's stream listener (the agent
# accepts, reads the ClientHello, connects) relaying in user space (relay, the default) or
# splicing the sockets with sockmap (splice, --stream-splice), against HAProxy (2 threads, TCP
# mode, routing by req_ssl_sni, bound to the VIP on the node's lo). MODES picks and orders them
# (default: "relay splice haproxy", each once per round); mode base is the relay of another build,
# BASE=<checkout with a packaged agent> (to measure a change against its parent in one run); mode
# haproxy-xdp is HAProxy with nodelb's XDP and TC programs attached to the node's interfaces (what
# the data plane costs the traffic it passes, as under the relay). INTERFACES (default "n0, n1") is
# where nodelb attaches in both: "n0", the client's side only, is enough for stream listeners and
# DNAT (FullNAT replies need the backends' side too), and keeps the backends' TSO, which an XDP
# program on a veth turns off on its peer (bpf/README.md, "Frames of several buffers"). The backends are nginx
# terminating TLS on :8443 in be1..be3; wrk in the client namespace connects to
# https://api.example.com/ (the name resolves to the VIP there, and is the SNI wrk sends).
#
#   bench-sni.sh [--conns LIST] [--duration S] [--rounds N] [--warmup S] [--timeline]
#
# Per mode and concurrency: keep-alive requests/s of a small answer, MB/s of a 1 MiB download
# (keep-alive), and new connections/s (one request per connection: a TLS handshake each) with the
# proxy process's CPU time per new connection (user/system µs, /proc/<pid>/stat); then
# each nodelb point as a ratio to HAProxy's of the same round and concurrency. Before its first point,
# each way gets --warmup seconds (default 2, 0: none) of each of the three loads, not counted: the
# agent's JIT compiles its paths then, not in the first measured seconds.
# --timeline: during each new-connection point, tcpdump captures the client's side and the proxy's
# connections to the backends, and sni-timeline.py pairs them by ClientHello and prints where a
# connection's time goes (the steps the proxy adds, in ms: median, 90th, 99th percentile).
# Everything it creates (lab namespaces, pins, /etc/netns/<client>) is removed at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=agent.sh
source "$top/deploy/lab/agent.sh"

CONNS=(8 64); DURATION=5; ROUNDS=1; WARMUP=2; TIMELINE=0; INTERFACES=${INTERFACES:-n0, n1}
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) IFS=, read -r -a CONNS <<<"$2"; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --timeline) TIMELINE=1; shift ;;
    *) echo "usage: bench-sni.sh [--conns LIST] [--duration S] [--rounds N] [--warmup S] [--timeline]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench-sni: run as root" >&2; exit 1; }

id="sni$(printf '%04x' $((RANDOM % 65536)))"
VIP=10.1.1.1
node="nlb-$id-node"; client="nlb-$id-client"
pin_dir="/sys/fs/bpf/nodelb-lab-$id"
work=$(mktemp -d /tmp/nodelb-bench-sni.XXXXXX)
chmod 755 "$work" # nginx's workers (www-data) read the download
agent_pid=""; haproxy_pid=""; nginx_started=0

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
}
cleanup() {
  [ -z "$agent_pid" ] || stop_pid "$agent_pid"
  [ -z "$haproxy_pid" ] || stop_pid "$haproxy_pid"
  "$top/deploy/lab/lab.sh" down "$id" >/dev/null 2>&1 || true
  rm -rf "/etc/netns/$client" "$work"
}
trap cleanup EXIT

"$top/deploy/lab/lab.sh" up "$id" 3 >/dev/null
mkdir -p "/etc/netns/$client"
echo "$VIP api.example.com" >"/etc/netns/$client/hosts"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=api.example.com \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
head -c 1048576 /dev/urandom >"$work/1m.bin"
chmod 644 "$work/1m.bin"
for k in 1 2 3; do
  mkdir -p "$work/be$k"
  cat >"$work/be$k/nginx.conf" <<EOF
worker_processes 1;
pid $work/be$k/nginx.pid;
error_log $work/be$k/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/be$k/body;
  proxy_temp_path $work/be$k/proxy;
  fastcgi_temp_path $work/be$k/fastcgi;
  uwsgi_temp_path $work/be$k/uwsgi;
  scgi_temp_path $work/be$k/scgi;
  server {
    listen 8443 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    location / { default_type text/plain; return 200 "be$k\n"; }
    location = /1m { alias $work/1m.bin; }
  }
}
EOF
  ip netns exec "nlb-$id-be$k" nginx -c "$work/be$k/nginx.conf" -e "$work/be$k/error.log"
done

# The proxy's CPU time so far (all its threads), user and system, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12, $13}'; }
tick_us=$((1000000 / $(getconf CLK_TCK)))

# One point: wrk's requests/s and transfer/s, and the proxy's (PID $proxy_pid) CPU per request
# in µs, user/system, from /proc/<pid>/stat around it.
measure() {
  local conns=$1 path=$2; shift 2
  local out u0 s0 u1 s1 captures=()
  if [ "$TIMELINE" = 1 ] && [ "$*" = "-H Connection: close" ]; then
    # 96 bytes a frame: the headers and the ClientHello's first bytes, enough to pair the sides.
    ip netns exec "$client" timeout $((DURATION + 10)) tcpdump -i c0 -nn -s 96 -c 500000 -w "$work/client.pcap" 'tcp port 443' 2>/dev/null & captures+=($!)
    ip netns exec "$node" timeout $((DURATION + 10)) tcpdump -i n1 -nn -s 96 -c 500000 -w "$work/backend.pcap" 'tcp port 8443' 2>/dev/null & captures+=($!)
    sleep 1
  fi
  read -r u0 s0 <<<"$(cpu_ticks "$proxy_pid")"
  out=$(timeout -k 5 $((DURATION + 30)) ip netns exec "$client" wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 2s "$@" \
    "https://api.example.com$path") || { echo "$out" >&2; return 1; }
  read -r u1 s1 <<<"$(cpu_ticks "$proxy_pid")"
  if [ ${#captures[@]} -gt 0 ]; then
    kill -INT "${captures[@]}" 2>/dev/null || true; wait "${captures[@]}" 2>/dev/null || true
    echo "timeline: $mode, $conns connections" >&2
    python3 "$top/deploy/lab/sni-timeline.py" "$work/client.pcap" "$work/backend.pcap" >&2 || true
  fi
  local rps mbs errors requests cpu
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  mbs=$(awk '/^Transfer\/sec:/ {v=$2; if (v ~ /GB$/) v=v*1024; else if (v ~ /KB$/) v=v/1024; else v=v+0; printf "%.1f", v}' <<<"$out")
  requests=$(awk '/ requests in / {print $1}' <<<"$out")
  cpu=$(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$requests" -v t="$tick_us" \
    'BEGIN { if (n > 0) printf "%.0f/%.0f", u * t / n, s * t / n; else print "-" }')
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  echo "$rps $mbs $cpu ${errors:-none}"
}

# Not measured: the same loads, to warm a way up.
warm() {
  local path=$1; shift
  timeout -k 5 $((WARMUP + 30)) ip netns exec "$client" wrk -t2 -c"${CONNS[-1]}" -d"${WARMUP}s" --timeout 2s "$@" \
    "https://api.example.com$path" >/dev/null 2>&1 || true
}

setup_relay() { setup_nodelb; }
setup_base() { [ -x "${BASE:-}/bin/nodelb-agent" ] || { echo "mode base needs BASE=<checkout>" >&2; return 1; }
  NODELB_AGENT="$BASE/bin/nodelb-agent"; setup_nodelb; unset NODELB_AGENT; }
teardown_base() { teardown_nodelb; }
setup_splice() { setup_nodelb --stream-splice; }
teardown_relay() { teardown_nodelb; }
teardown_splice() { teardown_nodelb; }

# The agent's configuration: the three backends as group api, then the LoadBalancer on stdin.
write_config() {
  { cat <<EOF
apiVersion: nodelb.io/v1alpha1
kind: TargetGroup
metadata: {name: api}
spec:
  backends:
  - {address: 10.1.2.11, port: 8443}
  - {address: 10.1.2.12, port: 8443}
  - {address: 10.1.2.13, port: 8443}
---
EOF
    cat; } >"$work/nodelb.yaml"
}

setup_nodelb() {
  write_config <<EOF
apiVersion: nodelb.io/v1alpha1
kind: LoadBalancer
metadata: {name: sni}
spec:
  interfaces: [$INTERFACES]
  listeners:
  - name: tls
    address: $VIP
    port: 443
    targetGroup: api
    tls: {sniRoutes: [{serverNames: [api.example.com], targetGroup: api}]}
EOF
  start_agent "$node" "$work/nodelb.yaml" "$pin_dir" "$work/agent.log" "$@"
  local i
  for i in $(seq 1 50); do ip netns exec "$node" ss -Htln "sport = :443" | grep -q 443 && return 0; sleep 0.1; done
  echo "the agent did not listen on $VIP:443" >&2; return 1
}
teardown_nodelb() { stop_pid "$agent_pid"; agent_pid=""; rm -rf "$pin_dir"; ip -n "$node" link set n0 xdp off 2>/dev/null || true; ip -n "$node" link set n1 xdp off 2>/dev/null || true; ip -n "$node" addr del "$VIP/32" dev lo 2>/dev/null || true; }

setup_haproxy() {
  ip -n "$node" addr add "$VIP/32" dev lo
  cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend tls
  bind $VIP:443
  tcp-request inspect-delay 5s
  tcp-request content accept if { req_ssl_hello_type 1 }
  use_backend api if { req_ssl_sni -i api.example.com }
  default_backend api
backend api
  balance roundrobin
  server be1 10.1.2.11:8443
  server be2 10.1.2.12:8443
  server be3 10.1.2.13:8443
EOF
  ip netns exec "$node" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  local i
  for i in $(seq 1 50); do ip netns exec "$node" ss -Htln "sport = :443" | grep -q 443 && return 0; sleep 0.1; done
  cat "$work/haproxy.log" >&2; echo "haproxy did not listen" >&2; return 1
}
teardown_haproxy() { stop_pid "$haproxy_pid"; haproxy_pid=""; ip -n "$node" addr del "$VIP/32" dev lo 2>/dev/null || true; }

# HAProxy on a node where nodelb's data plane runs too (XDP on n0 and n1, TC egress), as it does
# under the relay: an agent with one plain L4 listener on another port, so every packet of the SNI
# traffic passes through the programs (and a veth with an XDP program receives in NAPI mode).
setup_haproxy-xdp() {
  write_config <<EOF
apiVersion: nodelb.io/v1alpha1
kind: LoadBalancer
metadata: {name: l4}
spec:
  interfaces: [$INTERFACES]
  listeners:
  - {name: other, address: $VIP, port: 8444, targetGroup: api}
EOF
  start_agent "$node" "$work/nodelb.yaml" "$pin_dir" "$work/agent.log"
  local i
  for i in $(seq 1 100); do ip -n "$node" link show n0 | grep -q xdp && break; sleep 0.1; done
  ip -n "$node" link show n0 | grep -q xdp || { echo "the agent did not attach to n0" >&2; return 1; }
  setup_haproxy
}
teardown_haproxy-xdp() { teardown_haproxy; teardown_nodelb; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); nodelb attaches to: $INTERFACES"
echo "| round | mode | conns | keep-alive req/s | 1 MiB downloads MB/s | new connections/s | proxy CPU µs per new connection (user/sys) | errors |"
echo "|---|---|---|---|---|---|---|---|"
results="$work/results"
for round in $(seq 1 "$ROUNDS"); do
  for mode in ${MODES:-relay splice haproxy}; do
    "setup_$mode"
    proxy_pid=${haproxy_pid:-$agent_pid}
    timeout 20 ip netns exec "$client" curl -sk -o /dev/null "https://api.example.com/" || { echo "$mode: no answer" >&2; exit 1; }
    if [ -n "${PROBE:-}" ]; then
      for i in 1 2 3 4 5; do
        ip netns exec "$client" curl -sk -o /dev/null -w "$mode connect %{time_connect} tls %{time_appconnect} total %{time_total}\n" "https://api.example.com/" >&2
      done
    fi
    if [ "$WARMUP" -gt 0 ]; then
      warm /; warm /1m; warm / -H 'Connection: close'
    fi
    for c in "${CONNS[@]}"; do
      read -r ka _ _ e1 <<<"$(measure "$c" /)"
      read -r _ mb _ e2 <<<"$(measure "$c" /1m)"
      read -r nc _ nccpu e3 <<<"$(measure "$c" / -H 'Connection: close')"
      echo "| $round | $mode | $c | $ka | $mb | $nc | $nccpu | ${e1} ${e2} ${e3} |"
      echo "$round $mode $c $ka $mb $nc" >>"$results"
    done
    if [ "$mode" != haproxy ] && grep -qi "relay in user space" "$work/agent.log"; then
      grep -i "relay in user space" "$work/agent.log" >&2
    fi
    "teardown_$mode"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Ratios to HAProxy of the same round and concurrency.
echo
echo "| round | mode | conns | keep-alive req/s (ratio to HAProxy) | 1 MiB MB/s (ratio) | new connections/s (ratio) |"
echo "|---|---|---|---|---|---|"
awk '$2 == "haproxy" { ka[$1 " " $3] = $4; mb[$1 " " $3] = $5; nc[$1 " " $3] = $6 }
     $2 != "haproxy" { rows[++n] = $0 }
     END { for (i = 1; i <= n; i++) { split(rows[i], f, " "); k = f[1] " " f[3]
             if (ka[k] > 0 && mb[k] > 0 && nc[k] > 0)
               printf "| %s | %s | %s | %.2f | %.2f | %.2f |\n", f[1], f[2], f[3], f[4] / ka[k], f[5] / mb[k], f[6] / nc[k] } }' "$results"
