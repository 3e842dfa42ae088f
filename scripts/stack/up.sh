#!/usr/bin/env bash
# Brings the kube-ship local test bed up (idempotent: what already runs is kept, the rest is started).
#   Docker engine (own, no bridge) or a reused one; registries on 127.0.0.1:5000 (open) and :5001 (htpasswd);
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler (Kubernetes from Go modules); KWOK with
#   3 simulated nodes at 127.0.0.1; toxiproxy (API on 127.0.0.1:8474) with the proxies 127.0.0.1:16443 -> the API
#   server and 127.0.0.1:15000 -> the open registry, for fault tests (scripts/stack/fault.sh). Everything binds to
#   127.0.0.1 only.
# State (pid files, logs, certificates, kubeconfigs, registry storage, etcd data, env):
#   ${KUBE_SHIP_STACK_DIR:-<repo>/.stack}. Source "$KUBE_SHIP_STACK_DIR/env" to use the stack.
# Knobs: KUBE_SHIP_OWN_DOCKER=1 (always start our own dockerd), KUBE_SHIP_POD_READY_DELAY (default 1s),
#   KUBE_SHIP_SKIP_INSTALL=1 (do not run install.sh: for offline runs after install.sh).
set -euo pipefail
started_ns=$(date +%s%N)
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "up.sh must run as root (it starts dockerd)"

if [[ "${KUBE_SHIP_SKIP_INSTALL:-0}" != 1 ]]; then
  bash "$STACK_SCRIPTS/install.sh"
fi
source "$STACK_SCRIPTS/versions.sh"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
  [[ -x "$STACK_BIN/$b" ]] || die "$STACK_BIN/$b missing: run scripts/stack/install.sh (needs network once)"
done
[[ -x "$TOXIPROXY_BIN/toxiproxy-server" ]] ||
  die "$TOXIPROXY_BIN/toxiproxy-server missing: run scripts/stack/install.sh (needs network once)"

mkdir -p "$RUN" "$LOGS" "$STATE/pki" "$STATE/bin" "$STATE/kwok" "$STATE/registry"
chmod 700 "$STATE"

DOCKER_CLI=/usr/bin/docker            # Debian's 20.10 client: BuildKit works with DOCKER_BUILDKIT=1
KUBECTL="$STACK_BIN/kubectl"
ADMIN_KC="$STATE/admin.kubeconfig"
k() { "$KUBECTL" --kubeconfig "$ADMIN_KC" "$@"; }
DEPLOYER_KC="$STATE/deployer.kubeconfig"
THROTTLED_KC="$STATE/throttled.kubeconfig"
FAULT_ADMIN_KC="$STATE/fault-admin.kubeconfig"
FAULT_DEPLOYER_KC="$STATE/fault-deployer.kubeconfig"
NS=kube-ship-e2e
BASE_IMAGE=kube-ship/busybox:latest
APISERVER_PORT=6443
KWOK_PORT=10250
TOXIPROXY_PORT=8474
FAULT_APISERVER_PORT=16443
FAULT_REGISTRY_PORT=15000
stack_id="$(printf %s "$STATE" | sha256sum | cut -c1-10)"
stack_name="$(basename "$STATE" | tr -c 'A-Za-z0-9_.\n-' '_' | cut -c1-24)"
DOCKER_DATA_ROOT="/var/lib/kube-ship/docker-$stack_name-$stack_id"
DOCKER_EXEC_ROOT="/run/kube-ship/$stack_id"    # short: containerd puts unix sockets below it

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
    if [[ -s "$RUN/$name.pid" ]] && ! pid_of "$name" >/dev/null; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited (log: $LOGS/$name.log)"
    fi
    sleep 0.1
  done
  tail -n 30 "$LOGS/$name.log" >&2 || true
  die "$name not ready after ${secs}s (log: $LOGS/$name.log)"
}

# ---------------------------------------------------------------------------------------------- Docker engine
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

