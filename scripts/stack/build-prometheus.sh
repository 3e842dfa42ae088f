#!/usr/bin/env bash
# Builds Prometheus (the server only) from Go modules, once per version, into $PROMETHEUS_BIN. The module has no
# replace directives, so plain `go install` works. Lean build: the tag remove_all_sd leaves out every service
# discovery plugin but file and http (the test bed scrapes static targets only), and without the builtinassets tag
# the web UI is not embedded (the HTTP API, /metrics and /-/ready work all the same). promtool is not built: it
# imports the Kubernetes service discovery directly and would add client-go to the build.
set -euo pipefail
source "$(dirname "$0")/versions.sh"
[[ -x "$PROMETHEUS_BIN" ]] && exit 0
command -v go >/dev/null 2>&1 || { echo "build-prometheus.sh: Go (1.26 or later) must be on PATH to build Prometheus" >&2; exit 1; }
started=$(date +%s)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kube-ship-prometheus.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# v0.316.0 -> 3.16.0, the version Prometheus reports (prometheus --version, /api/v1/status/buildinfo).
minor="${PROMETHEUS_VERSION#v0.}"; patch="${minor#*.}"; minor="${minor%%.*}"
release="$((10#$minor / 100)).$((10#$minor % 100)).$patch"
GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -tags remove_all_sd \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
  "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION"
mkdir -p "$(dirname "$PROMETHEUS_BIN")"
mv "$tmp/prometheus" "$PROMETHEUS_BIN"
echo "prometheus $release ($PROMETHEUS_VERSION) built in $(( $(date +%s) - started ))s into $PROMETHEUS_BIN"
