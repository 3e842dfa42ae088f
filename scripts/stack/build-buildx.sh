#!/usr/bin/env bash
# Builds the docker buildx CLI plugin from Go modules (github.com/docker/buildx has no replace directives, so
# plain `go install` works), once per version, into $BUILDX_BIN. Optional: Debian bookworm has no buildx package
# and its 20.10 client builds with classic BuildKit (DOCKER_BUILDKIT=1) without it. Tests that want buildx copy
# or link $BUILDX_PLUGIN to $DOCKER_CONFIG/cli-plugins/docker-buildx.
set -euo pipefail
source "$(dirname "$0")/versions.sh"
[[ -x "$BUILDX_BIN" ]] && exit 0
started=$(date +%s)
dir="$(dirname "$BUILDX_BIN")"
mkdir -p "$dir"
GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$dir" go install -trimpath \
  -ldflags "-s -w -X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx" \
  "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION"
mv "$dir/buildx" "$BUILDX_BIN"
echo "buildx $BUILDX_VERSION built in $(( $(date +%s) - started ))s into $BUILDX_BIN"