# Base image made locally from Debian's busybox-static: nothing is ever pulled.
if ! "$DOCKER_CLI" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "importing $BASE_IMAGE from /bin/busybox (busybox-static)"
  rootfs="$(mktemp -d)"
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var,proc,sys,dev}
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [[ -e "$rootfs/$applet" ]] || ln -s /bin/busybox "$rootfs/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" --numeric-owner -cf - . | "$DOCKER_CLI" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi

# ---------------------------------------------------------------------------------------------- registries
AUTH_USER=kube-ship
if [[ ! -s "$STATE/registry/password" ]]; then
  openssl rand -hex 16 >"$STATE/registry/password"
fi
AUTH_PASSWORD="$(cat "$STATE/registry/password")"
if [[ ! -s "$STATE/registry/htpasswd" ]]; then
  htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$STATE/registry/htpasswd"
fi
for port in 5000 5001; do
  dir="$STATE/registry/$port"
  mkdir -p "$dir/data"
  if [[ ! -s "$dir/config.yml" ]]; then
    {
      echo "version: 0.1"
      echo "log: {level: warn, accesslog: {disabled: true}}"
      echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}, cache: {blobdescriptor: inmemory}}"
      echo "http: {addr: 127.0.0.1:$port, secret: $(openssl rand -hex 16)}"
      if [[ $port == 5001 ]]; then
        echo "auth: {htpasswd: {realm: kube-ship, path: $STATE/registry/htpasswd}}"
      fi
    } >"$dir/config.yml"
  fi
  start "registry-$port" /usr/bin/docker-registry serve "$dir/config.yml"
done
wait_for registry-5000 30 curl -sf http://127.0.0.1:5000/v2/
wait_for registry-5001 30 bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:5001/v2/) == 401 ]]'

# ---------------------------------------------------------------------------------------------- PKI
PKI="$STATE/pki"
if [[ ! -s "$PKI/ca.crt" ]]; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$PKI/ca.key" \
    -out "$PKI/ca.crt" -days 3650 -subj "/CN=kube-ship-local-ca" 2>/dev/null
