#!/usr/bin/env bash
# The main job on the local stack: deploys the sample multi-stage app from examples/web with the bundled action,
# then a broken version (its image crash-loops) that kube-ship catches and rolls back, then a version that is Ready
# and crashes 10 s later (what `kubectl rollout status` calls a success), caught by the bake, then a crash-looping
# release of a StatefulSet, rolled back with its stuck pod replaced (kubectl rollout undo would leave it stuck).
# Prints the summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/node_modules/.bin:$PATH"
[[ -x node_modules/.bin/node ]] || npm ci
bash scripts/stack/up.sh
# shellcheck disable=SC1091
source "${KUBE_SHIP_STACK_DIR:-$root/.stack}/env"
[[ -f dist/index.js ]] || npm run build

kubectl create namespace kube-ship-demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f examples/web/deployment.yaml -f examples/web/statefulset.yaml >/dev/null
kubectl -n kube-ship-demo rollout status deployment/web --timeout=120s >/dev/null
kubectl -n kube-ship-demo rollout status statefulset/web-cache --timeout=120s >/dev/null

run_dir=$(mktemp -d)
stamp=$(date +%s)
# deploy NAME TAG VARIANT BAKE [WORKLOADS]: runs dist/index.js as the GitHub runner does (INPUT_* and GITHUB_*
# variables), on the Deployment web, or on WORKLOADS (`workloads` input) when given.
deploy() {
  local name=$1 tag=$2 variant=$3 bake=$4 workloads=${5:-} dir="$run_dir/$1"
  local deployments=kube-ship-demo/web
  [[ -z "$workloads" ]] || deployments=""
  mkdir -p "$dir"
  : >"$dir/output"; : >"$dir/summary"; : >"$dir/state"
  echo
  echo "=================== kube-ship: $name deploy ($REGISTRY/demo/web:$tag) ==================="
  local rc=0
  env GITHUB_ACTIONS=true GITHUB_SHA="$(git rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)" \
    GITHUB_REPOSITORY=acme/web GITHUB_RUN_ID="$stamp" GITHUB_ACTOR="$(whoami)" GITHUB_EVENT_NAME=push \
    GITHUB_OUTPUT="$dir/output" GITHUB_STEP_SUMMARY="$dir/summary" GITHUB_STATE="$dir/state" RUNNER_TEMP="$dir" \
    INPUT_IMAGE="$REGISTRY/demo/web" INPUT_TAGS="$tag" INPUT_CONTEXT=examples/web INPUT_NETWORK=host \
    "INPUT_BUILD-ARGS=VARIANT=$variant
BASE_IMAGE=$BASE_IMAGE" \
    INPUT_DEPLOYMENTS="$deployments" INPUT_WORKLOADS="$workloads" INPUT_TIMEOUT=5m INPUT_ROLLBACK=true INPUT_FAIL-FAST=true INPUT_BAKE="$bake" \
    INPUT_ENVIRONMENT=demo INPUT_COMMENT=never \
    node dist/index.js || rc=$?
  echo
  echo "------------------- job summary ($name, exit code $rc) -------------------"
  cat "$dir/summary"
  echo "------------------- outputs -------------------"
  node -e 'const t = require("fs").readFileSync(process.argv[1], "utf8");
for (const m of t.matchAll(/^([^<\n]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) console.log(`${m[1]}: ${m[3]}`);' "$dir/output"
  return $rc
}

deploy good "v-$stamp" "good-$stamp" 5s
for bad in broken:crashloop late:crashlate statefulset:crashloop; do
  name=${bad%%:*}
  workloads=""
  [[ "$name" != statefulset ]] || workloads=kube-ship-demo/statefulset/web-cache
  if deploy "$name" "${bad#*:}-$stamp" "$name-$stamp" 30s "$workloads"; then
    echo "the $name deploy was expected to fail and roll back" >&2
    exit 1
  fi
  result=$(sed -n '/^result<</{n;p;}' "$run_dir/$name/output")
  [[ "$result" == rolled-back ]] || { echo "expected result rolled-back for $name, got $result" >&2; exit 1; }
done
echo
echo "demo done: the good version deployed; the crash-looping one was caught in seconds and rolled back; the one"
echo "that crashed 10 s after becoming Ready (kubectl rollout status: success) was caught by the bake and rolled back;"
echo "the StatefulSet's crash-looping release was rolled back and its stuck pod replaced: every pod Ready again."
kubectl -n kube-ship-demo get deployment web -o wide
kubectl -n kube-ship-demo get statefulset web-cache -o wide
rm -rf "$run_dir"
