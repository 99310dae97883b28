#!/usr/bin/env bash
# The nodelb demo: builds a lab (a client, a node, three backends), runs the agent
# on the node from a YAML file, sends real TCP connections and UDP datagrams from
# the client to the VIPs, and prints what each backend answered. Everything it
# creates is removed at the end, also after a failure or Ctrl-C.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
lab="$top/deploy/lab/lab.sh"
# shellcheck source=agent.sh
source "$top/deploy/lab/agent.sh"
CONNECTIONS=${CONNECTIONS:-600}
DATAGRAMS=${DATAGRAMS:-120}

id=d$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n' | cut -c1-6)
work=$(mktemp -d)
agent_pid=""
cleanup() {
  set +e
  if [ -n "$agent_pid" ]; then
    kill -TERM "$agent_pid" 2>/dev/null
    wait "$agent_pid" 2>/dev/null
  fi
  "$lab" down "$id"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$lab" up "$id" 3 >/dev/null
"$lab" servers "$id"
client="nlb-$id-client" node="nlb-$id-node"

cat >"$work/lab.yaml" <<'YAML'
apiVersion: nodelb.io/v1alpha1
kind: TargetGroup
metadata: {name: web}
spec:
  backends:
  - {address: 10.1.2.11, port: 8080, weight: 3}
  - {address: 10.1.2.12, port: 8080, weight: 2}
  - {address: 10.1.2.13, port: 8080, weight: 1}
  - {address: "fd00:1:2::11", port: 8080, weight: 3}
  - {address: "fd00:1:2::12", port: 8080, weight: 2}
  - {address: "fd00:1:2::13", port: 8080, weight: 1}
---
apiVersion: nodelb.io/v1alpha1
kind: TargetGroup
metadata: {name: echo}
spec:
  backends:
  - {address: 10.1.2.11, port: 9000, weight: 1}
  - {address: 10.1.2.12, port: 9000, weight: 1}
  - {address: 10.1.2.13, port: 9000, weight: 1}
---
apiVersion: nodelb.io/v1alpha1
kind: LoadBalancer
metadata: {name: web}
spec:
  interfaces: [n0, n1]
  natMode: DNAT
  listeners:
  - {name: http, address: 10.1.1.1, port: 80, protocol: TCP, targetGroup: web}
  - {name: http6, address: "fd00:1:1::1", port: 80, protocol: TCP, targetGroup: web}
  - {name: echo, address: 10.1.1.1, port: 9000, protocol: UDP, targetGroup: echo}
YAML

echo "== agent: bin/nodelb-agent standalone --config lab.yaml (in the node namespace)"
start_agent "$node" "$work/lab.yaml" "/sys/fs/bpf/nodelb-lab-$id" "$work/agent.log" --metrics-port 9400 \
  || { echo "demo: the agent could not start" >&2; exit 1; }
sed 's/^/   /' "$work/agent.log"

# One new TCP connection per request: curl closes after each answer.
http_round() {
  local url=$1 n=$2
  ip netns exec "$client" bash -c "for i in \$(seq 1 $n); do echo $url; done" \
    | ip netns exec "$client" xargs -P 8 -n 25 curl -s -m 5 -H 'Connection: close' 2>/dev/null
}
# One datagram per socat (a new source port each), 8 at a time: each waits up to 1 s for its answer.
udp_round() {
  local n=$1
  seq 1 "$n" | ip netns exec "$client" xargs -P 8 -I{} \
    sh -c 'echo ping | socat -t 1 - UDP4:10.1.1.1:9000 2>/dev/null || true'
}

report() {
  local title=$1 answers=$2 weights=$3
  local total
  total=$(grep -c . "$answers" || true)
  echo
  echo "== $title: $total answers"
  printf '   %-8s %6s %9s %8s %9s\n' backend weight answered share expected
  local wsum=0 w
  for w in $weights; do wsum=$((wsum + w)); done
  local k=1
  for w in $weights; do
    local got
    got=$(grep -c "^be$k\$" "$answers" || true)
    awk -v b="be$k" -v w="$w" -v g="$got" -v t="$total" -v s="$wsum" \
      'BEGIN { printf "   %-8s %6d %9d %7.1f%% %8.1f%%\n", b, w, g, (t ? 100 * g / t : 0), 100 * w / s }'
    k=$((k + 1))
  done
}

http_round "http://10.1.1.1/" "$CONNECTIONS" >"$work/http4"
report "TCP over IPv4: $CONNECTIONS connections to http://10.1.1.1/" "$work/http4" "3 2 1"
http_round "http://[fd00:1:1::1]/" "$CONNECTIONS" >"$work/http6"
report "TCP over IPv6: $CONNECTIONS connections to http://[fd00:1:1::1]/" "$work/http6" "3 2 1"
echo
echo "== UDP: sending $DATAGRAMS datagrams, 8 at a time (about $(( (DATAGRAMS + 7) / 8 )) s) ..."
udp_round "$DATAGRAMS" >"$work/udp"
report "UDP: $DATAGRAMS datagrams (each from a new port) to 10.1.1.1:9000" "$work/udp" "1 1 1"
echo
echo "== the data plane's own counters (the agent's Prometheus metrics, :9400/metrics on the node)"
ip netns exec "$node" curl -s -m 5 http://127.0.0.1:9400/metrics >"$work/metrics" || true
printf '   %-28s %10s %10s %14s\n' backend "new flows" packets "reply packets"
for b in 10.1.2.11:8080 10.1.2.12:8080 10.1.2.13:8080 '[fd00:1:2::11]:8080' \
         '[fd00:1:2::12]:8080' '[fd00:1:2::13]:8080' 10.1.2.11:9000 10.1.2.12:9000 10.1.2.13:9000; do
  metric() { awk -v m="$1" -v b="backend=\"$b\"" 'index($0, m "{") == 1 && index($0, b) { printf "%d", $NF }' "$work/metrics"; }
  printf '   %-28s %10s %10s %14s\n' "$b" "$(metric nodelb_backend_new_flows_total)" \
    "$(metric nodelb_backend_packets_total)" "$(metric nodelb_backend_reply_packets_total)"
done
echo
echo "Replies came from the VIPs: the client only ever talked to 10.1.1.1 and fd00:1:1::1."
echo "Cleaning up lab $id."
