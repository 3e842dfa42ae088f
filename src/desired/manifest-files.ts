/**
 * Reading the `manifests` input's files: each line a file, a directory (its *.yaml, *.yml and *.json files, as
 * `kubectl apply -f DIR` reads them) or a glob, relative to the workspace. A line that names nothing is an error: a
 * typo must not deploy nothing. Only files inside the workspace are read (symlinks are followed to where they
 * lead first), and only up to a size per file and in all: a manifest is never read from elsewhere on the runner,
 * and a huge one fails here with its name instead of as an out-of-memory crash later.
 */
import { globSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { InputError } from '../lib/errors.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;
const GLOB = /[*?[\]{}]/;

/** Largest manifest file read: 1 MiB, the most one Kubernetes object may hold (etcd's request limit is 1.5 MiB). */
export const MANIFEST_FILE_LIMIT = 1024 * 1024;
/** Largest total of all manifest files, and of their objects once YAML aliases are expanded: 8 MiB. */
export const MANIFESTS_TOTAL_LIMIT = 8 * 1024 * 1024;

/** A size in the unit the limits are given in. */
export function mebibytes(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 100) / 100} MiB`;
}

/** A path as the workflow gave it, quoted and escaped: a file name can hold a newline or a workflow command. */
function quoted(path: string): string {
  return JSON.stringify(path);
}

function refuse(path: string, why: string, input = 'manifests'): never {
  throw new InputError(input, `${quoted(path)} ${why}`);
}

/** Whether `path` (already resolved) is the workspace or lies under it. */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}

/** Where a path really is, symlinks followed; refused when that is outside the workspace. */
function resolvedInside(root: string, path: string, input = 'manifests'): string {
  const shown = relative(root, path) || path;
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    refuse(shown, 'is a symlink to nothing; fix or remove the link.', input);
  }
  if (!inside(root, real)) {
    refuse(
      shown,
      `leads outside the workspace (to ${quoted(real)}); kube-ship reads manifests only from the workspace: ` +
        'copy the file into the repository instead of linking to it.',
      input,
    );
  }
  return real;
}

/** The path a line names, refused when it is absolute or climbs out of the workspace with "..". */
function namedInside(line: string, root: string, input: string): string {
  if (isAbsolute(line)) {
    refuse(line, 'is an absolute path; name the file relative to the workspace (the repository checkout).', input);
  }
  if (line.split(/[\\/]/).includes('..')) {
    refuse(line, 'leaves the workspace with ".."; name a file inside the workspace (the repository checkout).', input);
  }
  return join(root, line);
}

/**
 * A directory an input names (`kustomize`), by the same rules as the files of `manifests`: relative to the
 * workspace, inside it once symlinks are followed. Returns where it really is and how the workflow named it.
 */
export function workspaceDirectory(input: string, line: string, workspace: string): { real: string; shown: string } {
  const root = realpathSync(workspace);
  const path = namedInside(line, root, input);
  try {
    statSync(path);
  } catch {
    refuse(line, `does not exist (looked in ${quoted(root)}); check the path.`, input);
  }
  const real = resolvedInside(root, path, input);
  if (!statSync(real).isDirectory()) refuse(line, 'is not a directory; name the directory that holds it.', input);
  return { real, shown: relative(root, path) || '.' };
}

/** The lines' files, each as [the path as named under the workspace, where it really is]. */
function filesOf(line: string, root: string): [string, string][] {
  const path = namedInside(line, root, 'manifests');
  const named = (file: string): [string, string] => [file, resolvedInside(root, file)];
  if (GLOB.test(line)) {
    return globSync(line, { cwd: root })
      .map((f) => named(join(root, f)))
      .filter(([, real]) => statSync(real).isFile());
  }
  try {
    statSync(path);
  } catch {
    refuse(line, `does not exist (looked in ${quoted(root)}); check the path.`);
  }
  const real = resolvedInside(root, path);
  if (!statSync(real).isDirectory()) return [[path, real]];
  return globSync('*', { cwd: real })
    .filter((f) => MANIFEST_FILE.test(f))
    .map((f) => named(join(path, f)))
    .filter(([, file]) => statSync(file).isFile());
}

/** The files' texts, each named as a path relative to the workspace, in the order the lines give (sorted within one). */
export function readManifestFiles(lines: string[], workspace: string): { file: string; text: string }[] {
  const root = realpathSync(workspace);
  const seen = new Set<string>();
  const out: { file: string; text: string }[] = [];
  let total = 0;
  for (const line of lines) {
    const files = filesOf(line, root).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (files.length === 0) refuse(line, `matches no file (looked in ${quoted(root)}).`);
    for (const [path, real] of files) {
      if (seen.has(real)) continue;
      seen.add(real);
      const file = relative(root, path);
      const size = statSync(real).size;
      if (size > MANIFEST_FILE_LIMIT) {
        refuse(
          file,
          `is ${size} bytes, over the limit of ${mebibytes(MANIFEST_FILE_LIMIT)} per manifest file; ` +
            'split it into smaller files.',
        );
      }
      total += size;
      if (total > MANIFESTS_TOTAL_LIMIT) {
        refuse(
          file,
          `brings the manifests to ${total} bytes, over the limit of ${mebibytes(MANIFESTS_TOTAL_LIMIT)} ` +
            'for all manifest files together; deploy fewer objects per step.',
        );
      }
      out.push({ file, text: readFileSync(real, 'utf8') });
    }
  }
  return out;
}
