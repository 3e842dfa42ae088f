/**
 * P13: `verify` and `pre-deploy`, each beside what people run instead, on the same cluster in one run.
 *
 * - P13/P13a: a release that is Ready but answers 500 (image word `http500`), 3 replicas, `verify: - http: {port:
 *   8080, path: /}` with the default grace (20s), `bake: 0s`: patch -> verdict and patch -> restored (the recorded
 *   template back, every pod Ready on it). `kubectl set image` + `kubectl rollout status` of the same release reports
 *   success.
 * - P13b: a 503 for 15 s after Ready (`http503blip`), default grace: how many of BENCH_P13_BLIPS deploys (default 20)
 *   are rolled back (goal 0), several at once on their own Deployments.
 * - P13c: a migration Job that fails (`kube-ship.dev/fault: jobfail`, backoffLimit left at its default 6) in
 *   `pre-deploy`: its first pod seen `Failed` by a watch -> the step's verdict line and exit, against `kubectl wait
 *   --for=condition=complete --timeout=120s` of the same kind of Job started at the same moment.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import {
  ROOT,
  apply,
  deploymentManifest,
  env,
  expectResult,
  kubectl,
  launch,
  logText,
  median,
  now,
  patchLine,
  result,
  run,
  say,
  sleep,
  startAction,
  startKubectl,
  waitComplete,
  type ActionProc,
  type Line,
  type Proc,
  type Result,
} from './lib.js';
import { workspaceDir } from '../__tests__/e2e/harness.js';

export interface VerifyOptions {
  runs: number;
  repo: string;
  ns: string;
  deployerKubeconfig: string;
}

const BROKEN = 'bench-p13';
const BROKEN_BASE = 'bench-p13-base';
const MIGRATED = 'bench-p13c';
const BLIPS = Number(process.env.BENCH_P13_BLIPS ?? 20);
/** P13b's deploys at once, each on its own Deployment (the machine has 2 cores). */
const AT_ONCE = Math.min(5, BLIPS);
const CHECK = '- http: {port: 8080, path: /}';
const KUBECTL_WAIT_S = 120;

/** The sample app with a variant of its own, so that each tag has its own digest (as bench.ts builds its tags). */
function buildTag(repo: string, tag: string): void {
  const args = ['build', '--network', 'host', '--build-arg', `VARIANT=bench-${tag}`];
  args.push('--build-arg', `BASE_IMAGE=${env.BASE_IMAGE}`, '-t', `${repo}:${tag}`, join(ROOT, 'examples/web'));
  run('docker', args, { env: { ...env, DOCKER_BUILDKIT: '1' } });
  run('docker', ['push', `${repo}:${tag}`]);
}

const inputs = (o: VerifyOptions, name: string, tag: string, more: Record<string, string>) => ({
  bake: '0s',
  build: 'false',
  image: o.repo,
  tags: tag,
  deployments: `${o.ns}/${name}`,
  kubeconfig: o.deployerKubeconfig,
  namespace: o.ns,
  ...more,
});

