#!/usr/bin/env bash
# End-to-end tests on a stack of their own (state in .stack-test, own Docker engine), torn down afterwards.
# Run by scripts/test.sh inside a fresh network namespace: loopback is all there is. The files run at the same
# time, each in a namespace of its own, then the few that restart parts of the stack, alone (vitest.e2e.config.ts).
# Per-file times: .test-results/e2e-files.txt (and .json).
set -euo pipefail
cd "$(dirname "$0")/.."
ip link set lo up 2>/dev/null || true
export KUBE_SHIP_STACK_DIR="$PWD/.stack-test" KUBE_SHIP_OWN_DOCKER=1 KUBE_SHIP_SKIP_INSTALL=1
trap 'bash scripts/stack/down.sh' EXIT
bash scripts/stack/up.sh
vitest run --config vitest.e2e.config.ts --reporter=default --reporter=./__tests__/e2e/file-times.ts --reporter=json \
  --outputFile.json=.test-results/e2e.json
