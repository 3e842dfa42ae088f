/**
 * Building a kustomization (input `kustomize`) into the YAML kube-ship then treats exactly as `manifests`: with the
 * `kustomize` binary when it is on PATH, else with `kubectl kustomize` (kubectl is on GitHub's hosted runners). Both
 * run on the one exec path with argv built by pure functions; neither gets `--enable-helm`,
 * `--enable-alpha-plugins` or `--enable-exec`, so a kustomization runs no program of its own. The build's error
 * output is the repository's text: it is cleaned and clipped before it is part of any message.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { lastErrorLine, type Run } from '../image/exec.js';
import { MANIFESTS_TOTAL_LIMIT, mebibytes } from '../desired/manifest-files.js';
import { InputError } from '../lib/errors.js';
import { stripControls } from '../lib/log-text.js';
import { clip } from '../lib/text.js';

/** The programs that can build a kustomization, in the order they are looked for. */
export const KUSTOMIZE_TOOLS = ['kustomize', 'kubectl'] as const;
export type KustomizeTool = (typeof KUSTOMIZE_TOOLS)[number];

/** What one build gave: the rendered YAML, and the command that made it (for the log). */
export interface Kustomization {
  yaml: string;
  command: string;
}

/** Builds a kustomization directory (a path on the runner, already checked to be inside the workspace). */
export interface Kustomize {
  build(directory: string, shown: string): Promise<Kustomization>;
}

/** The argv of one build, never through a shell: `kustomize build DIR` or `kubectl kustomize DIR`. */
export function kustomizeArgv(tool: KustomizeTool, directory: string): string[] {
  return tool === 'kustomize' ? ['build', directory] : ['kustomize', directory];
}

/** The first of the tools found, or undefined when none is. */
export function chooseTool(found: (tool: KustomizeTool) => boolean): KustomizeTool | undefined {
  return KUSTOMIZE_TOOLS.find(found);
}

/** Longest part of a failed build's error output that a message quotes. */
export const BUILD_ERROR_LIMIT = 500;

/** What a failed build said, safe to print: the last line of its error output, controls removed, clipped. */
export function buildError(said: { exitCode: number; stdout: string; stderr: string }): string {
  return clip(stripControls(lastErrorLine({ ...said, stdout: '' })), BUILD_ERROR_LIMIT, 'cut');
}

/** Whether an executable file named `tool` is in one of PATH's directories (`.exe` too on Windows). */
export function onPath(tool: string, path: string | undefined, platform = process.platform): boolean {
  const names = platform === 'win32' ? [`${tool}.exe`, tool] : [tool];
  return (path ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .some((dir) =>
      names.some((name) => {
        try {
          accessSync(join(dir, name), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
    );
}

/**
 * How long a build may take: it is stopped (SIGTERM) then, named, before preflight's own limit (60 s) would end the
 * step with the message of an unanswering cluster and leave the build running.
 */
export const BUILD_LIMIT_MS = 45_000;

/** The real adapter: finds a tool on PATH (in `env`), runs the build on `run`, checks what it printed. */
export function createKustomize(run: Run, env: NodeJS.ProcessEnv, limitMs = BUILD_LIMIT_MS): Kustomize {
  return {
    async build(directory, shown) {
      const tool = chooseTool((t) => onPath(t, env.PATH));
      if (tool === undefined) {
        throw new InputError(
          'kustomize',
          `${JSON.stringify(shown)} cannot be built: neither kustomize nor kubectl is on PATH; install one in an ` +
            'earlier step (GitHub-hosted runners have kubectl; e.g. azure/setup-kubectl or ' +
            'imranismail/setup-kustomize), or render the manifests yourself and pass them as "manifests".',
        );
      }
      const args = kustomizeArgv(tool, directory);
      const command = `${tool} ${args.slice(0, -1).join(' ')}`;
      const limit = AbortSignal.timeout(limitMs);
      const result = await run(tool, args, { signal: limit });
      if (limit.aborted) {
        throw new InputError(
          'kustomize',
          `${JSON.stringify(shown)} did not build with ${command} within ${limitMs / 1000}s, and the build was ` +
            `stopped; run "${command} ${shown}" to see where it hangs (a remote base it cannot reach?).`,
        );
      }
      if (result.exitCode !== 0) {
        throw new InputError(
          'kustomize',
          `${JSON.stringify(shown)} did not build with ${command} (exit code ${result.exitCode}): ` +
            `${buildError(result)}; fix the kustomization (run "${command} ${shown}" to see the whole error).`,
        );
      }
      if (result.stdout.length > MANIFESTS_TOTAL_LIMIT) {
        throw new InputError(
          'kustomize',
          `${JSON.stringify(shown)} built ${result.stdout.length} bytes of objects, over the limit of ` +
            `${mebibytes(MANIFESTS_TOTAL_LIMIT)} for all manifests together; deploy fewer objects per step.`,
        );
      }
      return { yaml: result.stdout, command };
    },
  };
}
