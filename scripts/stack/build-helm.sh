#!/usr/bin/env bash
# Builds Helm (the helm CLI) from its Go module, once per version, into $HELM_BIN: the `chart` input runs the helm on
# the runner's PATH, and the stack's env puts this one there. The module has no replace directives, so plain
# `go install` works; the version is stamped the way Helm's own Makefile does (helm version prints it).
set -euo pipefail
source "$(dirname "$0")/versions.sh"
[[ -x "$HELM_BIN" ]] && exit 0
command -v go >/dev/null 2>&1 || { echo "build-helm.sh: Go (1.25 or later) must be on PATH to build helm" >&2; exit 1; }
started=$(date +%s)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kube-ship-helm.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
mkdir -p "$(dirname "$HELM_BIN")"
mv "$tmp/helm" "$HELM_BIN"
echo "helm $HELM_VERSION built in $(( $(date +%s) - started ))s into $HELM_BIN"
