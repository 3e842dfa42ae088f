/**
 * What the bench's cases share (bench/bench.ts, verdicts.ts, cancel.ts, soak.ts): processes whose output lines carry
 * arrival times, the bundled action run the way the GitHub runner runs it (same variables as
 * __tests__/e2e/harness.ts), the bench's Deployments, kubectl watchers, the API server's audit log read back per
 * identity, statistics and the table.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  NAMESPACE,
  REGISTRY,
  ROOT,
  env,
  parseRunnerFile,
  runnerEnvironment,
  type AuditEvent,
  type Rule,
} from '../__tests__/e2e/harness.js';

export { NAMESPACE, REGISTRY, ROOT, env };
// The audit log reader and the ServiceAccount user names are the end-to-end harness's: one copy for tests and bench.
export { Audit, serviceAccountUser, type AuditEvent } from '../__tests__/e2e/harness.js';
export const NODE = join(ROOT, 'node_modules/.bin/node');
/** The bundle measured: dist/index.js, or another build (e.g. an older one, to compare) with KUBE_SHIP_BUNDLE. */
export const BUNDLE = process.env.KUBE_SHIP_BUNDLE || join(ROOT, 'dist/index.js');
/** Wall-clock milliseconds with sub-millisecond resolution (comparable with the audit log's timestamps). */
export const now = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const say = (m: string): void => void process.stderr.write(`[bench] ${m}\n`);

// ------------------------------------------------------------------------------------------------ processes
export interface Line {
  t: number;
  text: string;
}
/** The lines a kept log or an error message may show: all but `::add-mask::` lines (they hold secrets). */
export const shownLines = (lines: Line[]): Line[] => lines.filter((l) => !l.text.startsWith('::add-mask::'));
/** The shown lines as text. */
export const logText = (lines: Line[]): string =>
  shownLines(lines)
    .map((l) => l.text)
    .join('\n');
/** The last `n` shown lines as text, for an error message. */
const tail = (lines: Line[], n: number): string => logText(shownLines(lines).slice(-n));
export interface Proc {
  pid: number;
  startedAt: number;
  lines: Line[];
  exited: Promise<{ code: number; t: number }>;
  /** Resolves with the arrival time of the first line matching `re` (also one that already arrived). */
  waitLine(re: RegExp, timeoutMs?: number): Promise<Line>;
  stop(): void;
}

/** Spawns a process; every stdout/stderr line is stored with the time it arrived. */
export function launch(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const startedAt = now();
  const child = spawn(cmd, args, {
    env: options.env ?? process.env,
    cwd: options.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  const waiters: { re: RegExp; resolve: (l: Line) => void }[] = [];
  const feed = (): ((d: Buffer) => void) => {
    let rest = '';
    return (d) => {
      const t = now();
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const text of parts) {
        const line = { t, text };
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(text)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    };
  };
  child.stdout.on('data', feed());
  child.stderr.on('data', feed());
  const exited = new Promise<{ code: number; t: number }>((done) =>
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 128 : -1), t: now() })),
  );
  return {
    pid: child.pid ?? 0,
    startedAt,
    lines,
    exited,
    waitLine(re, timeoutMs = 300_000) {
      const seen = lines.find((l) => re.test(l.text));
      if (seen) return Promise.resolve(seen);
      return new Promise<Line>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no line matching ${re} within ${timeoutMs} ms from ${cmd} ${args.slice(0, 3).join(' ')}\n${tail(lines, 15)}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        void exited.then(() =>
          setTimeout(() => reject(new Error(`exited before a line matching ${re}:\n${tail(lines, 15)}`)), 50),
        );
      });
    },
    // Only the process this helper started, by its PID.
    stop: () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGTERM')),
  };
}

