#!/usr/bin/env bash
# npm run build: compiles src/ with tsc into lib/, bundles lib/index.js with ncc into dist/ (or DIST_OUT, made anew:
# a chunk the build no longer makes does not stay), then drops the code nothing references (scripts/prune-dist.ts).
# ncc runs from bundle/, whose tsconfig.json gives the npm package undici its stand-in (bundle/undici.js).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${DIST_OUT:-dist}")"
tsc -p tsconfig.build.json
rm -rf "$out"
(cd bundle && ncc build ../lib/index.js -o "$out" -m --license licenses.txt)
node scripts/prune-dist.ts "$out"
