/**
 * P16: a crash-looping upgrade of a Helm release (examples/chart, `fault=crashloop`), from the upgrade's start to the
 * release restored. kube-ship: the bundled action with `chart` (it installs the chart first, then releases the
 * crashing change; bake 0s), from its Deploy group (helm upgrade --install starts) to its verdict (the Rollback
 * group opens) and to its "Restored and healthy" line. Helm alone: `helm upgrade --rollback-on-failure --timeout 2m`
 * of the same change to the same chart and digest in another namespace, from its start to its exit (it waits for the
 * crash loop until its timeout, then rolls back). Both with the stack's admin kubeconfig and helm.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  REGISTRY,
  ROOT,
  env,
  expectResult,
  kubectl,
  launch,
  now,
  result,
  say,
  secs,
  startAction,
  type ActionProc,
  type Line,
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
