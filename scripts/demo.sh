#!/usr/bin/env bash
# The main job on the local stack: a first deploy of the sample multi-stage app from its manifests
# (examples/web/k8s: Deployment, Service, Ingress, ConfigMap), a good update, and a broken config change that is
# rolled back, ConfigMap included; the production overlay of the app's kustomize base (examples/web/kustomize)
# deployed by digest; then, on an existing Deployment, a good version, a broken version (its image crash-loops) that kube-ship catches and rolls back, then a version that is Ready
# and crashes 10 s later (what `kubectl rollout status` calls a success), caught by the bake, then a crash-looping
# release of a StatefulSet, rolled back with its stuck pod replaced (kubectl rollout undo would leave it stuck);
# then what users see: a release with its migration run first (pre-deploy) and checked during the bake (verify: every
# pod and the Service through the API server's proxies, the error rate in Prometheus), a release that is Ready but
# answers 500 (caught by verify and rolled back), a failing migration that stops the deploy before any change, and a
# canary: a release answering 500 stopped at its one-pod canary, the stable Deployment untouched.
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
# The manifests' namespace starts empty: the first deploy makes everything in it.
kubectl delete namespace kube-ship-demo-app --ignore-not-found --wait=true >/dev/null
kubectl create namespace kube-ship-demo-app >/dev/null
# So does the production overlay's (the overlay names it).
kubectl delete namespace web-production --ignore-not-found --wait=true >/dev/null
kubectl create namespace web-production >/dev/null
kubectl apply -f examples/web/deployment.yaml -f examples/web/statefulset.yaml -f examples/web/jobs/service.yaml >/dev/null
kubectl -n kube-ship-demo rollout status deployment/web --timeout=120s >/dev/null
kubectl -n kube-ship-demo rollout status statefulset/web-cache --timeout=120s >/dev/null

