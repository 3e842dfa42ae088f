# shellcheck shell=bash
# Phase of up.sh: the binaries (built once by install.sh, which needs the network only the first time).
if [[ "${KUBE_SHIP_SKIP_INSTALL:-0}" != 1 ]]; then
  bash "$STACK_SCRIPTS/install.sh"
fi
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
  [[ -x "$STACK_BIN/$b" ]] || die "$STACK_BIN/$b missing: run scripts/stack/install.sh (needs network once)"
done
[[ -x "$TOXIPROXY_BIN/toxiproxy-server" ]] ||
  die "$TOXIPROXY_BIN/toxiproxy-server missing: run scripts/stack/install.sh (needs network once)"
[[ -x "$PROMETHEUS_BIN" ]] || die "$PROMETHEUS_BIN missing: run scripts/stack/install.sh (needs network once)"
[[ -x "$HELM_BIN" ]] || die "$HELM_BIN missing: run scripts/stack/install.sh (needs network once)"
[[ -s "$GATEWAY_API_CRDS/gateway.networking.k8s.io_httproutes.yaml" ]] ||
  die "$GATEWAY_API_CRDS missing: run scripts/stack/install.sh (needs network once)"
