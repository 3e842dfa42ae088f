/**
 * `npm run bench` (via scripts/bench.sh, after scripts/stack/up.sh): kube-ship's bundled dist/index.js, run
 * the way the GitHub runner runs it, side by side with what people use instead, on the same local cluster, in one
 * run. Prints one table and writes bench/results/latest.json. It measures and prints; it passes when it ran.
 *
 * Cases (issue 5): P1 failure verdict, P2 time to restored, P3 success detection, P4 API requests counted at the
 * server (audit log), P5 start-up and size, P6 50 Deployments in one step, P7 build with registry cache; P8 (in
 * bench/verdicts.ts) the harder verdicts (unschedulable, quota-refused surge pod, a late crash under the bake), a slow
 * healthy rollout and a namespace crowded with 2,000 other pods; P9 (in bench/cancel.ts) the runner's cancel; P10 (in
 * bench/statefulset.ts) a crash-looping StatefulSet release; P11 (in bench/manifests.ts) a first deploy of the
 * example's manifests into a fresh namespace; P12 (in bench/light.ts, issue 23) a good rollout's cost on every axis
 * (start-up, RSS, connections, requests, bytes) beside kubectl's; P16 (in bench/chart.ts, issue 22) a crash-looping
 * Helm chart upgrade against helm's own --rollback-on-failure; P17 (bench/chart.ts) chart upgrades cancelled
 * and killed mid-release: releases left pending-*, against helm interrupted the same way.
 *
 * `main` runs the groups, then makes one row per case; each case's row is made by a function named for what it
 * measures.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import {
  Audit,
  DEPLOYER_SA,
  NAMESPACE,
  PROGRESS_DEADLINE_SECONDS,
  READER_RULES,
  REGISTRY,
  ROOT,
  apply,
  deploymentManifest,
  env,
  expectResult,
  median,
  namespaceManifest,
  now,
  patchLine,
  result,
  run,
  say,
  secs,
  serviceAccountUser,
  sleep,
  startAction,
  startKubectl,
  table,
  verbBreakdown,
  waitComplete,
  watcher,
  type Line,
  type Result,
} from './lib.js';
import { serviceAccountKubeconfig } from '../__tests__/e2e/harness.js';
import { benchCanary } from './canary.js';
import { benchCancel } from './cancel.js';
import { benchLight } from './light.js';
import { CHECKED, benchManifests } from './manifests.js';
import { benchChart, benchInterrupts } from './chart.js';
import { benchStatefulSet } from './statefulset.js';
import { benchVerdicts } from './verdicts.js';
import { benchVerify } from './verify.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/**
 * BENCH_CASES=P3,P7 runs only those groups (P1 covers P1/P1b/P2, P3 covers P3/P5/P6b's baseline, P8 covers P8-P8i,
 * P11 covers P11-P11d, P12 covers P12-P12e, P16 covers P16/P16b, P17 covers P17/P17b); default all.
 */
const CASES = (process.env.BENCH_CASES ?? 'P1,P3,P4,P5,P6,P7,P8,P9,P10,P11,P12,P13,P14,P16,P17')
  .split(',')
  .map((c) => c.trim().toUpperCase());
const want = (id: string): boolean => CASES.includes(id);
/** P3/P5's runs: BENCH_RUNS, but at least 5. */
const P3_RUNS = Math.max(RUNS, 5);
/** P8's runs (each takes ~5 min: two 120 s progress deadlines, a 140 s rollout, 2,000 pods made and removed). */
const P8_RUNS = Number(process.env.BENCH_P8_RUNS ?? Math.min(RUNS, 2));
/** P17's interruptions per signal (SIGINT, SIGKILL) and per tool (kube-ship, helm). */
const INTERRUPTS = Number(process.env.BENCH_INTERRUPTS ?? 20);
const BASE_NS = 'kube-ship-bench';
/** P1's baseline Deployments, one per run (they all run at once). */
const BASE_NAMES = Array.from({ length: RUNS }, (_, i) => `bench-base-${i + 1}`);
const REPO = `${REGISTRY}/bench/app`;
const REPO7 = `${REGISTRY}/bench/web`;
const BENCH_SA = 'kube-ship-bench';
const DEPLOYER = serviceAccountUser(NAMESPACE, DEPLOYER_SA);
const BENCH_USER = serviceAccountUser(NAMESPACE, BENCH_SA);
const deployerKubeconfig = readFileSync(env.DEPLOYER_KUBECONFIG ?? '', 'utf8');
const deployer = { kubeconfig: deployerKubeconfig, namespace: NAMESPACE };
const audit = new Audit();
const benchStarted = now();

