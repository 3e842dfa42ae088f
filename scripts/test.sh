#!/usr/bin/env bash
# The test command: installs what the stack needs (the one step that uses the network), checks types and dist/,
# runs the unit tests, then the end-to-end tests inside a fresh network namespace that has only loopback, on a
# stack of their own that is torn down afterwards. Prints one closing line: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}" # npm, Go and the binary cache live under it
export PATH="$root/node_modules/.bin:$PATH" # node 24 from the `node` devDependency
[[ -x node_modules/.bin/node ]] || npm ci
mkdir -p .test-results
rm -f .test-results/*.json

echo "== install the stack's parts (apt, Go modules) =="
bash scripts/stack/install.sh

echo "== typecheck, dist =="
npm run --silent typecheck
npm run --silent lint
npm run --silent format:check
npm run --silent check-dist

echo "== workflows (actionlint: .github/workflows, __tests__/workflows, README.md's examples against action.yml) =="
bash scripts/lint-workflows.sh

echo "== unit tests =="
unit_rc=0
vitest run --reporter=default --reporter=json --outputFile.json=.test-results/unit.json || unit_rc=$?

echo "== end-to-end tests (own network namespace, own stack) =="
e2e_rc=0
if unshare --net true 2>/dev/null; then
  unshare --net bash scripts/test-e2e.sh || e2e_rc=$?
elif [[ "${CI:-}" == "true" ]]; then
  echo "cannot create a network namespace (unshare --net); refusing to run e2e outside one in CI" >&2
  e2e_rc=1
else
  echo "warning: no network namespace available; running e2e on the host's loopback" >&2
  bash scripts/test-e2e.sh || e2e_rc=$?
fi

node -e '
const fs = require("fs");
let passed = 0, failed = 0;
for (const f of ["unit", "e2e"]) {
  const file = `.test-results/${f}.json`;
  if (!fs.existsSync(file)) { console.log(`${f}: no results (the run did not start)`); failed += 1; continue; }
  const r = JSON.parse(fs.readFileSync(file, "utf8"));
  console.log(`${f}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
  passed += r.numPassedTests; failed += r.numFailedTests;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
'
[[ $unit_rc -eq 0 && $e2e_rc -eq 0 ]]
