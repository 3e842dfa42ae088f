#!/usr/bin/env bash
# Kills one part of the running stack by its recorded PID (SIGKILL: a crash, not a clean stop) and starts it again
# with up.sh, for fault tests: `bash scripts/stack/restart.sh kube-apiserver` (or etcd, kwok, registry-5000, ...).
# Optional second argument: seconds to stay down before starting again (default 0).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
name="${1:?usage: restart.sh NAME [SECONDS_DOWN]}"
down="${2:-0}"
[[ " ${STACK_COMPONENTS[*]} " == *" $name "* ]] || die "unknown stack part: $name (one of: ${STACK_COMPONENTS[*]})"
pid="$(pid_of "$name")" || die "$name is not running"
kill -KILL "$pid"
for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
rm -f "$RUN/$name.pid"
say "killed $name ($pid)"
sleep "$down"
KUBE_SHIP_SKIP_INSTALL=1 bash "$STACK_SCRIPTS/up.sh" >/dev/null
say "$name started again"