run_dir=$(mktemp -d)
stamp=$(date +%s)
# deploy NAME TAG VARIANT BAKE [WORKLOADS [MANIFESTS]]: runs dist/index.js as the GitHub runner does (INPUT_* and
# GITHUB_* variables), on the Deployment web, or on WORKLOADS (`workloads` input), or applying MANIFESTS (in the
# namespace kube-ship-demo-app) when given, or the kustomization $KUSTOMIZE when set.
deploy() {
  local name=$1 tag=$2 variant=$3 bake=$4 workloads=${5:-} manifests=${6:-} dir="$run_dir/$1"
  local deployments=kube-ship-demo/web namespace=""
  [[ -z "$workloads" && -z "$manifests" && -z "${KUSTOMIZE:-}" ]] || deployments=""
  [[ -z "$manifests" ]] || namespace=kube-ship-demo-app""
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
    GITHUB_WORKSPACE="$root" INPUT_MANIFESTS="$manifests" INPUT_NAMESPACE="$namespace" \
    INPUT_DEPLOYMENTS="$deployments" INPUT_WORKLOADS="$workloads" INPUT_TIMEOUT=5m INPUT_ROLLBACK=true INPUT_FAIL-FAST=true INPUT_BAKE="$bake" \
    INPUT_ENVIRONMENT=demo INPUT_COMMENT=never INPUT_VERIFY="${VERIFY:-}" INPUT_PRE-DEPLOY="${PRE_DEPLOY:-}" INPUT_CANARY="${CANARY:-}" INPUT_KUSTOMIZE="${KUSTOMIZE:-}" \
    node dist/index.js || rc=$?
  echo
  echo "------------------- job summary ($name, exit code $rc) -------------------"
  cat "$dir/summary"
  echo "------------------- outputs -------------------"
  node -e 'const t = require("fs").readFileSync(process.argv[1], "utf8");
for (const m of t.matchAll(/^([^<\n]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) console.log(`${m[1]}: ${m[3]}`);' "$dir/output"
  return $rc
}

expect_rolled_back() {
  local result
  result=$(sed -n '/^result<</{n;p;}' "$run_dir/$1/output")
  [[ "$result" == rolled-back ]] || { echo "expected result rolled-back for $1, got $result" >&2; exit 1; }
}

deploy first-manifests "m1-$stamp" "first-$stamp" 5s "" examples/web/k8s
deploy update-manifests "m2-$stamp" "update-$stamp" 5s "" examples/web/k8s
# The broken config change: a new MODE in the ConfigMap, rolled out through the template's annotation; with it the
# pods crash (the test bed's kube-ship.dev/fault annotation stands for what the app would do with that config).
broken="$root/.stack/demo-broken-config"
rm -rf "$broken" && mkdir -p "$broken" && cp examples/web/k8s/*.yaml "$broken/"
sed -i 's/MODE: normal/MODE: broken/' "$broken/configmap.yaml"
sed -i 's/config-version: "1"/config-version: "2"\n        kube-ship.dev\/fault: crashloop/' "$broken/deployment.yaml"
if deploy config-manifests "m2-$stamp" "update-$stamp" 5s "" "${broken#"$root/"}"; then
  echo "the broken config change was expected to fail and roll back" >&2
  exit 1
fi
expect_rolled_back config-manifests
echo "ConfigMap after the rollback: MODE=$(kubectl -n kube-ship-demo-app get configmap web-config -o jsonpath='{.data.MODE}')"

# Kustomize: the production overlay built with the stack's kubectl, deployed by digest (no `kustomize edit set image`).
KUSTOMIZE=examples/web/kustomize/overlays/production
deploy kustomize-production "k1-$stamp" "kustomize-$stamp" 5s
KUSTOMIZE=""
echo "Production overlay: $(kubectl -n web-production get deployment web -o jsonpath='{.spec.replicas} replicas of {.spec.template.spec.containers[0].image}')"

deploy good "v-$stamp" "good-$stamp" 5s
for bad in broken:crashloop late:crashlate statefulset:crashloop; do
  name=${bad%%:*}
  workloads=""
  [[ "$name" != statefulset ]] || workloads=kube-ship-demo/statefulset/web-cache
  if deploy "$name" "${bad#*:}-$stamp" "$name-$stamp" 30s "$workloads"; then
    echo "the $name deploy was expected to fail and roll back" >&2
    exit 1
  fi
  expect_rolled_back "$name"
done

# What users see: the migration first, then checks of every pod, the Service and the error rate during the bake.
VERIFY="- http: {port: 8080, path: /healthz, grace: 10s, interval: 2s}
- http: {service: web, port: 80, path: /, body: '^ok', grace: 10s, interval: 2s}
- prometheus: {url: '$PROMETHEUS_URL', query: 'sum(rate(http_requests_total{code=~\"5..\",namespace=\"\$namespace\",pod=~\"\$pods\"}[30s]))', max: 0, on-no-data: pass, grace: 10s, interval: 2s}"
PRE_DEPLOY=examples/web/jobs/migrate.yaml
deploy verified "verified-$stamp" "verified-$stamp" 0s
PRE_DEPLOY=""
# Ready, and 500 on every request: kubectl rollout status says success; the checks say otherwise.
if deploy http500 "http500-$stamp" "http500-$stamp" 0s; then
  echo "the http500 deploy was expected to fail verify and roll back" >&2
  exit 1
fi
expect_rolled_back http500
VERIFY=""
# A migration that fails: the deploy stops within seconds, with its logs, and the Deployment is not touched.
failing="$root/.stack/demo-failing-migration.yaml"
sed 's/^    spec:$/    metadata:\n      annotations:\n        kube-ship.dev\/fault: jobfail\n    spec:/' examples/web/jobs/migrate.yaml >"$failing"
PRE_DEPLOY="${failing#"$root/"}"
if deploy migration "migration-$stamp" "migration-$stamp" 0s; then
  echo "the failing migration was expected to stop the deploy" >&2
  exit 1
fi
PRE_DEPLOY=""
# Canary first: a release that is Ready but answers 500 meets one pod of its own, behind the same Service, and is
# stopped there by the checks; the stable Deployment is never touched.
CANARY=1
VERIFY="- http: {port: 8080, path: /, grace: 6s, interval: 2s}"
if deploy canary "http500-canary-$stamp" "canary-$stamp" 0s; then
  echo "the canary of a release answering 500 was expected to be stopped" >&2
  exit 1
fi
expect_rolled_back canary
CANARY=""
VERIFY=""

echo
echo "demo done: the manifests made their first deploy and a good update; the broken config change was rolled"
echo "back, ConfigMap and template both; the kustomize production overlay deployed by digest; the good version deployed; the crash-looping one was caught in seconds and rolled back; the one"
echo "that crashed 10 s after becoming Ready (kubectl rollout status: success) was caught by the bake and rolled back;"
echo "the StatefulSet's crash-looping release was rolled back and its stuck pod replaced: every pod Ready again;"
echo "a release ran its migration first and passed its checks of every pod, the Service and the error rate; one that was"
echo "Ready but answered 500 was caught by those checks and rolled back; a failing migration stopped the deploy first;"
echo "and a release answering 500 met one canary pod first and was stopped there, the stable Deployment untouched."
kubectl -n kube-ship-demo-app get deployment,service,ingress,configmap -o wide
kubectl -n web-production get deployment,service,ingress,configmap -o wide
kubectl -n kube-ship-demo get deployment web -o wide
kubectl -n kube-ship-demo get statefulset web-cache -o wide
rm -rf "$run_dir"