fi
# cert NAME SUBJECT EXT: a leaf certificate signed by the stack's CA.
cert() {
  local name="$1" subj="$2" ext="$3"
  [[ -s "$PKI/$name.crt" ]] && return 0
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$PKI/$name.key" \
    -out "$PKI/$name.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/$name.crt" -days 3650 -extfile "$PKI/$name.ext" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
client_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'
server_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth'
cert apiserver "/CN=kube-apiserver" "$server_ext
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
cert kwok-serving "/CN=kwok-kubelet" "$server_ext
subjectAltName=IP:127.0.0.1,DNS:localhost"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
cert admin "/O=system:masters/CN=kube-ship-admin" "$client_ext"
cert kube-controller-manager "/CN=system:kube-controller-manager" "$client_ext"
cert kube-scheduler "/CN=system:kube-scheduler" "$client_ext"
cert kwok "/O=system:masters/CN=kwok-controller" "$client_ext"
if [[ ! -s "$PKI/sa.key" ]]; then
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi

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
# cert_credentials CERT KEY: the user lines of a client certificate.
cert_credentials() {
  printf '    client-certificate-data: %s\n    client-key-data: %s' "$(base64 -w0 "$1")" "$(base64 -w0 "$2")"
}
kubeconfig "$ADMIN_KC" kube-ship-admin "" "$(cert_credentials "$PKI/admin.crt" "$PKI/admin.key")"
for c in kube-controller-manager kube-scheduler kwok; do
  kubeconfig "$STATE/$c.kubeconfig" "$c" "" "$(cert_credentials "$PKI/$c.crt" "$PKI/$c.key")"
done

# ---------------------------------------------------------------------------------------------- control plane
start etcd "$STACK_BIN/etcd" --name kube-ship --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster kube-ship=http://127.0.0.1:2380 --unsafe-no-fsync --auto-compaction-retention=1 \
  --log-level=warn
wait_for etcd 30 curl -sf http://127.0.0.1:2379/health

# Audit log (for counting API requests at the server, e.g. npm run bench): only the requests of the
# ServiceAccounts of $NS (the deployer, the bench's baseline identity) are written, at level Metadata, one line per
# request (stage ResponseComplete); everything else (controllers, KWOK, admin) is level None, so it stays cheap.
cat >"$STATE/audit-policy.yaml.new" <<YAML
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:$NS"]
- level: None
YAML
if cmp -s "$STATE/audit-policy.yaml.new" "$STATE/audit-policy.yaml"; then
  rm -f "$STATE/audit-policy.yaml.new"
else
  mv "$STATE/audit-policy.yaml.new" "$STATE/audit-policy.yaml"
  if pid_of kube-apiserver >/dev/null; then say "audit policy changed: restarting kube-apiserver"; stop_one kube-apiserver 15; fi
fi
# An API server started by an older up.sh (without the audit flags, or with API Priority and Fairness off) is
# restarted once to pick up the current flags.
if apid="$(pid_of kube-apiserver)"; then
  apcmd="$(tr '\0' ' ' <"/proc/$apid/cmdline")"
  if [[ "$apcmd" != *--audit-policy-file=* || "$apcmd" == *--enable-priority-and-fairness=false* ]]; then
    say "kube-apiserver runs with older flags: restarting it"
    stop_one kube-apiserver 15
  fi
fi
# API Priority and Fairness is on (the default): bootstrap below adds a priority level that answers real 429s to
# one ServiceAccount (kube-ship-throttled).
start kube-apiserver "$STACK_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
  --audit-policy-file="$STATE/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" --audit-log-format=json \
  --audit-log-maxsize=50 --audit-log-maxbackup=1 \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=$APISERVER_PORT \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=10.96.0.0/16 \
  --authorization-mode=Node,RBAC --endpoint-reconciler-type=none --allow-privileged=true \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
  --profiling=false --v=1
wait_for kube-apiserver 60 "$KUBECTL" --kubeconfig "$ADMIN_KC" get --raw /readyz

start kube-controller-manager "$STACK_BIN/kube-controller-manager" \
  --kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=true --cluster-name=kube-ship \
  --kube-api-qps=100 --kube-api-burst=200 --profiling=false --v=1
start kube-scheduler "$STACK_BIN/kube-scheduler" \
  --kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false --v=1

# KWOK: our own stages (they replace KWOK's defaults) and the log files served through the API.
delay="${KUBE_SHIP_POD_READY_DELAY:-1s}"
case "$delay" in
  *ms) delay_ms="${delay%ms}" ;;
  *s) delay_ms="$(awk -v s="${delay%s}" 'BEGIN { printf "%d", s * 1000 }')" ;;
  *) die "KUBE_SHIP_POD_READY_DELAY must look like 1s, 2.5s or 500ms (got '$delay')" ;;
esac
[[ "$delay_ms" =~ ^[0-9]+$ ]] || die "KUBE_SHIP_POD_READY_DELAY must look like 1s, 2.5s or 500ms (got '$delay')"
mkdir -p "$STATE/kwok/logs"
ts() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
cat >"$STATE/kwok/logs/app.log" <<LOG
$(ts) stdout F kube-ship demo app starting
$(ts) stdout F config loaded from /etc/app/config.yaml
$(ts) stdout F listening on :8080
$(ts) stdout F ready
LOG
cat >"$STATE/kwok/logs/crash.log" <<LOG
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
} >"$STATE/kwok/logs/hostile.log"
chmod 644 "$STATE/kwok/logs/"*.log
kwok_conf_new="$STATE/kwok/kwok.yaml.new"
{
  cat "$STACK_SCRIPTS/kwok/node-stages.yaml"
  echo "---"
  sed "s/@READY_DELAY_MS@/$delay_ms/g" "$STACK_SCRIPTS/kwok/pod-stages.yaml"
  cat <<YAML
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: kube-ship-logs
spec:
  logs:
  - containers: [hostile]
    logsFile: $STATE/kwok/logs/hostile.log
    previousLogsFile: $STATE/kwok/logs/hostile.log
  - logsFile: $STATE/kwok/logs/app.log
    previousLogsFile: $STATE/kwok/logs/crash.log
YAML
} >"$kwok_conf_new"
if ! cmp -s "$kwok_conf_new" "$STATE/kwok/kwok.yaml"; then
  mv "$kwok_conf_new" "$STATE/kwok/kwok.yaml"
  if pid_of kwok >/dev/null; then say "KWOK configuration changed: restarting kwok"; stop_one kwok; fi
