# shellcheck shell=bash
# Phase of up.sh: the pod app (scripts/stack/pod-app/server.ts, run by the repository's Node 24) on the unix socket
# $POD_APP_SOCKET, the API server's egress proxy (scripts/stack/apiserver/egress-selector.yaml), and on
# 127.0.0.1:$POD_APP_PORT. It pipes the API server's connections to KWOK's kubelet, answers HTTP as each Running pod
# (by pod IP: no connection to a pod IP is ever made), and serves the pods' http_requests_total on GET /metrics. It
# watches all pods with the admin's certificate.
# A pod app started from another version of server.ts is restarted.
pod_app_src="$STACK_SCRIPTS/pod-app/server.ts"
pod_app_node="$STACK_REPO/node_modules/.bin/node"
[[ -x "$pod_app_node" ]] || die "the pod app needs Node 24 in $pod_app_node: run npm ci"
(( ${#POD_APP_SOCKET} <= 107 )) || die "the pod app's socket path is too long for a unix socket: $POD_APP_SOCKET"
pod_app_sum="$(sha256sum "$pod_app_src" | cut -c1-64)"
if pid_of pod-app >/dev/null && [[ "$(cat "$RUN/pod-app.sha256" 2>/dev/null)" != "$pod_app_sum" ]]; then
  say "pod app changed: restarting it"
  stop_one pod-app
fi
if ! pid_of pod-app >/dev/null; then printf '%s\n' "$pod_app_sum" >"$RUN/pod-app.sha256"; fi
start pod-app "$pod_app_node" "$pod_app_src" --listen="127.0.0.1:$POD_APP_PORT" --socket="$POD_APP_SOCKET" \
  --apiserver="https://127.0.0.1:$APISERVER_PORT" --ca="$PKI/ca.crt" --cert="$PKI/admin.crt" --key="$PKI/admin.key"
wait_for pod-app 30 curl -sf --noproxy '*' "http://127.0.0.1:$POD_APP_PORT/healthz"