/** Fresh Deployments of 3 (1 for P13c) on the good image, rolled out. */
async function freshDeployments(o: VerifyOptions, names: string[], group: string, replicas = 3): Promise<void> {
  kubectl(['delete', 'deployments', '-n', o.ns, '-l', `bench=${group}`, '--ignore-not-found', '--wait=true']);
  const image = `${o.repo}:good-a`;
  apply(names.map((n) => deploymentManifest(n, { namespace: o.ns, image, replicas, labels: { bench: group } })));
  await waitComplete(o.ns, `bench=${group}`);
}

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { containers: { image: string }[] };
  status: { conditions?: { type: string; status: string }[] };
}
/** kubectl's stdout, without blocking the event loop (the lines of the steps running meanwhile keep their times). */
async function read(args: string[]): Promise<string> {
  const k = launch('kubectl', ['--kubeconfig', env.KUBECONFIG ?? '', ...args], { env });
  const exit = await k.exited;
  if (exit.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${logText(k.lines)}`);
  return k.lines.map((l) => l.text).join('\n');
}
const livePods = async (ns: string, name: string): Promise<Pod[]> =>
  (
    JSON.parse(await read(['get', 'pods', '-n', ns, '-l', `app=${name}`, '-o', 'json'])) as { items: Pod[] }
  ).items.filter((p) => !p.metadata.deletionTimestamp);
const templateImage = (ns: string, name: string): Promise<string> =>
  read(['get', 'deployment', name, '-n', ns, '-o', 'jsonpath={.spec.template.spec.containers[0].image}{"\\n"}']);

/** The first time (polled every 200 ms) the template is back on `image` and 3 pods are Ready on it. */
async function restoredAt(ns: string, name: string, image: string, timeoutMs = 120_000): Promise<number> {
  const until = now() + timeoutMs;
  while (now() < until) {
    const [pods, template] = await Promise.all([livePods(ns, name), templateImage(ns, name)]);
    const ready = (p: Pod): boolean =>
      p.spec.containers[0]?.image === image &&
      (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    if (template === image && pods.length === 3 && pods.every(ready)) return now();
    await sleep(200);
  }
  throw new Error(`P13: ${ns}/${name} not back on ${image} with 3 Ready pods within ${timeoutMs} ms`);
}

// ------------------------------------------------------------------------------------------------ P13, P13a
interface BrokenRun {
  verdict: number;
  restored: number;
  reason: string;
}

/** kube-ship deploys the Ready-but-500 tag with an http check of every new pod. */
async function shipBroken(o: VerifyOptions): Promise<BrokenRun> {
  const recorded = await templateImage(o.ns, BROKEN);
  const a = startAction(inputs(o, BROKEN, 'http500', { verify: CHECK }));
  const patched = await patchLine(a, `${o.ns}/${BROKEN}`);
  const failed = await a.waitLine(/^verify http #1: failed /, 120_000);
  const back = await restoredAt(o.ns, BROKEN, recorded);
  const fin = await expectResult(a, 'rolled-back');
  return { verdict: failed.t - patched.t, restored: back - patched.t, reason: fin.outputs['failure-reason'] ?? '' };
}

interface KubectlBrokenRun {
  status: number;
  code: number;
  said: string;
  answered: string;
}

/** `kubectl set image` + `kubectl rollout status` of the same release; then one request through a pod's proxy. */
async function kubectlBroken(o: VerifyOptions): Promise<KubectlBrokenRun> {
  const k = (...args: string[]): Proc => startKubectl(['-n', o.ns, ...args]);
  const set = await k('set', 'image', `deployment/${BROKEN_BASE}`, `app=${o.repo}:http500`).exited;
  if (set.code !== 0) throw new Error('P13: kubectl set image failed');
  const status = k('rollout', 'status', `deployment/${BROKEN_BASE}`, `--timeout=${KUBECTL_WAIT_S}s`);
  const done = await status.exited;
  const said = status.lines.map((l) => l.text).find((t) => /successfully rolled out/.test(t)) ?? logText(status.lines);
  const pod = (await livePods(o.ns, BROKEN_BASE)).find((p) => p.spec.containers[0]?.image.includes('http500'));
  let answered = 'no pod of the release';
  if (pod) {
    try {
      answered = `200: ${kubectl(['get', '--raw', `/api/v1/namespaces/${o.ns}/pods/${pod.metadata.name}:8080/proxy/`]).trim()}`;
    } catch (error) {
      answered = /Error from server[^\n]*/.exec(String(error))?.[0] ?? String(error).slice(0, 200);
    }
  }
  kubectl(['-n', o.ns, 'rollout', 'undo', `deployment/${BROKEN_BASE}`]);
  await waitComplete(o.ns, 'bench=p13base');
  return { status: done.t - set.t, code: done.code, said, answered };
}

async function brokenRelease(o: VerifyOptions): Promise<Result[]> {
  await freshDeployments(o, [BROKEN], 'p13');
  await freshDeployments(o, [BROKEN_BASE], 'p13base');
  const ship: BrokenRun[] = [];
  const base: KubectlBrokenRun[] = [];
  for (let i = 0; i < o.runs; i += 1) {
    ship.push(await shipBroken(o));
    base.push(await kubectlBroken(o));
    const s = ship[i] as BrokenRun;
    const b = base[i] as KubectlBrokenRun;
    say(
      `P13 run ${i + 1}: kube-ship verdict ${(s.verdict / 1000).toFixed(2)} s, restored ${(s.restored / 1000).toFixed(2)} s; kubectl exit ${b.code} at ${(b.status / 1000).toFixed(2)} s: ${b.said}`,
    );
  }
  const b0 = base[0] as KubectlBrokenRun;
  const codes = [...new Set(base.map((b) => b.code))].join(', ');
  const note = `kube-ship: "${ship[0]?.reason ?? ''}". kubectl rollout status exit code ${codes}, "${b0.said}"; then a request to one of its pods through the pod proxy: ${b0.answered}`;
  return [
    {
      ...result(
        'P13',
        'Ready-but-500 release (`http500`), 3 replicas, `verify: - http: {port: 8080, path: /}` (grace 20s), `bake: 0s`: patch -> verdict',
        's',
        ship.map((r) => r.verdict / 1000),
        base.map((r) => r.status / 1000),
        '`kubectl set image` + `kubectl rollout status` (says "successfully rolled out", exit 0)',
        note,
      ),
      ratio_text: 'not a speed ratio',
    },
    {
      ...result(
        'P13a',
        'the same: patch -> template back, 3 pods Ready on the old image',
        's',
        ship.map((r) => r.restored / 1000),
        null,
        'kubectl leaves the 500s in place',
      ),
      ratio_text: 'never, without a manual step',
    },
  ];
}

// ------------------------------------------------------------------------------------------------ P13b
interface BlipRun {
  step: number;
  result: string;
  /** The check's failing streak: its first `failing` line -> its next `passing` line. */
  streak: number;
}

const lineAt = (a: ActionProc, re: RegExp, after = 0): Line | undefined =>
  a.lines.find((l) => l.t >= after && re.test(l.text));

async function shipBlip(o: VerifyOptions, name: string, index: number): Promise<BlipRun> {
  const tag = (await templateImage(o.ns, name)).includes(':http503blip-a@') ? 'http503blip-b' : 'http503blip-a';
  const a = startAction(inputs(o, name, tag, { verify: CHECK }));
  const fin = await a.finish();
  const failing = lineAt(a, /^verify http #1: failing: /);
  const passing = failing ? lineAt(a, /^verify http #1: passing /, failing.t) : undefined;
  const streak = failing && passing ? passing.t - failing.t : NaN;
  const outcome = fin.outputs.result ?? '';
  if (outcome === 'no-op') throw new Error(`P13b: deploy ${index + 1} of ${tag} to ${name} was a no-op`);
  if (outcome !== 'success') {
    const file = join(process.env.BENCH_LOG_DIR ?? '/tmp', `bench-p13b-${index + 1}.log`);
    writeFileSync(file, `${logText(a.lines)}\n`);
    say(`P13b deploy ${index + 1} (${name}): ${outcome}: ${fin.outputs['failure-reason'] ?? ''}; log in ${file}`);
  }
  return { step: fin.t - a.startedAt, result: outcome, streak };
}

async function blips(o: VerifyOptions): Promise<Result> {
  const names = Array.from({ length: AT_ONCE }, (_, i) => `bench-p13b-${i + 1}`);
  await freshDeployments(o, names, 'p13b');
  say(`P13b: ${BLIPS} deploys of a 15 s 503 blip, ${AT_ONCE} at a time`);
  const started = now();
  const runs: BlipRun[] = [];
  await Promise.all(
    names.map(async (name, j) => {
      for (let i = j; i < BLIPS; i += AT_ONCE) runs.push(await shipBlip(o, name, i));
    }),
  );
  const wall = (now() - started) / 1000;
  const rolledBack = runs.filter((r) => r.result !== 'success');
  const streaks = runs.map((r) => r.streak).filter(Number.isFinite);
  const note = `${rolledBack.length} of ${runs.length} not a success (${rolledBack.map((r) => r.result).join(', ') || 'none'}); the check's failing streak (first failing -> passing line): median ${(median(streaks) / 1000).toFixed(1)} s, longest ${(Math.max(...streaks) / 1000).toFixed(1)} s of the 20 s grace; ${AT_ONCE} deploys at a time, ${wall.toFixed(0)} s wall time`;
  return {
    ...result(
      'P13b',
      `503 for 15 s after Ready (\`http503blip\`), 3 replicas, default grace 20s, ${AT_ONCE} deploys at a time: step start -> exit`,
      's',
      runs.map((r) => r.step / 1000),
      null,
      `goal: 0 of ${runs.length} rolled back`,
      note,
    ),
    ratio_text: `${rolledBack.length} of ${runs.length} rolled back`,
  };
}

// ------------------------------------------------------------------------------------------------ P13c
/** A migration Job whose pods fail ~1.5 s after they start; backoffLimit left at Kubernetes' default (6). */
const migration = (name: string, image: string, ns?: string) => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, ...(ns ? { namespace: ns } : {}), labels: { bench: 'p13c' } },
  spec: {
    template: {
      metadata: { labels: { bench: 'p13c' }, annotations: { 'kube-ship.dev/fault': 'jobfail' } },
      spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image }] },
    },
  },
});

