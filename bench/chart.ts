/**
 * P16: a crash-looping upgrade of a Helm release (examples/chart, `fault=crashloop`), from the upgrade's start to the
 * release restored. kube-ship: the bundled action with `chart` (it installs the chart first, then releases the
 * crashing change; bake 0s), from its Deploy group (helm upgrade --install starts) to its verdict (the Rollback
 * group opens) and to its "Restored and healthy" line. Helm alone: `helm upgrade --rollback-on-failure --timeout 2m`
 * of the same change to the same chart and digest in another namespace, from its start to its exit (it waits for the
 * crash loop until its timeout, then rolls back). Both with the stack's admin kubeconfig and helm.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRunnerFile, runnerEnvironment } from '../__tests__/e2e/harness.js';
import {
  BUNDLE,
  NODE,
  REGISTRY,
  ROOT,
  env,
  expectResult,
  kubectl,
  launch,
  shownLines,
  now,
  result,
  say,
  secs,
  sleep,
  startAction,
  type ActionProc,
  type Line,
  type Proc,
  type Result,
} from './lib.js';

export interface ChartOptions {
  runs: number;
}

const CHART = 'examples/chart';
const IMAGE = `${REGISTRY}/bench/chart-web`;
const HELM_TIMEOUT = '2m';

function freshNamespace(name: string): string {
  kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=true']);
  kubectl(['create', 'namespace', name]);
  return name;
}

const helm = (args: string[]): string =>
  execFileSync('helm', args, { encoding: 'utf8', env: { ...process.env, ...env } });

/** The newest revision of the release: its number, status and description. */
function newest(ns: string): { revision: number; status: string; description: string } {
  const list = JSON.parse(helm(['history', 'web', '-n', ns, '-o', 'json'])) as {
    revision: number;
    status: string;
    description: string;
  }[];
  const last = list[list.length - 1];
  if (last === undefined) throw new Error(`P16: no release web in ${ns}`);
  return last;
}

const at = (a: ActionProc, re: RegExp, what: string): Line => {
  const line = a.lines.find((l) => re.test(l.text));
  if (!line) throw new Error(`P16: no ${what} line in kube-ship's log`);
  return line;
};

interface ShipRun {
  toVerdict: number;
  toRestored: number;
  tag: string;
  after: string;
}

function shipInputs(ns: string, tag: string, set: string[]) {
  return {
    image: IMAGE,
    tags: tag,
    context: join(ROOT, 'examples/web'),
    'build-args': `VARIANT=${tag}\nBASE_IMAGE=${env.BASE_IMAGE ?? 'kube-ship/busybox:latest'}`,
    deployments: '',
    namespace: ns,
    chart: CHART,
    set: [`image.repository=${IMAGE}`, 'replicas=2', ...set].join('\n'),
    bake: '0s',
  };
}

/** kube-ship: install, then the crashing upgrade; times from its own log. */
async function ship(ns: string, tag: string): Promise<ShipRun> {
  await expectResult(startAction(shipInputs(ns, tag, [])), 'success');
  const a = startAction(shipInputs(ns, tag, ['fault=crashloop']));
  await expectResult(a, 'rolled-back');
  const deploy = at(a, /^::group::Deploy$/, 'Deploy');
  const verdict = at(a, /^::group::Rollback$/, 'Rollback');
  const restored = at(a, /^Restored and healthy /, 'Restored and healthy');
  const last = newest(ns);
  return {
    toVerdict: verdict.t - deploy.t,
    toRestored: restored.t - deploy.t,
    tag,
    after: `revision ${last.revision} ${last.status} (${last.description})`,
  };
}

