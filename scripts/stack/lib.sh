# Shared helpers of up.sh and down.sh (sourced, not run).
STACK_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STACK_REPO="$(git -C "$STACK_SCRIPTS" rev-parse --show-toplevel 2>/dev/null || (cd "$STACK_SCRIPTS/../.." && pwd))"
STATE="${KUBE_SHIP_STACK_DIR:-$STACK_REPO/.stack}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
RUN="$STATE/run"
LOGS="$STATE/logs"

say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# A pid file holds the PID on line 1 and, on line 2, a string that the process's command line contains
# (default: the state directory), so that a reused PID is never mistaken for a stack process.
# pid_of NAME: prints the PID recorded for NAME if that process is alive and still ours.
pid_of() {
  local f="$RUN/$1.pid" pid marker
  [[ -s "$f" ]] || return 1
  pid="$(sed -n 1p "$f")"
  marker="$(sed -n 2p "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "${marker:-$STATE}" || return 1
  echo "$pid"
}

# stop_one NAME [GRACE_SECONDS]: TERM, wait, then KILL the process recorded for NAME.
stop_one() {
  local name="$1" grace="${2:-10}" pid i
  if pid="$(pid_of "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name ($pid) did not stop after ${grace}s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    say "stopped $name ($pid)"
  fi
  rm -f "$RUN/$name.pid"
}

# stop_all GRACE NAME...: TERM all of them at once, wait up to GRACE seconds for all, then KILL the rest.
stop_all() {
  local grace="$1" i n pid; shift
  local -a names=() pids=()
  for n in "$@"; do
    if pid="$(pid_of "$n")"; then
      kill -TERM "$pid" 2>/dev/null || true
      names+=("$n"); pids+=("$pid")
    fi
    rm -f "$RUN/$n.pid"
  done
  for ((i = 0; i < grace * 10; i++)); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      say "${names[$i]} (${pids[$i]}) did not stop after ${grace}s, sending KILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
    say "stopped ${names[$i]} (${pids[$i]})"
  done
}

# Order in which up.sh starts things; down.sh stops them in reverse.
STACK_COMPONENTS=(containerd dockerd registry-5000 registry-5001 etcd kube-apiserver kube-controller-manager
  kube-scheduler kwok pod-app toxiproxy prometheus)