// ------------------------------------------------------------------------------------------------ main
async function main(): Promise<void> {
  const { benchKc, crashRef } = await setUp();
  // P1/P2 baselines take progressDeadlineSeconds (120 s) each: all runs at once, on their own Deployments in their
  // own namespace (kube-ship watches its namespace only), while kube-ship's cases run in the foreground.
  const crashBaselines = want('P1') ? await startCrashBaselines(crashRef) : undefined;
  const crash = want('P1') ? await crashLoopRuns() : [];
  const good = want('P3') || want('P5') ? await goodRolloutRuns(benchKc) : [];
  const api = want('P4') ? await apiCostRuns(benchKc) : [];
  const crashBase = crashBaselines ? await crashBaselines.finished() : [];
  const scale = want('P6') ? await scaleRuns() : [];
  const web = want('P7') ? await buildRuns('web') : [];
  const heavy = want('P7') ? await buildRuns('heavy') : [];
  const verdicts = want('P8') ? await harderVerdicts() : { rows: [], seconds: NaN };
  const cancel = want('P9') ? await benchCancel({ runs: RUNS, repo: REPO, ns: NAMESPACE, deployerKubeconfig }) : [];
  const statefulSet = want('P10')
    ? await benchStatefulSet({ runs: RUNS, repo: REPO, ns: NAMESPACE, deployerKubeconfig, kubectlTimeoutS: 60 })
    : [];
  const manifests = want('P11') ? await benchManifests({ runs: RUNS }) : [];
  const light = want('P12')
    ? await benchLight({
        runs: P3_RUNS,
        repo: REPO,
        ns: NAMESPACE,
        deployerKubeconfig,
        kubectlKcFile: benchKc,
        kubectlSa: BENCH_SA,
        audit,
      })
    : [];
  const verify = want('P13') ? await benchVerify({ runs: RUNS, repo: REPO, ns: NAMESPACE, deployerKubeconfig }) : [];
  const canary = want('P14') ? await benchCanary({ runs: RUNS, repo: REPO, ns: NAMESPACE, deployerKubeconfig }) : [];
  const chart = want('P16') ? await benchChart({ runs: Math.min(RUNS, 2) }) : [];
  const interrupts = want('P17') ? await benchInterrupts({ runs: INTERRUPTS }) : [];

  const results: Result[] = [
    ...(crash.length
      ? [
          crashLoopToVerdict(crash, crashBase),
          firstCrashToVerdict(crash, crashBase),
          crashLoopToRestored(crash, crashBase),
        ]
      : []),
    ...(good.length ? [goodRolloutToDone(good)] : []),
    ...(api.length ? [apiRequestsPerRollout(api)] : []),
    ...(good.length ? [startupToFirstRequest(good), distSize()] : []),
    ...(scale.length ? [manyDeploymentsToDone(scale), peakRssOfManyDeployments(scale, good)] : []),
    ...(web.length ? [registryCachedBuild(web), registryCachedCostlyBuild(heavy)] : []),
    ...verdicts.rows,
    ...cancel,
    ...statefulSet,
    ...manifests,
    ...light,
    ...verify,
    ...canary,
    ...chart,
    ...interrupts,
  ];
  const kept = writeLatest(results);
  printReport(results, kept, verdicts.seconds);
}

/** `one(i)` for i = 0 .. n - 1, one after the other. */
async function repeat<T>(n: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const runs: T[] = [];
  for (let i = 0; i < n; i += 1) runs.push(await one(i));
  return runs;
}
/** The tag a run deploys: good-b, good-a, good-b, ... so that each run changes the image. */
const tagOfRun = (i: number): string => (i % 2 === 0 ? 'good-b' : 'good-a');

// ------------------------------------------------------------------------------------------------ images
const ACCEPT =
  'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json';