else
  rm -f "$kwok_conf_new"
fi
kwok_fresh=0
if ! pid_of kwok >/dev/null; then
  # A previous kwok's node leases would make a new one wait until they expire (40 s): nobody else holds them.
  k -n kube-node-lease delete lease kwok-node-0 kwok-node-1 kwok-node-2 --ignore-not-found --wait=false >/dev/null
  kwok_fresh=1
fi
start kwok "$STACK_BIN/kwok" --kubeconfig="$STATE/kwok.kubeconfig" --config="$STATE/kwok/kwok.yaml" \
  --manage-all-nodes=true --node-ip=127.0.0.1 --node-name=kube-ship-kwok --node-port=$KWOK_PORT \
  --server-address=127.0.0.1:$KWOK_PORT --tls-cert-file="$PKI/kwok-serving.crt" \
  --tls-private-key-file="$PKI/kwok-serving.key" --node-lease-duration-seconds=40 --cidr=10.244.0.1/16

# ---------------------------------------------------------------------------------------------- toxiproxy
# TCP proxies for fault tests (scripts/stack/fault.sh adds latency, resets, timeouts... to them). A running
# toxiproxy keeps its proxies and active toxics: /populate creates only what is missing or changed.
TOXIPROXY_URL="http://127.0.0.1:$TOXIPROXY_PORT"
cat >"$STATE/toxiproxy.json" <<JSON
[
  {"name": "kube-apiserver", "listen": "127.0.0.1:$FAULT_APISERVER_PORT", "upstream": "127.0.0.1:$APISERVER_PORT", "enabled": true},
  {"name": "registry", "listen": "127.0.0.1:$FAULT_REGISTRY_PORT", "upstream": "127.0.0.1:5000", "enabled": true}
]
JSON
start toxiproxy env LOG_LEVEL=warn "$TOXIPROXY_BIN/toxiproxy-server" -host 127.0.0.1 -port "$TOXIPROXY_PORT" \
  -config "$STATE/toxiproxy.json"
wait_for toxiproxy 30 curl -sf "$TOXIPROXY_URL/version"
curl -sf -X POST --data-binary @"$STATE/toxiproxy.json" "$TOXIPROXY_URL/populate" >/dev/null ||
  die "toxiproxy did not accept $STATE/toxiproxy.json (log: $LOGS/toxiproxy.log)"

wait_for kube-controller-manager 60 curl -sfk https://127.0.0.1:10257/healthz
wait_for kube-scheduler 60 curl -sfk https://127.0.0.1:10259/healthz

