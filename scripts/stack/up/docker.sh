# shellcheck shell=bash
# Phase of up.sh: the Docker engine. Ours (no bridge, no iptables) unless one already answers and
# KUBE_SHIP_OWN_DOCKER is not 1; sets DOCKER_HOST_VALUE and exports DOCKER_HOST for the phases after it.
docker_answers() { DOCKER_HOST="$1" "$DOCKER_CLI" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if pid_of dockerd >/dev/null; then
  DOCKER_HOST_VALUE="unix://$STATE/docker.sock"
  wait_for dockerd 60 docker_answers "$DOCKER_HOST_VALUE"
elif [[ "${KUBE_SHIP_OWN_DOCKER:-0}" != 1 ]] && [[ "${DOCKER_HOST:-}" != "unix://$STATE/docker.sock" ]] \
    && docker_answers "${DOCKER_HOST:-unix:///var/run/docker.sock}"; then
  DOCKER_HOST_VALUE="${DOCKER_HOST:-unix:///var/run/docker.sock}"
  echo "$DOCKER_HOST_VALUE" >"$STATE/docker.reused"
  say "reusing the Docker engine at $DOCKER_HOST_VALUE"
else
  rm -f "$STATE/docker.reused" "$STATE/docker.sock"
  mkdir -p "$DOCKER_DATA_ROOT" "$DOCKER_EXEC_ROOT"
  DOCKER_HOST_VALUE="unix://$STATE/docker.sock"
  start dockerd /usr/sbin/dockerd --host "$DOCKER_HOST_VALUE" --data-root "$DOCKER_DATA_ROOT" \
    --exec-root "$DOCKER_EXEC_ROOT" --pidfile "$RUN/dockerd.daemon.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --userland-proxy=false --log-level=warn
  echo "$DOCKER_DATA_ROOT" >"$STATE/docker.data-root"
  echo "$DOCKER_EXEC_ROOT" >"$STATE/docker.exec-root"
  wait_for dockerd 60 docker_answers "$DOCKER_HOST_VALUE"
fi
# dockerd runs its own containerd as a child; record it so that down.sh can stop a leftover one.
if dpid="$(pid_of dockerd)"; then
  cpid="$(ps -o pid= --ppid "$dpid" | tr -d ' ' | head -n1)"
  if [[ -n "$cpid" ]] && tr '\0' ' ' <"/proc/$cpid/cmdline" | grep -q containerd; then
    printf '%s\n%s\n' "$cpid" "$DOCKER_EXEC_ROOT" >"$RUN/containerd.pid"
  fi
fi
export DOCKER_HOST="$DOCKER_HOST_VALUE"
