/**
 * The real Helm: the helm binary on the runner's PATH, run through the one exec path with argv built by helm.ts.
 * It talks to the cluster kube-ship talks to (the loaded kubeconfig, written to a file of the runner's user only,
 * and its current context), and gives the image reference through a post-renderer that runs the action's own
 * bundle (a Helm 4 plugin in a private HELM_PLUGINS directory; a Helm 3 executable). The directory is removed by
 * `close`.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { lastErrorLine, type CommandResult, type Run } from '../image/exec.js';
import type { ChartSpec } from '../desired/chart.js';
import {
  historyArgs,
  manifestArgs,
  parseHistory,
  rollbackArgs,
  uninstallArgs,
  upgradeArgs,
  type Helm,
  type HelmCluster,
  type HelmCommandResult,
  type PostRenderer,
  type ReleaseRef,
  type Rendered,
  type UpgradeOptions,
} from './helm.js';
import { POST_RENDER_ARG } from './post-render.js';

/** The name of the post-renderer plugin kube-ship writes for Helm 4. */
export const PLUGIN_NAME = 'kube-ship-image';

export interface HelmSetup {
  run: Run;
  /** The kubeconfig kube-ship loaded, as a document (it holds credentials: written 0600, removed by close). */
  kubeconfig: string;
  context: string;
  env: NodeJS.ProcessEnv;
  /** How the bundle is started again as the post-renderer: node's path and the bundle's. */
  node: string;
  bundle: string;
}

/** A shell-safe single-quoted word. */
const quoted = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes the post-renderer both ways: a Helm 4 plugin directory, and an executable for Helm 3's --post-renderer. */
function writePostRenderer(dir: string, node: string, bundle: string): { plugins: string; executable: string } {
  const plugins = join(dir, 'plugins');
  mkdirSync(join(plugins, PLUGIN_NAME), { recursive: true });
  const plugin = {
    apiVersion: 'v1',
    name: PLUGIN_NAME,
    version: '1.0.0',
    type: 'postrenderer/v1',
    runtime: 'subprocess',
    runtimeConfig: { platformCommand: [{ command: node, args: [bundle, POST_RENDER_ARG] }] },
  };
  // JSON is YAML: no YAML writer needed for the plugin's descriptor.
  writeFileSync(join(plugins, PLUGIN_NAME, 'plugin.yaml'), JSON.stringify(plugin, null, 2));
  const executable = join(dir, 'post-render.sh');
  writeFileSync(executable, `#!/bin/sh\nexec ${quoted(node)} ${quoted(bundle)} ${POST_RENDER_ARG} "$@"\n`);
  chmodSync(executable, 0o700);
  return { plugins, executable };
}

/** Helm's answer as a result: ok, or its own last error line. */
function resultOf(out: CommandResult): HelmCommandResult {
  return {
    ok: out.exitCode === 0,
    message: out.exitCode === 0 ? '' : lastErrorLine(out).replace(/^Error: /, ''),
    stdout: out.stdout,
  };
}

export function createHelm(setup: HelmSetup): Helm & { close(): void } {
  const dir = mkdtempSync(join(setup.env.RUNNER_TEMP || tmpdir(), 'kube-ship-helm-'));
  chmodSync(dir, 0o700);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, setup.kubeconfig, { mode: 0o600 });
  const cluster: HelmCluster = { kubeconfig, context: setup.context };
  const renderer = writePostRenderer(dir, setup.node, setup.bundle);
  // Ours first, then the runner's own plugins (a getter for s3:// charts, say): HELM_PLUGINS is a path list.
  const env = { HELM_PLUGINS: renderer.plugins };
  let major = 4;
  const helm = (args: string[], abortable?: Pick<UpgradeOptions, 'signal' | 'onStarted'>) =>
    setup.run('helm', args, { env, ...abortable });

  return {
    async version() {
      const out = await helm(['version', '--template', '{{.Version}}']);
      if (out.exitCode !== 0) throw new Error(lastErrorLine(out));
      major = Number(/^v?(\d+)/.exec(out.stdout.trim())?.[1] ?? 4);
      const theirs = await setup.run('helm', ['env', 'HELM_PLUGINS']);
      if (theirs.exitCode === 0 && theirs.stdout.trim() !== '') {
        env.HELM_PLUGINS = `${renderer.plugins}${delimiter}${theirs.stdout.trim()}`;
      }
      return out.stdout.trim();
    },
    async latest(ref: ReleaseRef) {
      const out = await helm(historyArgs(ref, cluster));
      if (out.exitCode !== 0) {
        if (/release: not found/.test(out.stderr)) return undefined;
        throw new Error(`helm history ${ref.release}: ${lastErrorLine(out)}`);
      }
      return parseHistory(out.stdout);
    },
    async upgrade(spec: ChartSpec, namespace, image, options: UpgradeOptions) {
      const report = join(dir, `rendered-${Date.now()}.json`);
      const postRenderer: PostRenderer = {
        plugin: major >= 4 ? PLUGIN_NAME : renderer.executable,
        args: [image.image, image.reference, report],
      };
      const args = upgradeArgs(spec, namespace, cluster, postRenderer, {
        timeoutMs: options.timeoutMs,
        dryRun: options.dryRun ?? false,
      });
      const stopWatching = new AbortController();
      const seen = watchReport(report, options.onRendered, stopWatching.signal);
      const out = await helm(args, { signal: options.signal, onStarted: options.onStarted });
      stopWatching.abort();
      const told = await seen;
      const rendered: Rendered = existsSync(report)
        ? (JSON.parse(readFileSync(report, 'utf8')) as Rendered)
        : { uses: [], hooks: [] };
      // Helm may finish before the report was seen: what the post-renderer did is told all the same.
      if (!told && existsSync(report)) options.onRendered?.(rendered);
      return { ...resultOf(out), rendered };
    },
    async manifest(ref: ReleaseRef, revision?: number) {
      const out = await helm(manifestArgs(ref, cluster, revision));
      if (out.exitCode !== 0) throw new Error(`helm get manifest ${ref.release}: ${lastErrorLine(out)}`);
      return out.stdout;
    },
    async rollback(ref: ReleaseRef, revision: number, timeoutMs: number) {
      return resultOf(await helm(rollbackArgs(ref, cluster, revision, timeoutMs)));
    },
    async uninstall(ref: ReleaseRef, timeoutMs: number) {
      return resultOf(await helm(uninstallArgs(ref, cluster, timeoutMs)));
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a process runs (a zombie, exited and not yet reaped, does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/**
 * Stops a `helm upgrade` of `release` that a killed step left running (by its pid, checked to be that command), so
 * that it cannot finish after the post step's rollback. Returns whether there was one.
 */
export async function stopLeftHelm(pid: number, release: string): Promise<boolean> {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  const isOurs = /(^|\/)helm$/.test(argv[0] ?? '') && argv[1] === 'upgrade' && argv[2] === release;
  if (!isOurs || !running(pid)) return false;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; running(pid) && waited < 15_000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (running(pid)) process.kill(pid, 'SIGKILL');
  return true;
}

/**
 * Tells `onRendered` once the post-renderer's report appears (helm then goes on to hooks and the upgrade); returns
 * whether it did before `stop`.
 */
async function watchReport(
  file: string,
  onRendered: ((rendered: Rendered) => void) | undefined,
  stop: AbortSignal,
): Promise<boolean> {
  if (onRendered === undefined) return false;
  while (!stop.aborted) {
    if (existsSync(file)) {
      try {
        onRendered(JSON.parse(readFileSync(file, 'utf8')) as Rendered);
        return true;
      } catch {
        // Being written: read again on the next turn.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