# ---------------------------------------------------------------------------------------------- cluster objects
{
  for i in 0 1 2; do
    cat <<YAML
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-node-$i
    topology.kubernetes.io/zone: zone-$i
---
YAML
  done
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kube-ship-deployer
  namespace: $NS
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: kube-ship-deployer-token
  namespace: $NS
  annotations:
    kubernetes.io/service-account.name: kube-ship-deployer
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: kube-ship-deployer
  namespace: $NS
rules:   # exactly REQUIRED_ACCESS of src/access.ts (checked by __tests__/unit/role.test.ts)
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: kube-ship-deployer
  namespace: $NS
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: kube-ship-deployer
subjects:
- kind: ServiceAccount
  name: kube-ship-deployer
  namespace: $NS
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kube-ship-selfsubjectaccessreview
rules:
- apiGroups: ["authorization.k8s.io"]
  resources: ["selfsubjectaccessreviews"]
  verbs: ["create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kube-ship-deployer-selfsubjectaccessreview
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kube-ship-selfsubjectaccessreview
subjects:
- kind: ServiceAccount
  name: kube-ship-deployer
  namespace: $NS
- kind: ServiceAccount
  name: kube-ship-throttled
  namespace: $NS
---
# kube-ship-throttled: the deployer's rights, but every request goes to a priority level of about 3 seats that
# neither borrows nor queues, so a little concurrency gets real 429s (with Retry-After) from API Priority and
# Fairness. Nobody else is matched by this FlowSchema.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kube-ship-throttled
  namespace: $NS
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: kube-ship-throttled-token
  namespace: $NS
  annotations:
    kubernetes.io/service-account.name: kube-ship-throttled
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: kube-ship-throttled
  namespace: $NS
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: kube-ship-deployer
subjects:
- kind: ServiceAccount
  name: kube-ship-throttled
  namespace: $NS
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: kube-ship-throttled
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse:
      type: Reject
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: kube-ship-throttled
spec:
  priorityLevelConfiguration:
    name: kube-ship-throttled
  matchingPrecedence: 1000
  distinguisherMethod:
    type: ByUser
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount:
        name: kube-ship-throttled
        namespace: $NS
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
      clusterScope: true
    nonResourceRules:
    - verbs: ["*"]
      nonResourceURLs: ["*"]
YAML
} >"$STATE/bootstrap.yaml.new"
# Apply only when the manifest changed or the cluster lost it (a kubectl apply costs about a second).
if cmp -s "$STATE/bootstrap.yaml.new" "$STATE/bootstrap.yaml" && k get namespace "$NS" >/dev/null 2>&1 \
    && k -n "$NS" get secret kube-ship-deployer-token kube-ship-throttled-token >/dev/null 2>&1 \
    && k get flowschema kube-ship-throttled >/dev/null 2>&1; then
  rm -f "$STATE/bootstrap.yaml.new"
else
  k apply -f "$STATE/bootstrap.yaml.new" >/dev/null
  rm -f "$DEPLOYER_KC" "$THROTTLED_KC"   # re-read the tokens below (the Secrets may be new)
  mv "$STATE/bootstrap.yaml.new" "$STATE/bootstrap.yaml"
fi

# sa_kubeconfig FILE SERVICEACCOUNT: a kubeconfig with the ServiceAccount's token (from its token Secret, filled in
# by the controller-manager) and the context namespace $NS.
sa_kubeconfig() {
  [[ -s "$1" ]] && return 0
  local token="" i
  for ((i = 0; i < 300; i++)); do
    token="$(k -n "$NS" get secret "$2-token" -o jsonpath='{.data.token}' 2>/dev/null || true)"
    [[ -n "$token" ]] && break
    sleep 0.1
  done
  [[ -n "$token" ]] || die "the token controller did not fill secret $NS/$2-token"
  kubeconfig "$1" "$2" "$NS" "    token: $(printf %s "$token" | base64 -d)"
}
# The least-privilege kubeconfig, and the same rights under API Priority and Fairness' tight limit.
sa_kubeconfig "$DEPLOYER_KC" kube-ship-deployer
sa_kubeconfig "$THROTTLED_KC" kube-ship-throttled
# The admin and deployer kubeconfigs through toxiproxy (same address, so the API server's certificate for IP
# 127.0.0.1 stays valid); rewritten whenever the direct ones change.
for pair in "$ADMIN_KC:$FAULT_ADMIN_KC" "$DEPLOYER_KC:$FAULT_DEPLOYER_KC"; do
  sed "s#server: https://127.0.0.1:$APISERVER_PORT\$#server: https://127.0.0.1:$FAULT_APISERVER_PORT#" "${pair%%:*}" \
    >"${pair#*:}.tmp"
  chmod 600 "${pair#*:}.tmp"
  if cmp -s "${pair#*:}.tmp" "${pair#*:}"; then rm -f "${pair#*:}.tmp"; else mv "${pair#*:}.tmp" "${pair#*:}"; fi
done
grep -q "server: https://127.0.0.1:$FAULT_APISERVER_PORT\$" "$FAULT_ADMIN_KC" || die "could not write $FAULT_ADMIN_KC"

wait_for kwok 60 k wait --for=condition=Ready node -l type=kwok --timeout=1s
if (( kwok_fresh )); then   # the new kwok holds the node leases: it is managing the nodes
  wait_for kwok 60 k -n kube-node-lease get lease kwok-node-0 kwok-node-1 kwok-node-2
fi
wait_for kube-controller-manager 60 k -n "$NS" get serviceaccount default

# ---------------------------------------------------------------------------------------------- env
ln -sfn "$DOCKER_CLI" "$STATE/bin/docker"
ln -sfn "$KUBECTL" "$STATE/bin/kubectl"
ln -sfn "$TOXIPROXY_BIN/toxiproxy-cli" "$STATE/bin/toxiproxy-cli"
BUILDX_LINE="# buildx: not built (scripts/stack/build-buildx.sh)"
if [[ -n "${BUILDX_BIN:-}" && -x "$BUILDX_BIN" ]]; then
  BUILDX_LINE="export BUILDX_PLUGIN='$BUILDX_BIN'"
fi
cat >"$STATE/env" <<ENV
# kube-ship local test bed (written by scripts/stack/up.sh). Usage: source '$STATE/env'
export KUBE_SHIP_STACK_DIR='$STATE'
export KUBECONFIG='$ADMIN_KC'
export DEPLOYER_KUBECONFIG='$DEPLOYER_KC'
export DEPLOYER_NAMESPACE='$NS'
export DOCKER_HOST='$DOCKER_HOST_VALUE'
export DOCKER_BUILDKIT=1
export REGISTRY='127.0.0.1:5000'
export AUTH_REGISTRY='127.0.0.1:5001'
export AUTH_REGISTRY_USER='$AUTH_USER'
export AUTH_REGISTRY_PASSWORD='$AUTH_PASSWORD'
export BASE_IMAGE='$BASE_IMAGE'
export KUBE_SHIP_STACK_BIN='$STACK_BIN'
export THROTTLED_KUBECONFIG='$THROTTLED_KC'
export TOXIPROXY_URL='$TOXIPROXY_URL'
export FAULT_KUBECONFIG='$FAULT_ADMIN_KC'
export FAULT_DEPLOYER_KUBECONFIG='$FAULT_DEPLOYER_KC'
export FAULT_REGISTRY='127.0.0.1:$FAULT_REGISTRY_PORT'
export KUBE_SHIP_FAULT='$STACK_SCRIPTS/fault.sh'
$BUILDX_LINE
case ":\$PATH:" in *":$STATE/bin:"*) ;; *) export PATH='$STATE/bin':"\$PATH" ;; esac
ENV
chmod 600 "$STATE/env"

elapsed="$(awk -v a="$started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
nodes="$(k get nodes -l type=kwok --no-headers 2>/dev/null | grep -c ' Ready ' || true)"
echo "stack up in ${elapsed}s: docker=$DOCKER_HOST_VALUE registries=127.0.0.1:5000,127.0.0.1:5001 apiserver=https://127.0.0.1:$APISERVER_PORT (faults: :$FAULT_APISERVER_PORT, toxiproxy $TOXIPROXY_URL) nodes=$nodes ready; source $STATE/env"