/** Helm alone: install (waited for), then the crashing upgrade with --rollback-on-failure. */
async function helmAlone(ns: string, tag: string): Promise<{ wall: number; after: string }> {
  const values = ['--set', `image.repository=${IMAGE}`, '--set', `image.tag=${tag}`, '--set', 'replicas=2'];
  helm(['install', 'web', join(ROOT, CHART), '-n', ns, ...values, '--wait', '--timeout', '2m']);
  const started = now();
  const upgrade = launch(
    'helm',
    [
      'upgrade',
      'web',
      join(ROOT, CHART),
      '-n',
      ns,
      ...values,
      '--set',
      'fault=crashloop',
      '--rollback-on-failure',
      '--timeout',
      HELM_TIMEOUT,
    ],
    { env: { ...process.env, ...env } },
  );
  const exit = await upgrade.exited;
  if (exit.code === 0) throw new Error('P16: helm upgrade of a crash-looping release succeeded');
  const last = newest(ns);
  return { wall: exit.t - started, after: `revision ${last.revision} ${last.status} (${last.description})` };
}

export async function benchChart(opts: ChartOptions): Promise<Result[]> {
  const stamp = Date.now().toString(36);
  const ours: ShipRun[] = [];
  const theirs: number[] = [];
  const namespaces: string[] = [];
  const afters: string[] = [];
  for (let i = 0; i < opts.runs; i += 1) {
    const a = freshNamespace(`kube-ship-bench-p16-ks-${i + 1}`);
    const b = freshNamespace(`kube-ship-bench-p16-helm-${i + 1}`);
    namespaces.push(a, b);
    const r = await ship(a, `p16-${stamp}-${i + 1}`);
    const h = await helmAlone(b, r.tag);
    ours.push(r);
    theirs.push(h.wall);
    afters.push(`run ${i + 1}: kube-ship left ${r.after}; helm left ${h.after}`);
    say(
      `P16 run ${i + 1}: kube-ship upgrade -> verdict ${secs(r.toVerdict).toFixed(2)} s, -> restored and healthy ${secs(r.toRestored).toFixed(2)} s; helm --rollback-on-failure ${secs(h.wall).toFixed(2)} s`,
    );
  }
  kubectl(['delete', 'namespace', ...namespaces, '--ignore-not-found', '--wait=false']);
  const base = `\`helm upgrade --rollback-on-failure --timeout ${HELM_TIMEOUT}\` (start -> exit, rolled back)`;
  return [
    result(
      'P16',
      'crash-looping Helm chart upgrade (examples/chart, 2 replicas): upgrade start -> release restored and healthy',
      's',
      ours.map((r) => secs(r.toRestored)),
      theirs.map(secs),
      base,
      afters.join('; '),
    ),
    result(
      'P16b',
      "the same: upgrade start -> kube-ship's verdict (helm gives none before its timeout: its exit)",
      's',
      ours.map((r) => secs(r.toVerdict)),
      theirs.map(secs),
      base,
    ),
  ];
}

// ------------------------------------------------------------------------------------------------ P17
/*
 * P17: a chart upgrade interrupted mid-release, BENCH_INTERRUPTS times per signal and per tool: the release's newest
 * revision afterwards, counted when it is `pending-*` (Helm then refuses the next upgrade). The upgrade runs the
 * chart's pre-upgrade migration hook (its pod takes HOOK_DELAY to finish) and rolls out a new pod template. Each tool
 * first releases such an upgrade once uninterrupted, which gives the length L of its release (kube-ship: from its
 * Deploy group, i.e. its helm upgrade --install starting, to the step's exit; helm: from its start to its exit); each
 * signal then comes at a random point from 0.3 s to 0.95 L after the upgrade started. SIGINT is the runner's cancel
 * (SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, each only while the process lives), counted when the step
 * has exited; kube-ship's post step then runs as the runner's would. SIGKILL: kube-ship's post step runs with the
 * state the killed step saved, then the count; helm has no post step, the count follows its death. Each run starts
 * from a deployed release.
 */

export interface InterruptOptions {
  /** Runs per signal and per tool. */
  runs: number;
}

const HOOK_DELAY = '4s';
type Interruption = 'SIGINT' | 'SIGKILL';

interface Revision {
  revision: number;
  status: string;
  description: string;
}

