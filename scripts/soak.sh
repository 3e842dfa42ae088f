#!/usr/bin/env bash
# npm run soak: SOAK_CYCLES (default 100) deploy/rollback cycles, one process each, on the local stack
# (bench/soak.ts). Fails when a cycle is not rolled back, a process outlives its last line by over 1 s, or the API
# server holds more open watches at the end than before.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
bash scripts/stack/up.sh
[[ -x /usr/bin/time ]] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
# shellcheck disable=SC1091
source "${KUBE_SHIP_STACK_DIR:-$PWD/.stack}/env"
node --import ./scripts/ts-hooks.mjs bench/soak.ts
