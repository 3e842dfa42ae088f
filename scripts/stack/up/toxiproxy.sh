# shellcheck shell=bash
# Phase of up.sh: toxiproxy (API on 127.0.0.1:8474), TCP proxies for fault tests (scripts/stack/fault.sh adds
# latency, resets, timeouts... to them): 127.0.0.1:16443 -> the API server, 127.0.0.1:15000 -> the open registry,
# 127.0.0.1:19090 -> Prometheus (started after this phase; toxiproxy connects upstream only when a client connects).
# A running toxiproxy keeps its proxies and active toxics: /populate creates only what is missing or changed.
cat >"$STATE/toxiproxy.json" <<JSON
[
  {"name": "kube-apiserver", "listen": "127.0.0.1:$FAULT_APISERVER_PORT", "upstream": "127.0.0.1:$APISERVER_PORT", "enabled": true},
  {"name": "registry", "listen": "127.0.0.1:$FAULT_REGISTRY_PORT", "upstream": "127.0.0.1:5000", "enabled": true},
  {"name": "prometheus", "listen": "127.0.0.1:$FAULT_PROMETHEUS_PORT", "upstream": "127.0.0.1:$PROMETHEUS_PORT", "enabled": true}
]
JSON
start toxiproxy env LOG_LEVEL=warn "$TOXIPROXY_BIN/toxiproxy-server" -host 127.0.0.1 -port "$TOXIPROXY_PORT" \
  -config "$STATE/toxiproxy.json"
wait_for toxiproxy 30 curl -sf "$TOXIPROXY_URL/version"
curl -sf -X POST --data-binary @"$STATE/toxiproxy.json" "$TOXIPROXY_URL/populate" >/dev/null ||
  die "toxiproxy did not accept $STATE/toxiproxy.json (log: $LOGS/toxiproxy.log)"
