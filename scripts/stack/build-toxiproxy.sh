#!/usr/bin/env bash
# Builds Shopify's toxiproxy (TCP fault injection: latency, reset_peer, timeout, bandwidth, slicer, ...) from Go
# modules, once per version, into $TOXIPROXY_BIN/{toxiproxy-server,toxiproxy-cli}. Its module has no replace
# directives, so plain `go install` works.
set -euo pipefail
source "$(dirname "$0")/versions.sh"
[[ -x "$TOXIPROXY_BIN/toxiproxy-server" && -x "$TOXIPROXY_BIN/toxiproxy-cli" ]] && exit 0
command -v go >/dev/null 2>&1 || { echo "build-toxiproxy.sh: Go must be on PATH to build toxiproxy" >&2; exit 1; }
started=$(date +%s)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kube-ship-toxiproxy.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mod=github.com/Shopify/toxiproxy/v2
GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath \
  -ldflags "-s -w -X $mod.Version=$TOXIPROXY_VERSION" "$mod/cmd/server@$TOXIPROXY_VERSION" "$mod/cmd/cli@$TOXIPROXY_VERSION"
mkdir -p "$TOXIPROXY_BIN"
mv "$tmp/server" "$TOXIPROXY_BIN/toxiproxy-server"
mv "$tmp/cli" "$TOXIPROXY_BIN/toxiproxy-cli"
echo "toxiproxy $TOXIPROXY_VERSION built in $(( $(date +%s) - started ))s into $TOXIPROXY_BIN"