interface Interrupted {
  /** When the signal came, ms after the upgrade started. */
  at: number;
  /** The newest revision counted: after the cancelled step, or after the killed step's post step (helm: its exit). */
  left: Revision;
  /** kube-ship: the newest revision when the interrupted step had exited, before its post step. */
  beforePost?: Revision;
  /** kube-ship: the newest revision after its post step. */
  afterPost?: Revision;
  /** The process had exited before the signal: not an interruption. */
  missed: boolean;
  /** kube-ship: whether the signal found its helm upgrade done (kube-ship watching the release's workloads). */
  watching?: boolean;
  log: string;
}

const history = (ns: string): Revision[] => JSON.parse(helm(['history', 'web', '-n', ns, '-o', 'json'])) as Revision[];

function newestOf(ns: string): Revision {
  const last = history(ns).at(-1);
  if (last === undefined) throw new Error(`P17: no release web in ${ns}`);
  return last;
}

const isPending = (r: Revision | undefined): boolean => r?.status.startsWith('pending-') ?? false;
const shown = (r: Revision | undefined): string => (r ? `revision ${r.revision} ${r.status} (${r.description})` : '-');
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Back to a deployed release: a rollback (waited for) to the newest good revision when the newest is not deployed. */
function resetRelease(ns: string): void {
  const revisions = history(ns);
  const last = revisions.at(-1);
  if (last === undefined || last.status === 'deployed') return;
  const good = revisions.findLast(
    (r) => r.revision < last.revision && (r.status === 'deployed' || r.status === 'superseded'),
  );
  if (good === undefined) throw new Error(`P17: no revision of web in ${ns} to go back to (${shown(last)})`);
  helm(['rollback', 'web', String(good.revision), '-n', ns, '--wait', '--timeout', '2m']);
  if (newestOf(ns).status !== 'deployed') throw new Error(`P17: web in ${ns} not deployed after its reset`);
}

/** A random point of a release `length` ms long: from 0.3 s to 95 % of it. */
const randomPoint = (length: number): number => 300 + Math.random() * Math.max(0, 0.95 * length - 300);

/** The runner's cancel of a process (actions/runner): SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that. */
function cancelAsRunner(proc: Proc): void {
  let alive = true;
  void proc.exited.then(() => (alive = false));
  process.kill(proc.pid, 'SIGINT');
  setTimeout(() => alive && process.kill(proc.pid, 'SIGTERM'), 7500);
  setTimeout(() => alive && process.kill(proc.pid, 'SIGKILL'), 10_000);
}

/** Interrupts `proc` at `at` ms after `start` (none when `signal` is undefined); whether it was still running then. */
async function interruptAt(proc: Proc, start: number, at: number, signal?: Interruption): Promise<boolean> {
  let running = true;
  void proc.exited.then(() => (running = false));
  if (signal === undefined) return true;
  await sleep(Math.max(0, start + at - now()));
  if (!running) return false;
  if (signal === 'SIGINT') cancelAsRunner(proc);
  else process.kill(proc.pid, 'SIGKILL');
  return true;
}

/** The upgrade each run releases: the migration hook runs, and a new word in the fault annotation changes the pods. */
const upgradeSet = (run: string): string[] => [
  'replicas=2',
  'migration.enabled=true',
  `migration.delay=${HOOK_DELAY}`,
  `fault=${run}`,
];

function interruptShipInputs(ns: string, tag: string, run: string): Record<string, string> {
  return {
    build: 'false',
    image: IMAGE,
    tags: tag,
    deployments: '',
    namespace: ns,
    chart: CHART,
    set: [`image.repository=${IMAGE}`, ...upgradeSet(run)].join('\n'),
    bake: '0s',
  };
}

