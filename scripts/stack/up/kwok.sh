# shellcheck shell=bash
# Phase of up.sh: the KWOK controller (its "kubelet" on 127.0.0.1:10250), with our own stages (they replace KWOK's
# defaults: scripts/stack/kwok/node-stages.yaml, pod-stages.yaml) and the log files it serves through the API
# (scripts/stack/kwok/cluster-logs.yaml). Sets KWOK_FRESH=1 when it starts a new kwok.
# shellcheck disable=SC2034   # KWOK_FRESH is read by the ready phase
delay="${KUBE_SHIP_POD_READY_DELAY:-1s}"
case "$delay" in
  *ms) delay_ms="${delay%ms}" ;;
  *s) delay_ms="$(awk -v s="${delay%s}" 'BEGIN { printf "%d", s * 1000 }')" ;;
  *) die "KUBE_SHIP_POD_READY_DELAY must look like 1s, 2.5s or 500ms (got '$delay')" ;;
esac
[[ "$delay_ms" =~ ^[0-9]+$ ]] || die "KUBE_SHIP_POD_READY_DELAY must look like 1s, 2.5s or 500ms (got '$delay')"
kwok_logs="$STATE/kwok/logs"
mkdir -p "$kwok_logs"
ts() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
cat >"$kwok_logs/app.log" <<LOG
$(ts) stdout F kube-ship demo app starting
$(ts) stdout F config loaded from /etc/app/config.yaml
$(ts) stdout F listening on :8080
$(ts) stdout F ready
LOG
cat >"$kwok_logs/crash.log" <<LOG
$(ts) stdout F kube-ship demo app starting
$(ts) stdout F connecting to database at db:5432
$(ts) stderr F error: dial tcp db:5432: connect: connection refused
$(ts) stderr F panic: cannot connect to database
LOG
# Containers named "hostile" (current and previous run): what an attacker's app would print to subvert the report.
# Workflow commands (also the legacy ##[command] form, which the runner finds anywhere in a line), HTML, a bidi
# override (U+202E), a C1 control (U+009B), an ANSI colour, @mention and #ref, fake credentials, a 1 MiB line, then
# the panic. Non-ASCII characters as octal UTF-8 bytes (printf's \u needs a UTF-8 locale).
cri() { local stream="$1" line; shift; for line in "$@"; do printf '%s %s F %b\n' "$(ts)" "$stream" "$line"; done; }
{
  cri stdout 'kube-ship hostile app starting' '::error::pod log says deployed' '::add-mask::kube' \
    '::stop-commands::x' '  ::warning::indented command from the pod log' 'mid-line ##[add-mask]kube-ship' \
    '<img src=x onerror=alert(1)></details></pre><script>alert(1)</script>' \
    'user\0342\0200\0256gnp.exe \0302\023331m \033[31mred\033[0m @octocat #1'
  cri stderr 'DATABASE_URL=postgres://app:hunter2-kube-ship@db:5432/app' \
    'NPM_TOKEN=npm_kubeShipFakeToken0123456789abcdefABCD'
  printf '%s stderr F ' "$(ts)"; head -c 1048576 /dev/zero | tr '\0' A; printf '\n'
  cri stderr 'panic: hostile'
} >"$kwok_logs/hostile.log"
chmod 644 "$kwok_logs/"*.log
{
  cat "$STACK_SCRIPTS/kwok/node-stages.yaml"
  echo "---"
  render "$STACK_SCRIPTS/kwok/pod-stages.yaml" READY_DELAY_MS="$delay_ms"
  echo "---"
  render "$STACK_SCRIPTS/kwok/cluster-logs.yaml" LOGS_DIR="$kwok_logs"
} >"$STATE/kwok/kwok.yaml.new"
if replace_if_changed "$STATE/kwok/kwok.yaml.new" "$STATE/kwok/kwok.yaml" && pid_of kwok >/dev/null; then
  say "KWOK configuration changed: restarting kwok"
  stop_one kwok
fi
KWOK_FRESH=0
if ! pid_of kwok >/dev/null; then
  # A previous kwok's node leases would make a new one wait until they expire (40 s): nobody else holds them.
  k -n kube-node-lease delete lease kwok-node-0 kwok-node-1 kwok-node-2 --ignore-not-found --wait=false >/dev/null
  KWOK_FRESH=1
fi
start kwok "$STACK_BIN/kwok" --kubeconfig="$STATE/kwok.kubeconfig" --config="$STATE/kwok/kwok.yaml" \
  --manage-all-nodes=true --node-ip=127.0.0.1 --node-name=kube-ship-kwok --node-port="$KWOK_PORT" \
  --server-address="127.0.0.1:$KWOK_PORT" --tls-cert-file="$PKI/kwok-serving.crt" \
  --tls-private-key-file="$PKI/kwok-serving.key" --node-lease-duration-seconds=40 --cidr=10.244.0.1/16