async function registryDigest(repo: string, tag: string): Promise<string> {
  const path = repo.slice(REGISTRY.length + 1);
  const res = await fetch(`http://${REGISTRY}/v2/${path}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: ACCEPT },
  });
  const digest = res.headers.get('docker-content-digest');
  if (!res.ok || !digest) throw new Error(`${repo}:${tag} is not in the registry (HTTP ${res.status})`);
  return digest;
}
/** The sample app with a variant baked in, so each tag has its own digest. Classic BuildKit, as in smoke.sh. */
function buildImage(tag: string, variant: string): void {
  run(
    'docker',
    [
      'build',
      '--network',
      'host',
      '--build-arg',
      `VARIANT=${variant}`,
      '--build-arg',
      `BASE_IMAGE=${env.BASE_IMAGE}`,
      '-t',
      `${REPO}:${tag}`,
      join(ROOT, 'examples/web'),
    ],
    { env: { ...env, DOCKER_BUILDKIT: '1' } },
  );
  run('docker', ['push', `${REPO}:${tag}`]);
}

// ------------------------------------------------------------------------------------------------ setup
/** Images, the bench's ServiceAccount and the Deployments of the groups that run. */
async function setUp(): Promise<{ benchKc: string; crashRef: string }> {
  say('setup: images, the bench ServiceAccount, Deployments');
  buildImage('good-a', 'bench-a');
  buildImage('good-b', 'bench-b');
  if (want('P1') || want('P10')) buildImage('crashloop', 'bench-crash');
  if (want('P8')) buildImage('crashlate', 'bench-crashlate'); // KWOK's crashlate stage reads the word in the reference
  const crashRef = want('P1') ? `${REPO}:crashloop@${await registryDigest(REPO, 'crashloop')}` : '';
  const benchKc = benchKubeconfig();
  await createDeployments();
  say(`setup done in ${Math.round(secs(now() - benchStarted))} s`);
  return { benchKc, crashRef };
}

/** A kubeconfig for the bench's own ServiceAccount (baselines), so that the audit log tells its requests apart. */
function benchKubeconfig(): string {
  apply([namespaceManifest(BASE_NS)]);
  const yaml = serviceAccountKubeconfig(BENCH_SA, READER_RULES, '2h');
  const file = join(process.env.BENCH_TMP ?? '/tmp', 'bench.kubeconfig');
  writeFileSync(file, yaml, { mode: 0o600 });
  return file;
}

/** Only the Deployments of the groups that run (P8 and P9 make their own), on the good image, rolled out. */
async function createDeployments(): Promise<void> {
  const good = `${REPO}:good-a`;
  const ofGroup = (name: string, bench: string, o: { replicas: number; readyDelay?: string }) =>
    deploymentManifest(name, { namespace: NAMESPACE, image: good, labels: { bench }, ...o });
  const groups = [
    { id: 'p1', on: want('P1'), items: [ofGroup('bench-p1', 'p1', { replicas: 3 })] },
    { id: 'p3', on: want('P3') || want('P5'), items: [ofGroup('bench-p3', 'p3', { replicas: 3 })] },
    { id: 'p4', on: want('P4'), items: [ofGroup('bench-p4', 'p4', { replicas: 3, readyDelay: '10s' })] },
    { id: 'p7', on: want('P7'), items: [ofGroup('bench-p7', 'p7', { replicas: 1 })] },
    { id: 'p6', on: want('P6'), items: P6_NAMES.map((n) => ofGroup(n, 'p6', { replicas: 2 })) },
  ].filter((g) => g.on);
  const baselines = want('P1')
    ? BASE_NAMES.map((n) =>
        deploymentManifest(n, { namespace: BASE_NS, image: good, replicas: 3, labels: { bench: 'base' } }),
      )
    : [];
  const items = [...groups.flatMap((g) => g.items), ...baselines];
  if (items.length > 0) apply(items);
  if (groups.length > 0) await waitComplete(NAMESPACE, `bench in (${groups.map((g) => g.id).join(',')})`);
  if (want('P1')) await waitComplete(BASE_NS, 'bench=base');
}

// ------------------------------------------------------------------------------------------------ watchers
const podColumns =
  '-o=custom-columns=NAME:.metadata.name,APP:.metadata.labels.app,REASON:.status.containerStatuses[*].state.waiting.reason';
const firstCrash = (lines: Line[], app: string, after: number): number | undefined =>
  lines.find((l) => l.t > after && l.text.split(/\s+/)[1] === app && /CrashLoopBackOff/.test(l.text))?.t;

/** Helm's legacy waiter, as a loop: every 2 s GET the Deployment and LIST its ReplicaSets (to find the new one). */
function poller(kubeconfigFile: string, name: string): { stop: () => void; polls: () => number } {
  const kc = readFileSync(kubeconfigFile, 'utf8');
  const server = /server: (\S+)/.exec(kc)?.[1] ?? '';
  const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(kc)?.[1] ?? '', 'base64');
  const token = /token: (\S+)/.exec(kc)?.[1] ?? '';
  const agent = new Agent({ keepAlive: true, ca });
  const get = (path: string): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        `${server}${path}`,
        { agent, headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', () => resolve());
      req.end();
    });
  let polls = 0;
  let stopped = false;
  const poll = async (): Promise<void> => {
    polls += 1;
    await get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${name}`);
    await get(`/apis/apps/v1/namespaces/${NAMESPACE}/replicasets?labelSelector=${encodeURIComponent(`app=${name}`)}`);
  };
  void poll();
  const timer = setInterval(() => void (stopped || poll()), 2000);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      agent.destroy();
    },
    polls: () => polls,
  };
}

// No bake: these cases compare the rollout verdict with kubectl's, which has none (P8c measures the bake).
const deployInputs = (tag: string, targets: string[]) => ({
  bake: '0s',
  build: 'false',
  image: REPO,
  tags: tag,
  deployments: targets.map((t) => `${NAMESPACE}/${t}`).join('\n'),
  ...deployer,
});

// ------------------------------------------------------------------------------------------------ P1, P1b, P2
interface CrashRun {
  verdict: number;
  crashToVerdict: number;
  restored: number;
}

