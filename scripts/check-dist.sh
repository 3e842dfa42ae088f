#!/usr/bin/env bash
# Rebuilds dist/ from src/ and fails when the committed bundle differs: the action runs dist/, not src/.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
npm run build --silent >/dev/null
if ! git diff --quiet --exit-code -- dist/ || [ -n "$(git ls-files --others --exclude-standard dist/)" ]; then
  echo "dist/ is not the build of src/: run 'npm run build' and commit dist/." >&2
  git diff --stat -- dist/ >&2
  exit 1
fi
echo "dist/ matches src/"
