#!/usr/bin/env bash
# npm run bench: brings the local test bed up (scripts/stack/up.sh), then runs bench/bench.ts (kube-ship's bundled
# dist/index.js against kubectl, a Helm-style polling loop, and cold builds) and prints one table; the results
# go to bench/results/latest.json (rows of groups not run this time are kept from the previous file). BENCH_RUNS
# (default 3) sets the runs per case; BENCH_CASES (e.g. P8) the case groups; BENCH_P8_RUNS the P8 runs (default
# min(BENCH_RUNS, 2), about 4.5 minutes each); BENCH_INTERRUPTS the P17 interruptions per signal and per tool
# (default 20); BENCH_LOG_DIR keeps each P8 step's and each P17 run's log there. Takes about 15-20 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"   # Node 24 from the repository, as the runner's node24
bash scripts/stack/up.sh
# /usr/bin/time measures the step's peak RSS (Debian package `time`).
[[ -x /usr/bin/time ]] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
# shellcheck disable=SC1091
source "${KUBE_SHIP_STACK_DIR:-.stack}/env"
BENCH_TMP="$(mktemp -d)"
export BENCH_TMP
# A Docker config of our own: no login state from ~/.docker, no buildx plugin (classic BuildKit, as in CI images
# without buildx); removed afterwards.
export DOCKER_CONFIG="$BENCH_TMP/docker-config"
mkdir -p "$DOCKER_CONFIG"
trap 'rm -rf "$BENCH_TMP"' EXIT
node --import ./scripts/ts-hooks.mjs bench/bench.ts