/** The first watch line of a pod of Job `job` in phase Failed, and that pod's container's finishedAt. */
function firstFailure(pods: Proc, job: string): { seen: number; finishedAt: number } | undefined {
  const line = pods.lines.find((l) => {
    const [pod, phase] = l.text.split(/\s+/);
    return pod?.startsWith(`${job}-`) && phase === 'Failed';
  });
  return line ? { seen: line.t, finishedAt: Date.parse(line.text.split(/\s+/)[2] ?? '') } : undefined;
}

async function waitFailure(pods: Proc, job: string): Promise<{ seen: number; finishedAt: number }> {
  for (let i = 0; i < 600; i += 1) {
    const f = firstFailure(pods, job);
    if (f) return f;
    await sleep(100);
  }
  throw new Error(`P13c: no pod of Job ${job} seen Failed within 60 s`);
}

interface MigrationRun {
  verdict: number;
  exit: number;
  verdictFromFinishedAt: number;
  kubectl: Promise<{ exit: number; code: number; said: string }>;
}

async function failingMigration(o: VerifyOptions, pods: Proc, i: number): Promise<MigrationRun> {
  const ours = `bench-p13c-migrate-${i + 1}`;
  const theirs = `bench-p13c-wait-${i + 1}`;
  const file = join(workspaceDir('p13c-'), 'migrate.yaml');
  writeFileSync(file, JSON.stringify(migration(ours, `${o.repo}:good-a`)));
  const baseFile = join(dirname(file), 'wait.yaml');
  writeFileSync(baseFile, JSON.stringify(migration(theirs, `${o.repo}:good-b`, o.ns)));
  // Both started at the same moment: kube-ship's step, and kubectl's create + wait.
  // The admin kubeconfig: the stack's deployer Role (JOB_ACCESS of src/cluster/access.ts) has no `patch` on Jobs, and
  // the Job is applied (and dry-run in preflight) with a server-side apply, which is a PATCH.
  const admin = readFileSync(env.KUBECONFIG ?? '', 'utf8');
  const a = startAction(inputs(o, MIGRATED, 'good-b', { 'pre-deploy': relative(ROOT, file), kubeconfig: admin }));
  const kubectlRun = (async () => {
    await read(['apply', '-f', baseFile]);
    const wait = startKubectl([
      'wait',
      '-n',
      o.ns,
      '--for=condition=complete',
      `--timeout=${KUBECTL_WAIT_S}s`,
      `job/${theirs}`,
    ]);
    const done = await wait.exited;
    const failure = await waitFailure(pods, theirs);
    return { exit: done.t - failure.seen, code: done.code, said: logText(wait.lines) };
  })();
  const verdict = await a.waitLine(new RegExp(`^job ${o.ns}/${ours}: failed: `), 120_000);
  const fin = await expectResult(a, 'failed');
  const failure = await waitFailure(pods, ours);
  if ((await templateImage(o.ns, MIGRATED)) !== `${o.repo}:good-a`)
    throw new Error(`P13c: the Deployment was changed: ${await templateImage(o.ns, MIGRATED)}`);
  say(
    `P13c run ${i + 1}: pod Failed seen -> verdict line ${((verdict.t - failure.seen) / 1000).toFixed(2)} s, -> exit ${((fin.t - failure.seen) / 1000).toFixed(2)} s: ${fin.outputs['failure-reason'] ?? ''}`,
  );
  return {
    verdict: verdict.t - failure.seen,
    exit: fin.t - failure.seen,
    verdictFromFinishedAt: verdict.t - failure.finishedAt,
    kubectl: kubectlRun,
  };
}