/** kube-ship: patch to the crash-looping image; verdict; rollback; restored template healthy. */
async function oursCrash(): Promise<CrashRun> {
  const pods = await watcher(['pods', '-n', NAMESPACE, '-l', 'app=bench-p1', podColumns], /bench-p1/);
  try {
    const a = startAction(deployInputs('crashloop', ['bench-p1']));
    const patched = await patchLine(a, `${NAMESPACE}/bench-p1`);
    const verdict = await a.waitLine(new RegExp(`^${NAMESPACE}/bench-p1: pod \\S+ container \\S+: [A-Za-z]+`));
    await expectResult(a, 'rolled-back');
    const rollbackAt = a.lines.find((l) => l.text === '::group::Rollback')?.t ?? Infinity;
    const restored = a.lines.find(
      (l) => l.t >= rollbackAt && /bench-p1: deployment "bench-p1" successfully rolled out/.test(l.text),
    );
    const crash = firstCrash(pods.lines, 'bench-p1', patched.t);
    if (!restored) throw new Error('no "successfully rolled out" line after the rollback');
    if (!/CrashLoopBackOff/.test(verdict.text)) say(`P1: the verdict was not CrashLoopBackOff: ${verdict.text}`);
    return {
      verdict: verdict.t - patched.t,
      crashToVerdict: crash === undefined ? NaN : verdict.t - crash,
      restored: restored.t - patched.t,
    };
  } finally {
    pods.stop();
  }
}

/** The script people write: set image; rollout status; rollout undo; rollout status. Admin identity, own namespace. */
async function baselineCrash(name: string, crashRef: string, pods: { lines: Line[] }): Promise<CrashRun> {
  const k = (...args: string[]) => startKubectl(['-n', BASE_NS, ...args]);
  const patch = await k('set', 'image', `deployment/${name}`, `app=${crashRef}`).exited;
  if (patch.code !== 0) throw new Error(`kubectl set image ${name} failed`);
  const status = k('rollout', 'status', `deployment/${name}`);
  const failed = await status.exited;
  if (failed.code === 0) throw new Error(`kubectl rollout status ${name} succeeded on a crash-looping image`);
  await k('rollout', 'undo', `deployment/${name}`).exited;
  const back = await k('rollout', 'status', `deployment/${name}`).exited;
  if (back.code !== 0) throw new Error(`kubectl rollout status after undo failed for ${name}`);
  const crash = firstCrash(pods.lines, name, patch.t);
  return {
    verdict: failed.t - patch.t,
    crashToVerdict: crash === undefined ? NaN : failed.t - crash,
    restored: back.t - patch.t,
  };
}

/** The P1/P2 baselines, started all at once; `finished` waits for them (each takes the progress deadline). */
async function startCrashBaselines(crashRef: string): Promise<{ finished: () => Promise<CrashRun[]> }> {
  say(
    `P1/P2 baseline: ${RUNS} x (kubectl set image; rollout status; rollout undo; rollout status) in parallel, ~${PROGRESS_DEADLINE_SECONDS + 10} s`,
  );
  const pods = await watcher(['pods', '-n', BASE_NS, podColumns], /bench-base-1/);
  const runs = Promise.all(BASE_NAMES.map((n) => baselineCrash(n, crashRef, pods)));
  return {
    finished: async () => {
      say('waiting for the P1/P2 baselines (progress deadline)');
      const base = await runs;
      pods.stop();
      return base;
    },
  };
}

const crashLoopRuns = (): Promise<CrashRun[]> =>
  repeat(RUNS, async (i) => {
    const r = await oursCrash();
    say(
      `P1/P2 kube-ship run ${i + 1}: verdict ${secs(r.verdict).toFixed(2)} s, restored ${secs(r.restored).toFixed(2)} s`,
    );
    return r;
  });

/** P1: patch to a crash-looping image -> the failure verdict. */
function crashLoopToVerdict(ours: CrashRun[], base: CrashRun[]): Result {
  return result(
    'P1',
    'failure verdict: patch to a crash-looping image -> verdict',
    's',
    ours.map((r) => secs(r.verdict)),
    base.map((r) => secs(r.verdict)),
    `kubectl rollout status, progressDeadlineSeconds ${PROGRESS_DEADLINE_SECONDS} (default 600)`,
  );
}

/** P1b: the first pod in CrashLoopBackOff, seen by a watch -> the failure verdict. */
function firstCrashToVerdict(ours: CrashRun[], base: CrashRun[]): Result {
  return result(
    'P1b',
    'first pod in CrashLoopBackOff (seen by a watch) -> verdict',
    'ms',
    ours.map((r) => r.crashToVerdict),
    base.map((r) => r.crashToVerdict),
    'kubectl rollout status, same deadline',
  );
}

/** P2: patch to a crash-looping image -> the old template healthy again. */
function crashLoopToRestored(ours: CrashRun[], base: CrashRun[]): Result {
  return result(
    'P2',
    'time to restored: patch -> old template healthy again',
    's',
    ours.map((r) => secs(r.restored)),
    base.map((r) => secs(r.restored)),
    'kubectl rollout status; undo; status',
  );
}

