#!/usr/bin/env bash
# Brings the kube-ship local test bed up (idempotent: what already runs is kept, the rest is started).
#   Docker engine (own, no bridge) or a reused one; registries on 127.0.0.1:5000 (open) and :5001 (htpasswd);
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler (Kubernetes from Go modules); KWOK with
#   3 simulated nodes at 127.0.0.1; the pod app on 127.0.0.1:10260 (the simulated pods' HTTP servers, reached through
#   the API server's egress selector on a unix socket, and their metrics); toxiproxy (API on 127.0.0.1:8474) with the
#   proxies 127.0.0.1:16443 -> the API server, 127.0.0.1:15000 -> the open registry and 127.0.0.1:19090 ->
#   Prometheus, for fault tests (scripts/stack/fault.sh); Prometheus on 127.0.0.1:9090. Everything binds to 127.0.0.1
#   only.
# State (pid files, logs, certificates, kubeconfigs, registry storage, etcd data, env):
#   ${KUBE_SHIP_STACK_DIR:-<repo>/.stack}. Source "$KUBE_SHIP_STACK_DIR/env" to use the stack.
# Knobs: KUBE_SHIP_OWN_DOCKER=1 (always start our own dockerd), KUBE_SHIP_POD_READY_DELAY (default 1s),
#   KUBE_SHIP_SKIP_INSTALL=1 (do not run install.sh: for offline runs after install.sh).
# Layout: up/common.sh has the settings (ports, paths) and helpers; each phase is one file of up/, sourced in the
# order below (a phase uses what the phases before it set up); the objects applied to the cluster are the YAML files
# of objects/, the API server's audit policy is apiserver/audit-policy.yaml, KWOK's configuration is kwok/*.yaml.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
started_ns=$(date +%s%N)
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "up.sh must run as root (it starts dockerd)"
source "$STACK_SCRIPTS/up/common.sh"
mkdir -p "$RUN" "$LOGS"
chmod 700 "$STATE"

source "$STACK_SCRIPTS/up/binaries.sh"     # install.sh (unless KUBE_SHIP_SKIP_INSTALL=1), the binaries are there
source "$STACK_SCRIPTS/up/docker.sh"       # the Docker engine (ours, or a reused one)
source "$STACK_SCRIPTS/up/base-image.sh"   # kube-ship/busybox from busybox-static
source "$STACK_SCRIPTS/up/registries.sh"   # 127.0.0.1:5000 and 127.0.0.1:5001 (htpasswd)
source "$STACK_SCRIPTS/up/certs.sh"        # CA, certificates, the admin's and components' kubeconfigs
source "$STACK_SCRIPTS/up/etcd.sh"         # 127.0.0.1:2379
source "$STACK_SCRIPTS/up/apiserver.sh"    # https://127.0.0.1:6443, audit policy
source "$STACK_SCRIPTS/up/controllers.sh"  # kube-controller-manager and kube-scheduler (started, not waited for)
source "$STACK_SCRIPTS/up/kwok.sh"         # KWOK with our stages and logs
source "$STACK_SCRIPTS/up/pod-app.sh"      # 127.0.0.1:10260, the API server's egress: pods answer HTTP
source "$STACK_SCRIPTS/up/toxiproxy.sh"    # 127.0.0.1:8474, proxies :16443, :15000 and :19090
source "$STACK_SCRIPTS/up/prometheus.sh"   # 127.0.0.1:9090, scrapes the pod app (:10260) and itself every 2 s
source "$STACK_SCRIPTS/up/bootstrap.sh"    # objects/*.yaml applied; deployer, throttled and fault kubeconfigs
source "$STACK_SCRIPTS/up/gateway-api.sh"  # the Gateway API CRDs (HTTPRoute), for canary-route
source "$STACK_SCRIPTS/up/ready.sh"        # nodes Ready, the namespace's default ServiceAccount
source "$STACK_SCRIPTS/up/env.sh"          # $STATE/env and $STATE/bin

elapsed="$(awk -v a="$started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
nodes="$(k get nodes -l type=kwok --no-headers 2>/dev/null | grep -c ' Ready ' || true)"
echo "stack up (${elapsed} seconds): docker=$DOCKER_HOST_VALUE registries=127.0.0.1:5000,127.0.0.1:5001 apiserver=https://127.0.0.1:$APISERVER_PORT (faults: :$FAULT_APISERVER_PORT, toxiproxy $TOXIPROXY_URL) prometheus=$PROMETHEUS_URL nodes=$nodes ready; source $STATE/env"
