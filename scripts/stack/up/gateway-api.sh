# shellcheck shell=bash
# Phase of up.sh: the Gateway API's standard CRDs (fetched by install.sh), so HTTPRoutes can be made and patched;
# no gateway controller runs: tests read the weights kube-ship writes. Server-side apply: the HTTPRoute CRD is
# larger than the annotation a client-side apply keeps. Applied again only when the version changed or the
# cluster lost them.
if [[ "$(cat "$STATE/gateway-api.applied" 2>/dev/null)" == "$GATEWAY_API_VERSION" ]] \
    && k get crd httproutes.gateway.networking.k8s.io >/dev/null 2>&1; then
  :
else
  k apply --server-side --force-conflicts -f "$GATEWAY_API_CRDS" >/dev/null
  k wait --for condition=Established --timeout=60s crd/httproutes.gateway.networking.k8s.io >/dev/null
  printf '%s\n' "$GATEWAY_API_VERSION" >"$STATE/gateway-api.applied"
fi
