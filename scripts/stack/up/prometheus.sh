# shellcheck shell=bash
# Phase of up.sh: Prometheus on 127.0.0.1:9090 (HTTP API; no web UI in this build), tsdb in $STATE/prometheus,
# config $STATE/prometheus.yml. It scrapes every 2 s the job "pods" (127.0.0.1:$POD_APP_PORT, the simulated pods'
# series, each labelled namespace and pod: honor_labels keeps those labels as the target sent them) and itself (job
# "prometheus"). toxiproxy's proxy 127.0.0.1:$FAULT_PROMETHEUS_PORT leads to it, for faults (fault.sh
# --proxy=prometheus). A running Prometheus whose config changed is told to reload it (SIGHUP).
cat >"$STATE/prometheus.yml.new" <<YAML
# Written by scripts/stack/up/prometheus.sh.
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: pods
    honor_labels: true
    # A target that sends no (or an unknown) Content-Type is read as the text format, not refused.
    fallback_scrape_protocol: PrometheusText0.0.4
    static_configs:
      - targets: ['127.0.0.1:$POD_APP_PORT']
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$PROMETHEUS_PORT']
YAML
if replace_if_changed "$STATE/prometheus.yml.new" "$STATE/prometheus.yml" && pid="$(pid_of prometheus)"; then
  say "prometheus: config changed, reloading"
  kill -HUP "$pid"
fi
mkdir -p "$STATE/prometheus"
# Memory stays small: one hour of retention, a few hundred series; GOMEMLIMIT makes the Go runtime collect early.
start prometheus env GOMEMLIMIT=256MiB "$PROMETHEUS_BIN" --config.file="$STATE/prometheus.yml" \
  --storage.tsdb.path="$STATE/prometheus" --storage.tsdb.retention.time=1h \
  --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --log.level=warn
wait_for prometheus 30 curl -sf "$PROMETHEUS_URL/-/ready"
