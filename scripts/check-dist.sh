#!/usr/bin/env bash
# Fails when the committed bundle is not the build of src/: the action runs dist/, not src/. Builds into an empty
# folder (DIST_OUT), so dist/ itself is never rewritten (the end-to-end tests run it while this check runs) and a file
# of dist/ that the build no longer makes (a stale chunk) is a difference too.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
DIST_OUT="$copy/dist" npm run build --silent >/dev/null
if ! git diff --quiet --exit-code -- dist/ || [ -n "$(git ls-files --others --exclude-standard dist/)" ] ||
  ! diff -r -q dist "$copy/dist" >&2; then
  echo "dist/ is not the build of src/: run 'npm run build' and commit dist/." >&2
  git diff --stat -- dist/ >&2
  exit 1
fi
echo "dist/ matches src/"
