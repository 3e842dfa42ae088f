# Versions of the test bed's parts; sourced by the stack scripts. Changing one rebuilds into a new directory.
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
KUBE_SHIP_CACHE="${KUBE_SHIP_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/kube-ship}"
STACK_BIN="$KUBE_SHIP_CACHE/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
BUILDX_VERSION=v0.38.2
BUILDX_BIN="$KUBE_SHIP_CACHE/bin/buildx-$BUILDX_VERSION/docker-buildx"
TOXIPROXY_VERSION=v2.12.0
TOXIPROXY_BIN="$KUBE_SHIP_CACHE/bin/toxiproxy-$TOXIPROXY_VERSION"
# Runner emulation for the workflow tests (act) and the workflow linter (actionlint), built by build-act.sh.
ACT_VERSION=v0.2.89
ACT_BIN="$KUBE_SHIP_CACHE/bin/act-$ACT_VERSION/act"
ACTIONLINT_VERSION=v1.7.12
ACTIONLINT_BIN="$KUBE_SHIP_CACHE/bin/actionlint-$ACTIONLINT_VERSION/actionlint"
# Prometheus for the `prometheus` verify checks (module v0.X.Y is Prometheus 3.X'.Y: v0.316.0 = 3.16.0), built by
# build-prometheus.sh.
PROMETHEUS_VERSION=v0.316.0
PROMETHEUS_BIN="$KUBE_SHIP_CACHE/bin/prometheus-$PROMETHEUS_VERSION/prometheus"
# Helm for the `chart` input (helm upgrade --install on the runner's PATH), built by build-helm.sh.
HELM_VERSION=v4.3.2
HELM_BIN="$KUBE_SHIP_CACHE/bin/helm-$HELM_VERSION/helm"
# The Gateway API CRDs (config/crd/standard of the sigs.k8s.io/gateway-api module), fetched by build-gateway-api.sh:
# the test bed serves HTTPRoutes for `canary-route` (no gateway controller: tests read the weights kube-ship writes).
GATEWAY_API_VERSION=v1.6.3
GATEWAY_API_CRDS="$KUBE_SHIP_CACHE/gateway-api-$GATEWAY_API_VERSION/crd"