// ------------------------------------------------------------------------------------------------ P3, P5, P5b
interface GoodRun {
  ours: number;
  oursVerdict: number;
  kubectl: number;
  startOurs: number;
  startKubectl: number;
  rssKiB: number;
}
async function goodRollout(tag: string, benchKc: string): Promise<GoodRun> {
  const mark = audit.mark();
  const a = startAction(deployInputs(tag, ['bench-p3']));
  const patched = await patchLine(a, `${NAMESPACE}/bench-p3`);
  // kubectl starts the instant the patch is done (it cannot start earlier: it would see the old, complete rollout).
  const k = startKubectl(['rollout', 'status', 'deployment/bench-p3', '-n', NAMESPACE], benchKc);
  const [fin, kx] = await Promise.all([expectResult(a, 'success'), k.exited]);
  if (kx.code !== 0) throw new Error(`kubectl rollout status failed: ${k.lines.map((l) => l.text).join('\n')}`);
  const verdict = a.lines.find((l) => /bench-p3: deployment "bench-p3" successfully rolled out/.test(l.text));
  await sleep(1000);
  const events = audit.since(mark);
  const first = (user: string, from: number): number =>
    Math.min(...events.filter((e) => e.user === user && e.received >= from - 5).map((e) => e.received));
  return {
    ours: fin.t - patched.t,
    oursVerdict: (verdict?.t ?? NaN) - patched.t,
    kubectl: kx.t - patched.t,
    startOurs: first(DEPLOYER, a.startedAt) - a.startedAt,
    startKubectl: first(BENCH_USER, k.startedAt) - k.startedAt,
    rssKiB: fin.rssKiB,
  };
}

const goodRolloutRuns = (benchKc: string): Promise<GoodRun[]> =>
  repeat(P3_RUNS, async (i) => {
    const g = await goodRollout(tagOfRun(i), benchKc);
    say(`P3 run ${i + 1}: kube-ship ${secs(g.ours).toFixed(2)} s, kubectl ${secs(g.kubectl).toFixed(2)} s`);
    return g;
  });

/** P3: a good rollout of 3 replicas, patch -> the step's exit. */
function goodRolloutToDone(good: GoodRun[]): Result {
  return result(
    'P3',
    'good rollout, 3 replicas: patch -> done (step exit)',
    's',
    good.map((r) => secs(r.ours)),
    good.map((r) => secs(r.kubectl)),
    'kubectl rollout status',
    `kube-ship's verdict line came ${Math.round(median(good.map((r) => r.ours - r.oursVerdict)))} ms before its exit (median)`,
  );
}

/** P5: process start -> its first request at the API server (audit log). */
function startupToFirstRequest(good: GoodRun[]): Result {
  return result(
    'P5',
    'start-up: process start -> first API request',
    'ms',
    good.map((r) => r.startOurs),
    good.map((r) => r.startKubectl),
    'kubectl rollout status',
  );
}

/** P5b: dist/ on disk, beside the kubectl binary. */
function distSize(): Result {
  const kubectlPath = run('bash', ['-c', 'readlink -f "$(command -v kubectl)"']).trim();
  return result(
    'P5b',
    'size on disk of dist/',
    'MB',
    [duBytes(join(ROOT, 'dist')) / 1e6],
    [statSync(kubectlPath).size / 1e6],
    'kubectl 1.34 binary',
  );
}
function duBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0);
}

// ------------------------------------------------------------------------------------------------ P4
interface ApiRun {
  ours: number;
  polling: number;
  seconds: number;
  breakdown: Record<string, number>;
}
async function apiCost(tag: string, benchKc: string): Promise<ApiRun> {
  const mark = audit.mark();
  const a = startAction(deployInputs(tag, ['bench-p4']));
  const loop = poller(benchKc, 'bench-p4');
  const fin = await expectResult(a, 'success');
  loop.stop();
  await sleep(1500); // watches closed by the exit are logged when the server sees them end
  const events = audit.since(mark);
  const ours = events.filter((e) => e.user === DEPLOYER && e.received >= a.startedAt - 5 && e.received <= fin.t);
  const polling = events.filter((e) => e.user === BENCH_USER);
  return {
    ours: ours.length,
    polling: polling.length,
    seconds: secs(fin.t - a.startedAt),
    breakdown: verbBreakdown(ours),
  };
}

const apiCostRuns = (benchKc: string): Promise<ApiRun[]> =>
  repeat(RUNS, async (i) => {
    const r = await apiCost(tagOfRun(i), benchKc);
    say(`P4 run ${i + 1}: kube-ship ${r.ours} requests, polling ${r.polling} requests over ${r.seconds.toFixed(1)} s`);
    return r;
  });

/** P4: the requests of one whole step, counted at the server, against a 2 s polling loop over the same window. */
function apiRequestsPerRollout(api: ApiRun[]): Result {
  return result(
    'P4',
    `API requests, one ${median(api.map((r) => r.seconds)).toFixed(0)} s rollout (whole step)`,
    'requests',
    api.map((r) => r.ours),
    api.map((r) => r.polling),
    '2 s polling loop (Helm legacy waiter)',
    `kube-ship requests, first run: ${JSON.stringify(api[0]?.breakdown ?? {})}`,
  );
}

