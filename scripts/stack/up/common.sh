# shellcheck shell=bash
# Settings and helpers of the phases of up.sh (sourced by up.sh after lib.sh, before the phases).
# shellcheck disable=SC2034   # the settings are read by the phases
# shellcheck source-path=SCRIPTDIR/..
source "$STACK_SCRIPTS/versions.sh"

DOCKER_CLI=/usr/bin/docker            # Debian's 20.10 client: BuildKit works with DOCKER_BUILDKIT=1
KUBECTL="$STACK_BIN/kubectl"
ADMIN_KC="$STATE/admin.kubeconfig"
DEPLOYER_KC="$STATE/deployer.kubeconfig"
THROTTLED_KC="$STATE/throttled.kubeconfig"
FAULT_ADMIN_KC="$STATE/fault-admin.kubeconfig"
FAULT_DEPLOYER_KC="$STATE/fault-deployer.kubeconfig"
PKI="$STATE/pki"
NS=kube-ship-e2e
BASE_IMAGE=kube-ship/busybox:latest
APISERVER_PORT=6443
KWOK_PORT=10250
POD_APP_PORT=10260
POD_APP_SOCKET="$RUN/pod-app.sock"   # the API server's egress (a unix socket path: at most 107 bytes)
TOXIPROXY_PORT=8474
FAULT_APISERVER_PORT=16443
FAULT_REGISTRY_PORT=15000
TOXIPROXY_URL="http://127.0.0.1:$TOXIPROXY_PORT"
PROMETHEUS_PORT=9090
FAULT_PROMETHEUS_PORT=19090
PROMETHEUS_URL="http://127.0.0.1:$PROMETHEUS_PORT"
stack_id="$(printf %s "$STATE" | sha256sum | cut -c1-10)"
stack_name="$(basename "$STATE" | tr -c 'A-Za-z0-9_.\n-' '_' | cut -c1-24)"
DOCKER_DATA_ROOT="/var/lib/kube-ship/docker-$stack_name-$stack_id"
DOCKER_EXEC_ROOT="/run/kube-ship/$stack_id"    # short: containerd puts unix sockets below it

k() { "$KUBECTL" --kubeconfig "$ADMIN_KC" "$@"; }

# start NAME CMD...: start CMD in the background (own session, nohup) unless NAME already runs.
start() {
  local name="$1"; shift
  if pid_of "$name" >/dev/null; then return 0; fi
  say "starting $name"
  nohup setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  printf '%s\n%s\n' "$!" "$STATE" >"$RUN/$name.pid"
}

# wait_for NAME SECONDS CMD...: poll CMD until it succeeds; on timeout show NAME's log tail and fail.
wait_for() {
  local name="$1" secs="$2" i; shift 2
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    # Asked twice: while nohup and setsid exec into CMD, its /proc cmdline can be unreadable for an instant.
    if [[ -s "$RUN/$name.pid" ]] && ! pid_of "$name" >/dev/null && ! { sleep 0.5; pid_of "$name" >/dev/null; }; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited (log: $LOGS/$name.log)"
    fi
    sleep 0.1
  done
  tail -n 30 "$LOGS/$name.log" >&2 || true
  die "$name not ready after ${secs}s (log: $LOGS/$name.log)"
}

# render FILE NAME=VALUE...: prints FILE with every @NAME@ replaced by VALUE, taken literally (no sed, no shell
# expansion, so a path with / & \ or $ in it is copied as it is). Fails if a VALUE has a line break or if a
# placeholder (@ABC_D@) is left without a value.
render() {
  local file="$1" text pair name value; shift
  text="$(<"$file")"
  for pair in "$@"; do
    name="${pair%%=*}" value="${pair#*=}"
    [[ "$value" != *$'\n'* ]] || die "render $file: the value of $name has a line break"
    text="${text//"@$name@"/"$value"}"
  done
  if [[ "$text" =~ @[A-Z][A-Z0-9_]*@ ]]; then die "render $file: no value for ${BASH_REMATCH[0]}"; fi
  printf '%s\n' "$text"
}

# replace_if_changed NEW FILE: moves NEW to FILE and succeeds if they differ; else removes NEW and fails.
replace_if_changed() {
  if cmp -s "$1" "$2"; then rm -f "$1"; return 1; fi
  mv "$1" "$2" || die "cannot write $2"
}

# kubeconfig FILE USER NAMESPACE CREDENTIALS: writes FILE unless it exists. CREDENTIALS are the user's YAML lines
# (a client certificate and key, or a token); NAMESPACE, if not empty, becomes the context's namespace.
kubeconfig() {
  [[ -s "$1" ]] && return 0
  local ns=""
  [[ -n "$3" ]] && ns=", namespace: $3"
  cat >"$1.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kube-ship
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $2
  user:
$4
contexts:
- name: $2@kube-ship
  context: {cluster: kube-ship, user: $2$ns}
current-context: $2@kube-ship
KC
  mv "$1.tmp" "$1"
}
