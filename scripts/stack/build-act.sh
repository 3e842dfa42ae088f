#!/usr/bin/env bash
# Builds the runner emulators the workflow tests use, from Go modules, once per version:
#   nektos/act      -> $ACT_BIN        (runs __tests__/workflows/*.yml with `uses: ./` on this host)
#   rhysd/actionlint -> $ACTIONLINT_BIN (checks workflows and the README's examples against action.yml)
# Neither module has replace directives, so plain `go install` works. The Go module and build caches stay in Go's
# own directories, so only the first run on a machine pays for the build.
set -euo pipefail
source "$(dirname "$0")/versions.sh"
[[ -x "$ACT_BIN" && -x "$ACTIONLINT_BIN" ]] && exit 0
command -v go >/dev/null 2>&1 || { echo "build-act.sh: Go (1.25 or later) must be on PATH to build act and actionlint" >&2; exit 1; }
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

build() { # build NAME VERSION OUT PACKAGE LDFLAGS
  local name=$1 version=$2 out=$3 pkg=$4 ldflags=$5 started tmp
  started=$(date +%s)
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/kube-ship-$name.XXXXXX")"
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version"
  mkdir -p "$(dirname "$out")"
  mv "$tmp/$(basename "$pkg")" "$out"
  rm -rf "$tmp"
  echo "$name $version built in $(( $(date +%s) - started ))s into $out"
}

[[ -x "$ACTIONLINT_BIN" ]] || build actionlint "$ACTIONLINT_VERSION" "$ACTIONLINT_BIN" \
  github.com/rhysd/actionlint/cmd/actionlint "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
# act's main package is the module root: go install names the binary after the module (act).
[[ -x "$ACT_BIN" ]] || build act "$ACT_VERSION" "$ACT_BIN" github.com/nektos/act "-X main.version=${ACT_VERSION#v}"