/** Runs a command to completion; throws with its output when it fails (unless allowFail). */
export function run(
  cmd: string,
  args: string[],
  options: { input?: string; allowFail?: boolean; env?: NodeJS.ProcessEnv } = {},
): string {
  const r = spawnSync(cmd, args, {
    env: options.env ?? env,
    input: options.input,
    encoding: 'utf8',
    cwd: ROOT,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0 && !options.allowFail)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout.slice(-2000)}`);
  return r.stdout;
}

/** `cmd args` under /usr/bin/time, which writes the process's peak RSS (KiB) to `rssFile` when it exits. */
export function launchTimed(
  cmd: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; rssFile: string },
): Proc & { rssKiB(): number } {
  const { rssFile } = options;
  const proc = launch('/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args], { env: options.env });
  return { ...proc, rssKiB: () => Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) };
}

export const kubectl = (args: string[], input?: string, kubeconfig = env.KUBECONFIG ?? ''): string =>
  run('kubectl', ['--kubeconfig', kubeconfig, ...args], { input });

/** `kubectl ARGS` as a process whose lines are timed, with the stack's admin kubeconfig unless told another. */
export const startKubectl = (args: string[], kubeconfig = env.KUBECONFIG ?? ''): Proc =>
  launch('kubectl', ['--kubeconfig', kubeconfig, ...args], { env });

/** `kubectl get -w` with custom columns; resolves once the initial listing printed `ready` (watch established). */
export async function watcher(args: string[], ready: RegExp): Promise<Proc> {
  const w = startKubectl(['get', ...args, '-w', '--no-headers']);
  await w.waitLine(ready, 20_000);
  return w;
}

// ------------------------------------------------------------------------------------------------ the action
export interface ActionProc extends Proc {
  dir: string;
  rssFile: string;
  /** After exit: outputs, summary, peak RSS (KiB, from /usr/bin/time). */
  finish(): Promise<{ code: number; t: number; outputs: Record<string, string>; summary: string; rssKiB: number }>;
}

/**
 * Starts `node dist/index.js` as the runner does (INPUT_* with the input names upper-cased, hyphens kept,
 * GITHUB_* variables, the runner's files), under /usr/bin/time for the peak RSS; `bundle` (default BUNDLE) is the
 * file started.
 */
export function startAction(
  inputs: Record<string, string>,
  extraEnv: Record<string, string> = {},
  bundle = BUNDLE,
): ActionProc {
  const { env: childEnv, files, dir } = runnerEnvironment(inputs, { INPUT_TIMEOUT: '5m', ...extraEnv });
  const rssFile = join(dir, 'rss');
  const proc = launchTimed(NODE, [bundle], { env: childEnv, rssFile });
  return {
    ...proc,
    dir,
    rssFile,
    async finish() {
      const exit = await proc.exited;
      return {
        ...exit,
        outputs: parseRunnerFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        rssKiB: proc.rssKiB(),
      };
    },
  };
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The action's line saying it patched `key` (`namespace/name`), with its time. */
export const patchLine = (a: ActionProc, key: string): Promise<Line> =>
  a.waitLine(new RegExp(`^${escapeRegExp(key)}: app -> `));

// ------------------------------------------------------------------------------------------------ cluster objects
/** The bench Deployments' progressDeadlineSeconds (Kubernetes' default is 600): what kubectl waits on a stuck rollout. */
export const PROGRESS_DEADLINE_SECONDS = 120;
/** The stack's deployer ServiceAccount (kube-ship's identity; scripts/stack/up.sh), in NAMESPACE. */
export const DEPLOYER_SA = 'kube-ship-deployer';
/** What the baselines' own identities may do: read Deployments, ReplicaSets and pods, as kubectl rollout status does. */
export const READER_RULES: Rule[] = [
  { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
];

export interface DeploymentSpec {
  namespace: string;
  replicas: number;
  image: string;
  labels: Record<string, string>;
  /** The KWOK stage's `kube-ship.dev/ready-delay`: how long a new pod takes to become ready. */
  readyDelay?: string;
  nodeSelector?: Record<string, string>;
  /** RollingUpdate maxSurge / maxUnavailable (Kubernetes' defaults when `surge` is left out). */
  surge?: number;
  unavailable?: number;
}
/** A Deployment of the bench: pods selected by `app: name`, a readiness probe that passes, the bench's deadline. */
export function deploymentManifest(name: string, s: DeploymentSpec) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: s.namespace, labels: s.labels },
    spec: {
      replicas: s.replicas,
      progressDeadlineSeconds: PROGRESS_DEADLINE_SECONDS,
      selector: { matchLabels: { app: name } },
      ...(s.surge === undefined
        ? {}
        : { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: s.surge, maxUnavailable: s.unavailable } } }),
      template: {
        metadata: {
          labels: { app: name },
          annotations: s.readyDelay ? { 'kube-ship.dev/ready-delay': s.readyDelay } : {},
        },
        spec: {
          ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
          containers: [
            {
              name: 'app',
              image: s.image,
              readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1, failureThreshold: 2 },
            },
          ],
        },
      },
    },
  };
}
export const namespaceManifest = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
/** `kubectl apply` (admin) of `items`, as one List. */
export const apply = (items: object[]): string =>
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));

// ------------------------------------------------------------------------------------------------ rollouts
interface DeploymentStatus {
  metadata: { name: string; generation: number };
  spec: { replicas: number };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number };
}
/** kubectl's rollout-status rule (without the deadline). */
export const complete = (d: DeploymentStatus): boolean => {
  const s = d.status ?? {};
  const upd = s.updatedReplicas ?? 0;
  return (
    (s.observedGeneration ?? 0) >= d.metadata.generation &&
    upd === d.spec.replicas &&
    (s.replicas ?? 0) === upd &&
    (s.availableReplicas ?? 0) === upd
  );
};
/** Polls until every Deployment matching `selector` in `namespace` is rolled out (kubectl's rule). */
export async function waitComplete(namespace: string, selector: string, timeoutMs = 240_000): Promise<void> {
  const until = now() + timeoutMs;
  for (;;) {
    const list = JSON.parse(kubectl(['get', 'deployments', '-n', namespace, '-l', selector, '-o', 'json'])) as {
      items: DeploymentStatus[];
    };
    if (list.items.length > 0 && list.items.every(complete)) return;
    if (now() > until) throw new Error(`deployments ${selector} in ${namespace} not rolled out after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** The action's finish, or an error with its last lines when its `result` output is not `want`. */
export async function expectResult(a: ActionProc, want: string) {
  const fin = await a.finish();
  if (fin.outputs.result !== want) {
    throw new Error(`expected result ${want}, got ${fin.outputs.result} (exit ${fin.code}):\n${tail(a.lines, 30)}`);
  }
  return fin;
}

// ------------------------------------------------------------------------------------------------ audit log

export function verbBreakdown(events: AuditEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) {
    const resource =
      e.uri
        .split('?')[0]
        ?.split('/')
        .filter((p) => p && !/^(api|apis|v1|apps|namespaces|kube-ship-e2e|authorization\.k8s\.io)$/.test(p))
        .slice(0, 1)
        .join('/') ?? '';
    const key = `${e.verb} ${resource}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ statistics
export const secs = (ms: number): number => ms / 1000;

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}
export function stat(values: number[]): Stat {
  const v = [...values].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2;
  return { median, min: v[0] ?? NaN, max: v[v.length - 1] ?? NaN, n: v.length };
}
/** The median of the finite values, NaN when there are none. */
export const median = (values: number[]): number => stat(values).median;

export interface Result {
  id: string;
  what: string;
  ours: number;
  baseline: number | null;
  baseline_tool: string;
  unit: string;
  ratio: number | null;
  runs: number;
  ours_min: number;
  ours_max: number;
  baseline_min: number | null;
  baseline_max: number | null;
  note?: string;
  /** Shown in the ratio column instead of a ratio, when the two numbers are not comparable (e.g. two verdicts). */
  ratio_text?: string;
  /** When the run that measured this row ended (rows kept from an earlier run keep theirs). */
  measured_at?: string;
  samples?: { ours: number[]; baseline: number[] };
}

const round = (x: number, unit: string): number =>
  unit === 's' ? Math.round(x * 100) / 100 : unit === 'MB' ? Math.round(x * 10) / 10 : Math.round(x * 10) / 10;

export function result(
  id: string,
  what: string,
  unit: string,
  ours: number[],
  baseline: number[] | null,
  baselineTool: string,
  note?: string,
): Result {
  const o = stat(ours);
  const b = baseline ? stat(baseline) : undefined;
  return {
    id,
    what,
    ours: round(o.median, unit),
    baseline: b ? round(b.median, unit) : null,
    baseline_tool: baselineTool,
    unit,
    ratio: b && b.median ? Math.round((o.median / b.median) * 1000) / 1000 : null,
    runs: o.n,
    ours_min: round(o.min, unit),
    ours_max: round(o.max, unit),
    baseline_min: b ? round(b.min, unit) : null,
    baseline_max: b ? round(b.max, unit) : null,
    ...(note ? { note } : {}),
    samples: { ours: ours.map((x) => round(x, unit)), baseline: (baseline ?? []).map((x) => round(x, unit)) },
  };
}

/** One plain-text (and Markdown-compatible) table. */
export function table(results: Result[]): string {
  const fmt = (x: number | null, unit: string): string =>
    x === null || Number.isNaN(x) ? '–' : `${x}${unit === 's' ? ' s' : ` ${unit}`}`;
  const rows = results.map((r) => [
    r.id,
    r.what,
    fmt(r.ours, r.unit),
    `${fmt(r.ours_min, r.unit)} – ${fmt(r.ours_max, r.unit)}`.replace(/ (s|ms|MB|MiB|KiB|requests) –/, ' –'),
    r.baseline === null ? '–' : fmt(r.baseline, r.unit),
    r.baseline === null
      ? '–'
      : `${fmt(r.baseline_min, r.unit)} – ${fmt(r.baseline_max, r.unit)}`.replace(
          / (s|ms|MB|MiB|KiB|requests) –/,
          ' –',
        ),
    r.baseline_tool,
    r.ratio_text ?? (r.ratio === null ? '–' : `${r.ratio}`),
    String(r.runs),
  ]);
  const head = [
    'id',
    'what',
    'kube-ship (median)',
    'min – max',
    'baseline (median)',
    'min – max',
    'baseline tool',
    'ratio',
    'runs',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