// ------------------------------------------------------------------------------------------------ P6, P6b
const P6_COUNT = 50;
const P6_NAMES = Array.from({ length: P6_COUNT }, (_, i) => `bench-p6-${String(i).padStart(2, '0')}`);
interface ScaleRun {
  wall: number;
  slowest: number;
  step: number;
  rssKiB: number;
}
async function scale(tag: string): Promise<ScaleRun> {
  const cols =
    '-o=custom-columns=NAME:.metadata.name,GEN:.metadata.generation,OBS:.status.observedGeneration,SPEC:.spec.replicas,REP:.status.replicas,UPD:.status.updatedReplicas,AVL:.status.availableReplicas';
  const w = await watcher(['deployments', '-n', NAMESPACE, '-l', 'bench=p6', cols], new RegExp(P6_NAMES.at(-1) ?? ''));
  const gen0 = new Map(w.lines.map((l) => l.text.split(/\s+/)).map(([n, g]) => [n ?? '', Number(g)]));
  try {
    const a = startAction(deployInputs(tag, P6_NAMES));
    const fin = await expectResult(a, 'success');
    await sleep(300);
    const perTarget = P6_NAMES.map((name) => {
      const patched = a.lines.find((l) => l.text.startsWith(`${NAMESPACE}/${name}: app -> `))?.t ?? NaN;
      const done =
        w.lines.find((l) => {
          const [n, g, o, spec, rep, upd, avl] = l.text.split(/\s+/).map((x, i) => (i === 0 ? x : Number(x) || 0)) as [
            string,
            ...number[],
          ];
          return (
            n === name &&
            l.t > patched &&
            g > (gen0.get(name) ?? 0) &&
            o >= g &&
            upd === spec &&
            rep === upd &&
            avl === upd
          );
        })?.t ?? NaN;
      return { patched, done };
    });
    const firstPatch = Math.min(...perTarget.map((p) => p.patched));
    return {
      wall: fin.t - firstPatch,
      slowest: Math.max(...perTarget.map((p) => p.done - p.patched)),
      step: fin.t - a.startedAt,
      rssKiB: fin.rssKiB,
    };
  } finally {
    w.stop();
  }
}

const scaleRuns = (): Promise<ScaleRun[]> =>
  repeat(RUNS, async (i) => {
    const r = await scale(tagOfRun(i));
    say(
      `P6 run ${i + 1}: all 50 done ${secs(r.wall).toFixed(2)} s after the first patch, slowest single ${secs(r.slowest).toFixed(2)} s`,
    );
    return r;
  });

/** P6: 50 Deployments in one step, first patch -> all done, against the slowest single rollout in it. */
function manyDeploymentsToDone(scale: ScaleRun[]): Result {
  return result(
    'P6',
    `${P6_COUNT} Deployments in one step: first patch -> all done`,
    's',
    scale.map((r) => secs(r.wall)),
    scale.map((r) => secs(r.slowest)),
    'slowest single rollout in it',
    `whole step (start -> exit): ${median(scale.map((r) => secs(r.step))).toFixed(1)} s median`,
  );
}

/** P6b: the step's peak RSS with 50 Deployments, against the step with one (P3's runs). */
function peakRssOfManyDeployments(scale: ScaleRun[], good: GoodRun[]): Result {
  return result(
    'P6b',
    `peak RSS of the step, ${P6_COUNT} Deployments`,
    'MiB',
    scale.map((r) => r.rssKiB / 1024),
    good.length ? good.map((r) => r.rssKiB / 1024) : null,
    'kube-ship, 1 Deployment',
  );
}

// ------------------------------------------------------------------------------------------------ P7, P7b
interface BuildRun {
  seconds: number;
  cached: string;
}
/** The sample app as it is (P7), and with a costly build stage (P7b, bench/fixtures/heavy). */
const APPS = {
  web: { repo: REPO7, context: join(ROOT, 'examples/web') },
  heavy: { repo: `${REGISTRY}/bench/heavy`, context: join(ROOT, 'bench/fixtures/heavy') },
};
function pruneLocal(repo: string): void {
  run('docker', ['builder', 'prune', '-af']);
  const ids = run('docker', ['images', '-q', repo]).split('\n').filter(Boolean);
  if (ids.length) run('docker', ['image', 'rm', '-f', ...new Set(ids)], { allowFail: true });
}
/** One build through the action after `docker builder prune -af` (and the app's local images removed). */
async function build(app: keyof typeof APPS, mode: 'seed' | 'cold' | 'cached'): Promise<BuildRun> {
  const { repo, context } = APPS[app];
  pruneLocal(repo);
  const cacheRef = `type=registry,ref=${repo}:cache`;
  const a = startAction({
    image: repo,
    tags: mode === 'seed' ? 'cache' : `${mode}`,
    context,
    'build-args': `VARIANT=bench-p7\nBASE_IMAGE=${env.BASE_IMAGE}`,
    deployments: `${NAMESPACE}/bench-p7:app`,
    ...(mode === 'cold' ? { 'no-cache': 'true' } : {}),
    ...(mode === 'seed' ? { 'cache-to': cacheRef } : {}),
    ...(mode === 'cached' ? { 'cache-from': cacheRef } : {}),
    ...deployer,
  });
  const start = await a.waitLine(/^::group::Build and push$/);
  const end = await a.waitLine(/^::group::Digest$/);
  const fin = await a.finish();
  if (fin.outputs.result !== 'success' && fin.outputs.result !== 'no-op')
    throw new Error(`P7 ${app} ${mode}: ${fin.outputs.result}: ${fin.outputs['failure-reason']}`);
  const cached = /Build: \w+, [\d.]+s build, [\d.]+s push, ([^<]*)</.exec(fin.summary)?.[1] ?? '';
  return { seconds: secs(end.t - start.t), cached };
}

