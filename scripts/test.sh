#!/usr/bin/env bash
# The test command: installs what the stack needs (the one step that uses the network), checks dist/, types, lint,
# formatting and workflows, runs the unit tests, and the end-to-end tests inside a fresh network namespace that has
# only loopback, on a stack of their own that is torn down afterwards. The end-to-end stack comes up and its tests
# run while the other checks run (check-dist builds into a copy: dist/, the bundle they run, is never rewritten);
# their output goes to .test-results/e2e.log and is shown when they end. Prints the checks that failed, the wall time,
# and last "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
# phase TITLE: the section's heading, with the seconds since the start. Not framed in "=" signs: a line framed so,
# with a time in it, reads like pytest's closing line ("== 3 passed in 4s =="), and one without counts reads as "no
# test ran" to whatever reads the closing lines of the run. For the same reason no line of the run reads "N things in
# X s" (pytest's "3 passed in 4s"): the per-file table says "end-to-end files: N; wall clock X seconds", and the
# stack says "stack up (X seconds)".
phase() { echo "[npm test] $1, from second $(($(date +%s) - started))"; }
wall_time() { echo "npm test: wall time $(( ($(date +%s) - started) / 60 ))m $(( ($(date +%s) - started) % 60 ))s"; }
ended=0 # set when the tally is printed; an earlier exit still prints the wall time
trap '((ended)) || wall_time' EXIT
root=$PWD
export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}" # npm, Go and the binary cache live under it
export PATH="$root/node_modules/.bin:$PATH" # node 24 from the `node` devDependency
[[ -x node_modules/.bin/node ]] || npm ci --no-audit --no-fund 2>&1 | sed -E 's/^(added [0-9]+ packages?) in /\1, took /'
mkdir -p .test-results
rm -f .test-results/*.json .test-results/*.txt .test-results/e2e.log

phase "install the stack's parts (apt, Go modules)"
bash scripts/stack/install.sh

phase "end-to-end tests started (own network namespace, own stack; output in .test-results/e2e.log)"
if unshare --net true 2>/dev/null; then
  unshare --net bash scripts/test-e2e.sh >.test-results/e2e.log 2>&1 &
elif [[ "${CI:-}" == "true" ]]; then
  echo "cannot create a network namespace (unshare --net); refusing to run e2e outside one in CI" >&2
  (exit 1) &
else
  echo "warning: no network namespace available; running e2e on the host's loopback" >&2
  bash scripts/test-e2e.sh >.test-results/e2e.log 2>&1 &
fi
e2e_pid=$!

failed=()
# check NAME COMMAND...: runs one check; a failure is recorded and the others still run.
check() {
  local name="$1"
  shift
  "$@" || failed+=("$name")
}

phase "dist"
check check-dist npm run --silent check-dist

phase "typecheck, lint, format"
check typecheck npm run --silent typecheck
check lint npm run --silent lint
check format npm run --silent format:check

phase "workflows (actionlint: .github/workflows, __tests__/workflows, README.md's examples against action.yml)"
check workflows bash scripts/lint-workflows.sh

phase "unit tests"
# The unit tests' temporary files go to a folder of this run, removed after them.
unit_tmp="$(mktemp -d)"
check unit env TMPDIR="$unit_tmp" vitest run --reporter=default --reporter=json --outputFile.json=.test-results/unit.json
rm -rf "$unit_tmp"

phase "end-to-end tests (waiting for them to end)"
e2e_rc=0
wait "$e2e_pid" || e2e_rc=$?
# Each file's time first, then the end-to-end log: its last lines are vitest's own summary and the stack going down.
if [[ -f .test-results/e2e-files.txt ]]; then
  echo "Time per end-to-end file (.test-results/e2e-files.txt):"
  cat .test-results/e2e-files.txt
fi
cat .test-results/e2e.log
[[ $e2e_rc -eq 0 ]] || failed+=(e2e)

if ((${#failed[@]})); then echo "failed: ${failed[*]}"; fi
ended=1
wall_time
# The tally is the last line: CI reads "tests: N passed, N failed" as the run's closing line.
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
if ((${#failed[@]})); then exit 1; fi
