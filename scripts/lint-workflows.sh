#!/usr/bin/env bash
# actionlint over every workflow of the project: .github/workflows, __tests__/workflows (the ones act runs) and each
# workflow example in README.md. In the examples, `uses: kube-ship/kube-ship@...` becomes `uses: ./` (this
# repository's action.yml), so actionlint checks the inputs each example gives and the outputs it reads against
# action.yml: a misspelt input or output fails. Errors in an example point at README.md's own lines.
# Needs no network: actionlint is built once by scripts/stack/build-act.sh (install.sh runs it). shellcheck and
# pyflakes integration is off, so the result does not depend on what else is installed.
# Usage: scripts/lint-workflows.sh [MARKDOWN...]   (default: README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/stack/versions.sh
[[ -x "$ACTIONLINT_BIN" ]] || bash scripts/stack/build-act.sh
(( $# )) || set -- README.md

# The examples go into a project of their own (actionlint resolves `./` from the directory holding .git and
# .github/workflows) that links to this repository's files: its action.yml, and the dist/ that action.yml runs.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kube-ship-lint.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/.github/workflows"
touch "$tmp/.git"
for entry in "$root"/*; do ln -s "$entry" "$tmp/"; done

# One file per ```yaml block that is a workflow (a top-level `jobs:`), named MARKDOWN-L<first line>.yml.
node - "$tmp/.github/workflows" "$@" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const [out, ...docs] = process.argv.slice(2);
let bad = 0;
for (const doc of docs) {
  const lines = fs.readFileSync(doc, 'utf8').split('\n');
  let count = 0;
  for (let i = 0; i < lines.length; i += 1) {
    if (!/^```ya?ml\s*$/.test(lines[i])) continue;
    const start = i + 2; // 1-based number of the block's first line
    const body = [];
    for (i += 1; i < lines.length && !/^```\s*$/.test(lines[i]); i += 1) body.push(lines[i]);
    const text = body.join('\n');
    const usesUs = /uses:\s*kube-ship\/kube-ship@/.test(text);
    if (!/^jobs:/m.test(text)) {
      if (usesUs) {
        console.error(`${doc}:${start}: an example that uses kube-ship must be a whole workflow (with jobs:) to be linted`);
        bad += 1;
      }
      continue;
    }
    const local = text.replace(/uses:\s*kube-ship\/kube-ship@\S+/g, 'uses: ./');
    fs.writeFileSync(path.join(out, `${path.basename(doc)}-L${start}.yml`), `${local}\n`);
    count += 1;
  }
  console.log(`lint-workflows: ${count} workflow examples in ${doc}`);
}
process.exit(bad ? 1 : 0);
EOF

files=(.github/workflows/*.y*ml __tests__/workflows/*.y*ml "$tmp"/.github/workflows/*.yml)
format='{{range $e := .}}{{$e.Filepath}}:{{$e.Line}}:{{$e.Column}}: {{$e.Message}} [{{$e.Kind}}]\n{{end}}'
rc=0
report=$("$ACTIONLINT_BIN" -shellcheck= -pyflakes= -format "$format" "${files[@]}") || rc=$?
# An example's line numbers are its file's; give them as the Markdown file's.
printf '%s' "$report" | sed -E -e "s#$tmp#$root#g" -e 's#^[^:]*/([^/]+)-L([0-9]+)\.yml:([0-9]+):#\1:\2+\3:#' |
  awk -F: 'BEGIN { OFS = ":" } $2 ~ /\+/ { split($2, p, "+"); $2 = p[1] + p[2] - 1 } { print }'
if (( rc != 0 )); then
  echo "lint-workflows: actionlint found problems (exit $rc) in ${#files[@]} workflows" >&2
  exit 1
fi
echo "lint-workflows: ${#files[@]} workflows clean (actionlint $ACTIONLINT_VERSION)"