/** One run of P7: a cold build, then one from the registry cache. */
interface BuildPair {
  cold: BuildRun;
  cached: BuildRun;
}
/** Seeds the app's registry cache, then RUNS pairs of builds. */
async function buildRuns(app: keyof typeof APPS): Promise<BuildPair[]> {
  say(`P7 ${app}: seed the registry cache, then cold and cached builds, each after docker builder prune -af`);
  await build(app, 'seed');
  return repeat(RUNS, async (i) => {
    const cold = await build(app, 'cold');
    const cached = await build(app, 'cached');
    say(
      `P7 ${app} run ${i + 1}: cold ${cold.seconds.toFixed(2)} s, registry cache ${cached.seconds.toFixed(2)} s (${cached.cached})`,
    );
    return { cold, cached };
  });
}

/** P7: examples/web built and pushed from the registry cache, against a cold build. */
function registryCachedBuild(web: BuildPair[]): Result {
  return result(
    'P7',
    'examples/web build+push after prune, registry cache',
    's',
    web.map((r) => r.cached.seconds),
    web.map((r) => r.cold.seconds),
    'cold build (no-cache, no cache-from)',
    `cache use: ${web[0]?.cached.cached} (classic BuildKit: cache-to becomes inline cache in the pushed image)`,
  );
}

/** P7b: the same with a costly build stage (bench/fixtures/heavy). */
function registryCachedCostlyBuild(heavy: BuildPair[]): Result {
  return result(
    'P7b',
    'same with a costly build stage (fixtures/heavy)',
    's',
    heavy.map((r) => r.cached.seconds),
    heavy.map((r) => r.cold.seconds),
    'cold build (no-cache)',
    `cache use: ${heavy[0]?.cached.cached}; bench/fixtures/heavy = examples/web plus a stage with ~8 s of CPU and a 32 MB layer`,
  );
}

// ------------------------------------------------------------------------------------------------ P8
/** P8: the harder verdicts and the crowded namespace (bench/verdicts.ts), each case beside kubectl, in one run. */
async function harderVerdicts(): Promise<{ rows: Result[]; seconds: number }> {
  const started = now();
  const rows = await benchVerdicts({
    runs: P8_RUNS,
    repo: REPO,
    ns: NAMESPACE,
    baseNs: BASE_NS,
    deployerKubeconfig,
    audit,
  });
  return { rows, seconds: secs(now() - started) };
}

// ------------------------------------------------------------------------------------------------ report
/** latest.json keeps the rows of the groups this run did not measure (each row says when it was measured). */
function writeLatest(results: Result[]): Result[] {
  const measuredAt = new Date().toISOString();
  for (const r of results) r.measured_at = measuredAt;
  const latest = join(ROOT, 'bench/results/latest.json');
  const previous: Result[] = existsSync(latest) ? (JSON.parse(readFileSync(latest, 'utf8')) as Result[]) : [];
  const kept = previous.filter((p) => !results.some((r) => r.id === p.id));
  const merged = [...kept, ...results].sort((a, b) => order(a.id) - order(b.id));
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(latest, `${JSON.stringify(merged, null, 2)}\n`);
  return kept;
}

/** Table order: P1, P1b, P2, ..., P8, P8b, ... */
function order(id: string): number {
  const m = /^P(\d+)([a-z]?)$/.exec(id);
  return m ? Number(m[1]) * 100 + (m[2] ? m[2].charCodeAt(0) - 96 : 0) : 1e6;
}

