#!/usr/bin/env bash
# Fetches the Gateway API's standard CRDs from the sigs.k8s.io/gateway-api Go module (through the Go module proxy,
# checked against go.sum's database like any module), once per version, into $GATEWAY_API_CRDS. The
# ValidatingAdmissionPolicy of the same folder is left out: it only guards upgrades between channels.
set -euo pipefail
source "$(dirname "$0")/versions.sh"
[[ -s "$GATEWAY_API_CRDS/gateway.networking.k8s.io_httproutes.yaml" ]] && exit 0
command -v go >/dev/null 2>&1 || { echo "build-gateway-api.sh: Go must be on PATH to fetch the Gateway API module" >&2; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kube-ship-gateway-api.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# `go mod download` outside a module prints where the module was unpacked (its "Dir").
dir="$(cd "$tmp" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$dir/config/crd/standard" ]] || { echo "build-gateway-api.sh: no config/crd/standard in $dir" >&2; exit 1; }
mkdir -p "$tmp/crd"
for f in "$dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
  [[ "$f" == *_vap_* ]] || cp "$f" "$tmp/crd/"
done
mkdir -p "$(dirname "$GATEWAY_API_CRDS")"
rm -rf "$GATEWAY_API_CRDS"
mv "$tmp/crd" "$GATEWAY_API_CRDS"
files=("$GATEWAY_API_CRDS"/*.yaml)
echo "Gateway API $GATEWAY_API_VERSION CRDs (${#files[@]} files) into $GATEWAY_API_CRDS"
