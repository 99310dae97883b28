# Sourced by demo.sh and bench.sh: runs the packaged agent in a lab's node.
#
#   start_agent NODE_NS CONFIG PIN_DIR LOG [more agent options]
#
# Starts `bin/nodelb-agent standalone` (or the launcher in NODELB_AGENT, e.g. another
# checkout's, to compare two builds in one run) inside the node's network namespace, sets
# agent_pid, and returns once the agent says "programmed version". Returns 1, with
# the agent's output on stderr, when it stops before that or takes over 60 s; the
# caller's cleanup stops it.
start_agent() {
  local node=$1 config=$2 pin_dir=$3 log=$4 tries
  shift 4
  local top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  # Not ip netns exec: it remounts /sys, and the agent must see the real bpffs.
  # nsenter and bin/nodelb-agent both exec, so $! is the JVM's PID.
  # The agent's state (saved ids, the node's original sysctls) lives in the lab's run
  # directory, which lab.sh down removes with the pins.
  local state="${NODELB_LAB_RUN_DIR:-/run/nodelb-lab}/${pin_dir##*/nodelb-lab-}/agent-state"
  nsenter --net="/run/netns/$node" "${NODELB_AGENT:-$top/bin/nodelb-agent}" standalone --config "$config" \
    --pin-path "$pin_dir" --state-dir "$state" "$@" >"$log" 2>&1 &
  agent_pid=$!
  for tries in $(seq 1 300); do
    grep -q "programmed version" "$log" && return 0
    if ! kill -0 "$agent_pid" 2>/dev/null; then
      sed 's/^/  agent: /' "$log" >&2
      echo "the agent stopped before programming the data plane: $(tail -n1 "$log")" >&2
      return 1
    fi
    sleep 0.2
  done
  sed 's/^/  agent: /' "$log" >&2
  echo "the agent did not program the data plane in 60 s" >&2
  return 1
}