/** The notes under the table, each shown when this run made the row it is keyed by. */
const NOTES: Record<string, string[]> = {
  P1: [
    `P1/P2: the baseline Deployments have progressDeadlineSeconds ${PROGRESS_DEADLINE_SECONDS}; with the Kubernetes default (600) kubectl waits ~480 s longer.`,
    '       The baselines ran in parallel in their own namespace while P1-P4 of kube-ship ran (CPU noise for both).',
  ],
  P3: [
    "P3: kubectl rollout status is started the instant kube-ship's patch returns (before it, it would see the old rollout as done).",
  ],
  P4: [
    "P4: requests counted in the API server's audit log per identity (kube-ship: the deployer ServiceAccount; the loop: its own),",
    "    over the same window; the loop does GET deployment + LIST replicasets every 2 s. kube-ship's count is flat in the rollout's",
    "    length (list + watch), the loop's grows by 1 request/s.",
  ],
  P5b: ['P5b: baseline = the kubectl 1.34 binary.'],
  P6: [
    'P6: 2 replicas each; baseline = the slowest of the 50 rollouts, each timed from its own patch to complete',
    "    (kubectl's rule) by a separate watch. P6b: baseline = kube-ship with 1 Deployment (the P3 runs).",
  ],
  P7: [
    "P7: each build after docker builder prune -af and removal of the app's local images; time = the action's Build group (build + push).",
  ],
  P8: [
    'P8 (bench/verdicts.ts): cases 1-4 ran side by side (the two 120 s kubectl baselines in the background), the crowded',
    '    namespace alone. P8/P8b/P8c baselines: admin kubectl set image + rollout status on a twin Deployment in its own namespace',
    `    (P8b: a second namespace with the same quota); progressDeadlineSeconds ${PROGRESS_DEADLINE_SECONDS}, the Kubernetes default is 600 (~480 s longer).`,
    "    P8c: kube-ship's time is patch -> its verdict; kubectl's is set image -> its exit (it reports success): not a speed ratio.",
    "    P8d: kubectl started the instant kube-ship's patch returned; P8e counts each tool's ServiceAccount in the audit log.",
    '    P8f-i: bake 0s; bytes counted by a TCP relay on 127.0.0.1 in front of the API server (TLS passes through, so they',
    '    include TLS overhead); peak RSS from /usr/bin/time.',
  ],
  P12: [
    "P12 (bench/light.ts): kube-ship (bake 0s) and kubectl rollout status (started the instant kube-ship's patch returned, its",
    '    own read-only ServiceAccount, a cold discovery cache) each through a TCP relay of its own on 127.0.0.1 that counts',
    '    connections and bytes (TLS included) and the time of the first connection; peak RSS from /usr/bin/time.',
  ],
  P16: [
    "P16 (bench/chart.ts): min(BENCH_RUNS, 2) runs, each with a fresh namespace per side and the stack's helm v4; kube-ship installs",
    '    examples/chart (building a new variant of examples/web), then releases fault=crashloop; helm alone installs the same chart',
    '    and digest (--wait), then upgrades to fault=crashloop with --rollback-on-failure --timeout 2m (about 2.5 minutes a run).',
  ],
  P17: [
    `P17 (bench/chart.ts): BENCH_INTERRUPTS (${INTERRUPTS}) runs per signal and per tool, one release each (examples/chart, 2 replicas,`,
    '    its pre-upgrade migration hook taking 4 s, a new pod template each run), reset to a deployed revision before each run;',
    '    the signal at a random point from 0.3 s to 95 % of an uninterrupted release of the same upgrade by the same tool, after',
    "    the upgrade started (kube-ship: its Deploy group -> exit; helm: start -> exit). SIGINT is the runner's cancel (SIGTERM",
    "    7.5 s later, SIGKILL at 10 s), counted when the step has exited (kube-ship's post step runs after it); SIGKILL is",
    "    counted after kube-ship's post step (helm has none). Counted: the newest revision pending-install/-upgrade/-rollback.",
  ],
  P11: [
    "P11 (bench/manifests.ts): each run a fresh empty namespace per side, both with the stack's admin kubeconfig; kube-ship builds",
    '    and pushes a new variant of examples/web, then kubectl applies a copy of the same files with that digest reference.',
    `    What kube-ship checked: ${CHECKED.ours}.`,
    `    What kubectl checked: ${CHECKED.kubectl}.`,
    '    P11b: the step minus its Build and push group (node start-up, preflight and dry run, digest, apply, rollout, report).',
    '    P11c/P11d: from the line opening its Apply group (after preflight, build+push and the digest) to its exit / its Verdict line.',
  ],
};

/** The heading, the table and the notes, on stdout. */
function printReport(results: Result[], kept: Result[], verdictSeconds: number): void {
  const made = (id: string): boolean => results.some((r) => r.id === id);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `\nkube-ship bench, ${new Date().toISOString()}, node ${process.version}, ${RUNS} runs (P3/P5: ${P3_RUNS}, P8: ${want('P8') ? P8_RUNS : 0}), ${Math.round(secs(now() - benchStarted))} s total, load average ${load}`,
  );
  console.log(table(results));
  console.log(
    [
      '',
      `Notes: medians, min – max show the machine's noise (2 cores, shared with other test runs). ratio = kube-ship / baseline.`,
      ...Object.entries(NOTES).flatMap(([id, lines]) => (made(id) ? lines : [])),
      ...results.filter((r) => r.note).map((r) => `${r.id}: ${r.note}`),
      ...(made('P8')
        ? [`P8 group: ${verdictSeconds.toFixed(0)} s wall time (${P8_RUNS} run${P8_RUNS === 1 ? '' : 's'})`]
        : []),
      `Wrote bench/results/latest.json (${results.length} rows from this run${kept.length ? `, ${kept.length} kept from the previous file: ${kept.map((r) => r.id).join(' ')}` : ''})`,
    ].join('\n'),
  );
}

await main();
