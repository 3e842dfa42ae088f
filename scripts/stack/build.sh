#!/usr/bin/env bash
# Builds the test bed's Kubernetes, etcd and KWOK binaries from Go modules, once per version.
# Binaries land in $KUBE_SHIP_CACHE/bin/<versions>/; the Go build cache stays in Go's own cache dir, so only the
# first run on a machine pays for the build.
set -euo pipefail
source "$(dirname "$0")/versions.sh"

out="$STACK_BIN"
if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kube-scheduler" \
   && -x "$out/kubectl" && -x "$out/etcd" && -x "$out/kwok" ]]; then
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build.sh: Go (1.24 or later) must be on PATH to build the stack's binaries" >&2; exit 1; }
mkdir -p "$out" "$KUBE_SHIP_CACHE/src"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
started=$(date +%s)

build_kube() {
  local mod="$KUBE_SHIP_CACHE/src/kubernetes-$KUBE_VERSION"
  mkdir -p "$mod"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging_version="v0${KUBE_VERSION#v1}"
  {
    echo "module kube-ship.local/stack-kubernetes"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    grep -E '=> \./staging/src/k8s\.io/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } > "$mod/go.mod"
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w"
  ldflags+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (cd "$mod" && go build -trimpath -tags=notest,grpcnotrace -ldflags "$ldflags" -o "$out/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local mod="$KUBE_SHIP_CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  printf 'module kube-ship.local/stack-etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$mod/go.mod"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

[[ -x "$out/etcd" ]] || build_etcd
[[ -x "$out/kwok" ]] || build_kwok
[[ -x "$out/kube-apiserver" && -x "$out/kubectl" ]] || build_kube
echo "stack binaries built in $(( $(date +%s) - started ))s into $out"
