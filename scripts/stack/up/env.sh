# shellcheck shell=bash
# Phase of up.sh: $STATE/bin (docker, kubectl, toxiproxy-cli, helm) and $STATE/env, what users and tests source.
mkdir -p "$STATE/bin"
ln -sfn "$DOCKER_CLI" "$STATE/bin/docker"
ln -sfn "$KUBECTL" "$STATE/bin/kubectl"
ln -sfn "$TOXIPROXY_BIN/toxiproxy-cli" "$STATE/bin/toxiproxy-cli"
ln -sfn "$HELM_BIN" "$STATE/bin/helm"
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
export POD_APP_URL='http://127.0.0.1:$POD_APP_PORT'
export FAULT_KUBECONFIG='$FAULT_ADMIN_KC'
export FAULT_DEPLOYER_KUBECONFIG='$FAULT_DEPLOYER_KC'
export FAULT_REGISTRY='127.0.0.1:$FAULT_REGISTRY_PORT'
export KUBE_SHIP_FAULT='$STACK_SCRIPTS/fault.sh'
export PROMETHEUS_URL='$PROMETHEUS_URL'
export FAULT_PROMETHEUS_URL='http://127.0.0.1:$FAULT_PROMETHEUS_PORT'
$BUILDX_LINE
case ":\$PATH:" in *":$STATE/bin:"*) ;; *) export PATH='$STATE/bin':"\$PATH" ;; esac
ENV
chmod 600 "$STATE/env"