/** With BENCH_LOG_DIR set, each P17 run's log is kept there as p17-RUN-TOOL.log. */
function keepLog(name: string, text: string): void {
  const dir = process.env.BENCH_LOG_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.log`), `${text}\n`);
}

const stamped = (lines: Line[]): string =>
  shownLines(lines)
    .map((l) => `${new Date(l.t).toISOString().slice(11, 23)} ${l.text}`)
    .join('\n');

/**
 * kube-ship's step as the runner starts it (node itself, so that a signal reaches it), interrupted at a random point
 * of `length` (not at all without `signal`: then `at` is the release's length), then its post step.
 */
async function shipRelease(
  ns: string,
  tag: string,
  run: string,
  length: number,
  signal?: Interruption,
): Promise<Interrupted> {
  resetRelease(ns);
  const inputs = interruptShipInputs(ns, tag, run);
  const main = runnerEnvironment(inputs, { INPUT_TIMEOUT: '5m' });
  const step = launch(NODE, [BUNDLE], { env: main.env });
  const deploy = await step.waitLine(/^::group::Deploy$/, 120_000);
  const point = randomPoint(length);
  const hit = await interruptAt(step, deploy.t, point, signal);
  const exit = await step.exited;
  const at = signal === undefined ? exit.t - deploy.t : point;
  const watching = step.lines.some((l) => l.t <= deploy.t + at && /^helm upgrade --install web: done/.test(l.text));
  const beforePost = newestOf(ns);
  const state = parseRunnerFile(readFileSync(main.files.GITHUB_STATE, 'utf8'));
  const stateEnv = Object.fromEntries(Object.entries({ ...state, isPost: 'true' }).map(([k, v]) => [`STATE_${k}`, v]));
  const post = launch(NODE, [BUNDLE], { env: runnerEnvironment(inputs, { INPUT_TIMEOUT: '5m', ...stateEnv }).env });
  await post.exited;
  const afterPost = newestOf(ns);
  const log = `--- step (${signal ?? 'no signal'} at ${seconds(at)}, exit ${exit.code})\n${stamped(step.lines)}\n--- post step\n${stamped(post.lines)}`;
  keepLog(`${run}-kube-ship`, log);
  const left = signal === 'SIGKILL' ? afterPost : beforePost;
  return { at, left, beforePost, afterPost, missed: !hit, watching, log };
}

/** Helm alone: `helm upgrade --install --wait --rollback-on-failure` of the same change, interrupted the same way. */
async function helmRelease(
  ns: string,
  tag: string,
  run: string,
  length: number,
  signal?: Interruption,
): Promise<Interrupted> {
  resetRelease(ns);
  const values = [`image.repository=${IMAGE}`, `image.tag=${tag}`, ...upgradeSet(run)].flatMap((s) => ['--set', s]);
  const args = ['upgrade', 'web', join(ROOT, CHART), '--install', '-n', ns, ...values, '--wait'];
  const upgrade = launch('helm', [...args, '--rollback-on-failure', '--timeout', HELM_TIMEOUT], {
    env: { ...process.env, ...env },
  });
  const point = randomPoint(length);
  const hit = await interruptAt(upgrade, upgrade.startedAt, point, signal);
  const exit = await upgrade.exited;
  const at = signal === undefined ? exit.t - upgrade.startedAt : point;
  const left = newestOf(ns);
  const log = `--- helm (${signal ?? 'no signal'} at ${seconds(at)}, exit ${exit.code})\n${stamped(upgrade.lines)}`;
  keepLog(`${run}-helm`, log);
  return { at, left, missed: !hit, log };
}

/** The release each tool interrupts: installed once (kube-ship builds the image), the migration hook enabled. */
async function installBoth(ks: string, hs: string, tag: string): Promise<void> {
  const install = { ...shipInputs(ks, tag, ['migration.enabled=true']), bake: '0s' };
  await expectResult(startAction(install), 'success');
  const values = [`image.repository=${IMAGE}`, `image.tag=${tag}`, 'replicas=2', 'migration.enabled=true'];
  helm(['install', 'web', join(ROOT, CHART), '-n', hs, ...values.flatMap((s) => ['--set', s]), '--wait']);
}

export async function benchInterrupts(opts: InterruptOptions): Promise<Result[]> {
  const tag = `p17-${Date.now().toString(36)}`;
  const ks = freshNamespace('kube-ship-bench-p17-ks');
  const hs = freshNamespace('kube-ship-bench-p17-helm');
  await installBoth(ks, hs, tag);
  const ourLength = (await shipRelease(ks, tag, 'p17-whole', 0)).at;
  const theirLength = (await helmRelease(hs, tag, 'p17-whole', 0)).at;
  say(
    `P17: an uninterrupted upgrade takes kube-ship ${seconds(ourLength)} (Deploy group -> exit), helm ${seconds(theirLength)} (start -> exit)`,
  );
  const rows: Result[] = [];
  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    const ours: Interrupted[] = [];
    const theirs: Interrupted[] = [];
    for (let i = 0; i < opts.runs; i += 1) {
      const run = `p17-${signal.toLowerCase()}-${i + 1}`;
      const o = await shipRelease(ks, tag, run, ourLength, signal);
      const h = await helmRelease(hs, tag, run, theirLength, signal);
      ours.push(o);
      theirs.push(h);
      const late = (r: Interrupted): string => (r.missed ? ' (it had exited)' : '');
      say(
        `P17 ${signal} run ${i + 1}: kube-ship at ${seconds(o.at)} (${o.watching ? 'watching' : 'in helm upgrade'})${late(o)}: after the step ${shown(o.beforePost)}, after its post step ${shown(o.afterPost)}; helm at ${seconds(h.at)}${late(h)}: ${shown(h.left)}`,
      );
      if (isPending(o.left)) say(`P17 ${signal} run ${i + 1}: kube-ship left the release pending:\n${o.log}`);
    }
    rows.push(interruptRow(signal, ours, theirs, { ours: ourLength, theirs: theirLength }));
  }
  kubectl(['delete', 'namespace', ks, hs, '--ignore-not-found', '--wait=false']);
  return rows;
}

/** How many runs left the release pending, with what each tool left and where the signals fell, in the note. */
function interruptRow(
  signal: Interruption,
  ours: Interrupted[],
  theirs: Interrupted[],
  lengths: { ours: number; theirs: number },
): Result {
  const pending = (runs: Interrupted[]): number[] => runs.map((r) => (isPending(r.left) ? 1 : 0));
  const count = (runs: Interrupted[]): number => pending(runs).filter((p) => p === 1).length;
  const missed = (runs: Interrupted[]): number => runs.filter((r) => r.missed).length;
  const statuses = (runs: Interrupted[]): string => {
    const n = new Map<string, number>();
    for (const r of runs) n.set(r.left.status, (n.get(r.left.status) ?? 0) + 1);
    return [...n].map(([s, k]) => `${k} ${s}`).join(', ');
  };
  const sigint = signal === 'SIGINT';
  const other = ours.filter((r) => isPending(sigint ? r.afterPost : r.beforePost)).length;
  const watching = ours.filter((r) => r.watching).length;
  const note =
    `newest revision left: kube-ship ${statuses(ours)}, helm ${statuses(theirs)}; ` +
    `kube-ship ${sigint ? 'after' : 'before'} its post step: ${other} pending; ` +
    `signals in kube-ship's helm upgrade ${ours.length - watching}, in its watch ${watching}; ` +
    `uninterrupted release: kube-ship ${seconds(lengths.ours)}, helm ${seconds(lengths.theirs)}; ` +
    `signals after the exit: kube-ship ${missed(ours)}, helm ${missed(theirs)}`;
  const row = result(
    sigint ? 'P17' : 'P17b',
    sigint
      ? "runner's cancel (SIGINT) mid-release of a chart upgrade (pre-upgrade hook + rollout): releases left pending-*"
      : 'SIGKILL mid-release of the same upgrade (kube-ship: then its post step): releases left pending-*',
    'releases',
    [count(ours)],
    [count(theirs)],
    sigint
      ? `\`helm upgrade --install --wait --rollback-on-failure --timeout ${HELM_TIMEOUT}\`, the same cancel`
      : 'the same helm, SIGKILL (no post step)',
    note,
  );
  say(
    `P17 ${signal} mid-release: releases left pending-*: kube-ship ${count(ours)}/${ours.length}, helm ${count(theirs)}/${theirs.length}`,
  );
  return {
    ...row,
    runs: ours.length,
    ratio: null,
    ratio_text: `${count(ours)}/${ours.length} vs ${count(theirs)}/${theirs.length}`,
    samples: { ours: pending(ours), baseline: pending(theirs) },
  };
}
