/**
 * Reading the `manifests` input's files: each line a file, a directory (its *.yaml, *.yml and *.json files, as
 * `kubectl apply -f DIR` reads them) or a glob, relative to the workspace. A line that names nothing is an error: a
 * typo must not deploy nothing.
 */
import { globSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { InputError } from '../lib/errors.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;
const GLOB = /[*?[\]{}]/;

function filesOf(line: string, root: string): string[] {
  const absolute = isAbsolute(line) ? line : join(root, line);
  if (GLOB.test(line)) {
    return globSync(line, { cwd: root })
      .map((f) => (isAbsolute(f) ? f : join(root, f)))
      .filter((f) => statSync(f).isFile());
  }
  let stat;
  try {
    stat = statSync(absolute);
  } catch {
    throw new InputError('manifests', `"${line}" does not exist (looked in ${root}); check the path.`);
  }
  if (!stat.isDirectory()) return [absolute];
  return globSync('*', { cwd: absolute })
    .filter((f) => MANIFEST_FILE.test(f))
    .map((f) => join(absolute, f));
}

/** The files' texts, each named as a path relative to the workspace, in the order the lines give (sorted within one). */
export function readManifestFiles(lines: string[], root: string): { file: string; text: string }[] {
  const seen = new Set<string>();
  const out: { file: string; text: string }[] = [];
  for (const line of lines) {
    const files = filesOf(line, root).sort();
    if (files.length === 0) throw new InputError('manifests', `"${line}" matches no file (looked in ${root}).`);
    for (const path of files) {
      if (seen.has(path)) continue;
      seen.add(path);
      const shown = relative(root, path) || path;
      out.push({ file: shown.startsWith('..') ? path : shown, text: readFileSync(path, 'utf8') });
    }
  }
  return out;
}