/** Starts P13c; its kubectl baselines wait their 120 s in the background, `finished` waits for them. */
async function startMigrations(o: VerifyOptions): Promise<{ finished: () => Promise<Result[]> }> {
  kubectl(['delete', 'jobs', '-n', o.ns, '-l', 'bench=p13c', '--ignore-not-found', '--wait=true']);
  await freshDeployments(o, [MIGRATED], 'p13c', 1);
  const columns =
    '-o=custom-columns=NAME:.metadata.name,PHASE:.status.phase,FINISHED:.status.containerStatuses[0].state.terminated.finishedAt';
  const pods = startKubectl(['get', 'pods', '-n', o.ns, '-l', 'bench=p13c', '-w', '--no-headers', columns]);
  // With no pod yet, `get -w` prints nothing: give it time to open its watch.
  await sleep(2000);
  const runs: MigrationRun[] = [];
  for (let i = 0; i < o.runs; i += 1) runs.push(await failingMigration(o, pods, i));
  return {
    finished: async () => {
      const base = await Promise.all(runs.map((r) => r.kubectl));
      pods.stop();
      kubectl(['delete', 'jobs', '-n', o.ns, '-l', 'bench=p13c', '--ignore-not-found', '--wait=false']);
      const codes = [...new Set(base.map((b) => b.code))].join(', ');
      const note = `failure = the first watch event with the Job's pod in phase Failed (from its container's finishedAt, whole seconds: ${(median(runs.map((r) => r.verdictFromFinishedAt)) / 1000).toFixed(2)} s); kube-ship's exit ${(median(runs.map((r) => r.exit)) / 1000).toFixed(2)} s after it (goal: within 5 s); kubectl wait exit code ${codes}, "${base[0]?.said ?? ''}"`;
      return [
        result(
          'P13c',
          'failing `pre-deploy` migration Job (`jobfail`, backoffLimit 6): its pod Failed -> the verdict line',
          's',
          runs.map((r) => r.verdict / 1000),
          base.map((b) => b.exit / 1000),
          `\`kubectl wait --for=condition=complete --timeout=${KUBECTL_WAIT_S}s\`, started at the same moment: its exit`,
          note,
        ),
      ];
    },
  };
}

export async function benchVerify(o: VerifyOptions): Promise<Result[]> {
  for (const tag of ['http500', 'http503blip-a', 'http503blip-b']) buildTag(o.repo, tag);
  say(`P13c: ${o.runs} failing migrations; kubectl wait's ${KUBECTL_WAIT_S} s in the background`);
  const migrations = await startMigrations(o);
  say('P13: a Ready-but-500 release, kube-ship with verify, then kubectl set image + rollout status');
  const broken = await brokenRelease(o);
  const blip = await blips(o);
  const migrated = await migrations.finished();
  kubectl(['delete', 'deployments', '-n', o.ns, '-l', 'bench in (p13,p13base,p13b,p13c)', '--wait=false']);
  return [...broken, blip, ...migrated];
}
