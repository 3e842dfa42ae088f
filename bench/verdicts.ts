/**
 * Bench group P8 (BENCH_CASES=P8): the verdicts kube-ship documents for the harder cases, each next to what
 * `kubectl rollout status` does on the same kind of Deployment in the same run, and the cost of a crowded namespace.
 *
 *   P8   unschedulable new pods (the real scheduler, a nodeSelector whose label was removed): patch -> verdict
 *   P8b  a surge pod refused by a ResourceQuota (FailedCreate): patch -> verdict
 *   P8c  a release that crashes ~10 s after it became Ready (`crashlate`), default bake: what each tool concludes
 *   P8d  a healthy rollout of 7 pods x 45 s, `bake: 0s`: patch -> done, both started at the same instant
 *   P8e  the same rollout: API requests counted at the server (audit log), one ServiceAccount per tool
 *   P8f-i one Deployment in a namespace with 2,000 other pods: peak RSS and bytes read from the API server (through a
 *        counting TCP relay), against the same deploy in an empty namespace and against kubectl rollout status
 *
 * Cases 1-4 run side by side (the two 120 s kubectl baselines in the background); the crowded namespace runs alone.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Audit,
  DEPLOYER_SA,
  PROGRESS_DEADLINE_SECONDS,
  READER_RULES,
  apply,
  deploymentManifest,
  env,
  expectResult,
  kubectl,
  launchTimed,
  logText,
  namespaceManifest,
  now,
  patchLine,
  result,
  say,
  secs,
  serviceAccountUser,
  shownLines,
  sleep,
  startAction,
  startKubectl,
  verbBreakdown,
  waitComplete,
  watcher,
  type ActionProc,
  type DeploymentSpec,
  type Line,
  type Proc,
  type Result,
} from './lib.js';
import { startRelay, type Relay } from './relay.js';
import { DEPLOYER_RULES, serviceAccountKubeconfig } from '../__tests__/e2e/harness.js';

export interface P8Options {
  runs: number;
  /** Image repository (in the stack's registry) holding the tags `good-a`, `good-b` and `crashlate`. */
  repo: string;
  /** The namespace of the deployer ServiceAccount (kube-ship's identity) and of the bench's ServiceAccounts. */
  ns: string;
  /** The namespace of the kubectl baselines' Deployments (admin identity, as P1's). */
  baseNs: string;
  deployerKubeconfig: string;
  audit: Audit;
}

const NODE = 'kwok-node-0';
const NODE_LABEL = 'kube-ship.dev/bench-p8';
const QUOTA_NS = 'kube-ship-bench-quota';
const QUOTA_BASE_NS = 'kube-ship-bench-quota-base';
const CROWD_NS = 'kube-ship-bench-crowd';
const EMPTY_NS = 'kube-ship-bench-empty';
const FILLER = 2000;
const SLOW_REPLICAS = 7;
const SLOW_DELAY = '45s';
const MiB = (kib: number): number => kib / 1024;
const KiB = (bytes: number): number => bytes / 1024;
const API_SERVER = 'https://127.0.0.1:6443';

// kube-ship's identity may do what README "Permissions" grants (DEPLOYER_RULES); kubectl's is read-only (READER_RULES).

// ------------------------------------------------------------------------------------------------ cluster objects
/** A P8 Deployment: labelled `bench: p8` and `app: name`. */
const manifest = (name: string, s: Omit<DeploymentSpec, 'labels'>) =>
  deploymentManifest(name, { ...s, labels: { bench: 'p8', app: name } });

/** A Role with `rules` in `ns`, bound to the ServiceAccount `sa` of the bench's namespace. */
function grant(opts: P8Options, ns: string, sa: string, rules: object[]) {
  const meta = { name: `${sa}-p8`, namespace: ns };
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: meta.name },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: opts.ns }],
    },
  ];
}

/** Deletes the P8 Deployments of `ns` and waits until their pods are gone (a ResourceQuota counts terminating pods). */
async function clear(ns: string): Promise<void> {
  kubectl(['delete', 'deployments', '-n', ns, '-l', 'bench=p8', '--ignore-not-found', '--wait=true']);
  for (let i = 0; i < 240; i += 1) {
    const left = kubectl(['get', 'pods', '-n', ns, '-l', 'app', '-o', 'name']).trim();
    if (!left || left.split('\n').every((p) => !/bench-p8/.test(p))) return;
    await sleep(500);
  }
  throw new Error(`pods of the P8 Deployments in ${ns} still there after 120 s`);
}

// ------------------------------------------------------------------------------------------------ processes
/** `kubectl ARGS` under /usr/bin/time (peak RSS), with the given kubeconfig. */
const timedKubectl = (kubeconfigFile: string, args: string[]): Proc & { rssKiB: () => number } =>
  launchTimed('kubectl', ['--kubeconfig', kubeconfigFile, ...args], { env, rssFile: `${kubeconfigFile}.rss` });
/** kubectl as admin in `ns` (the baselines of P1's kind). */
const adminKubectl = (ns: string, ...args: string[]): Proc => startKubectl(['-n', ns, ...args]);

/** With BENCH_LOG_DIR set, each P8 step's log (without its ::add-mask:: lines) is kept there as p8-NAME.log. */
function keepLog(name: string, a: ActionProc): void {
  const dir = process.env.BENCH_LOG_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const stamp = (t: number): string => new Date(t).toISOString().slice(11, 23);
  const body = shownLines(a.lines)
    .map((l) => `${stamp(l.t)} ${l.text}`)
    .join('\n');
  writeFileSync(join(dir, `p8-${name}-${new Date(a.startedAt).toISOString().slice(11, 19)}.log`), `${body}\n`);
}

function ship(opts: P8Options, key: string, tag: string, kubeconfig: string, extra: Record<string, string> = {}) {
  const [ns] = key.split('/');
  return startAction(
    { build: 'false', image: opts.repo, tags: tag, deployments: key, kubeconfig, namespace: ns ?? opts.ns },
    extra,
  );
}

/**
 * kube-ship's verdict on a failed target: the last line it printed about `key` before its Rollback group (the line
 * that says why), with its time. Throws when there is no Rollback group (the step did not fail).
 */
function verdictLine(a: ActionProc, key: string): Line {
  const rollback = a.lines.findIndex((l) => l.text === '::group::Rollback');
  if (rollback < 0) throw new Error(`${key}: kube-ship did not roll back:\n${logText(a.lines.slice(-30))}`);
  const line = a.lines.slice(0, rollback).findLast((l) => l.text.startsWith(`${key}: `));
  if (!line) throw new Error(`${key}: no line before the rollback:\n${logText(a.lines.slice(-30))}`);
  return line;
}

/** The common shape of cases 1 and 2: kube-ship on one Deployment, `kubectl rollout status` on its twin. */
interface VerdictRun {
  ours: number;
  oursResult: string;
  oursReason: string;
  kubectl: number;
  kubectlCode: number;
  kubectlSaid: string;
}

/** kubectl set image + rollout status on `name` in `ns` (admin), timed from the end of the set image. */
async function kubectlVerdict(ns: string, name: string, image: string) {
  const set = await adminKubectl(ns, 'set', 'image', `deployment/${name}`, `app=${image}`).exited;
  if (set.code !== 0) throw new Error(`kubectl set image ${ns}/${name} failed`);
  const status = adminKubectl(ns, 'rollout', 'status', `deployment/${name}`);
  const done = await status.exited;
  return { patched: set.t, seconds: secs(done.t - set.t), code: done.code, said: status.lines.at(-1)?.text ?? '' };
}

/** kube-ship on `key` expected to fail and roll back; times its verdict from its patch. */
async function shipVerdict(opts: P8Options, key: string, tag: string, extra: Record<string, string> = {}) {
  const a = ship(opts, key, tag, opts.deployerKubeconfig, extra);
  const patched = await patchLine(a, key);
  const fin = await a.finish();
  keepLog(key.replace('/', '_'), a);
  const verdict = verdictLine(a, key);
  return {
    a,
    patched,
    seconds: secs(verdict.t - patched.t),
    result: fin.outputs.result ?? '',
    reason: fin.outputs['failure-reason'] ?? '',
    verdict,
  };
}

// ------------------------------------------------------------------------------------------------ case 1
/**
 * Unschedulable: both Deployments (kube-ship's in the bench namespace, kubectl's in the baseline namespace) run on a
 * labelled node through a nodeSelector; the label is removed, then both get a new image: the real scheduler cannot
 * place the new pods.
 */
async function unschedulableVerdict(opts: P8Options): Promise<VerdictRun> {
  const name = 'bench-p8-unsched';
  kubectl(['label', 'node', NODE, `${NODE_LABEL}-`]);
  const key = `${opts.ns}/${name}`;
  const [ours, base] = await Promise.all([
    shipVerdict(opts, key, 'good-b'),
    kubectlVerdict(opts.baseNs, `${name}-base`, `${opts.repo}:good-b`),
  ]);
  return {
    ours: ours.seconds,
    oursResult: ours.result,
    oursReason: ours.reason,
    kubectl: base.seconds,
    kubectlCode: base.code,
    kubectlSaid: base.said,
  };
}

// ------------------------------------------------------------------------------------------------ case 2
/** A namespace whose ResourceQuota (pods = replicas) has no room for the surge pod (maxSurge 1, maxUnavailable 0). */
async function quotaRefusedSurgeVerdict(opts: P8Options): Promise<VerdictRun> {
  const name = 'bench-p8-quota';
  const [ours, base] = await Promise.all([
    shipVerdict(opts, `${QUOTA_NS}/${name}`, 'good-b'),
    kubectlVerdict(QUOTA_BASE_NS, name, `${opts.repo}:good-b`),
  ]);
  return {
    ours: ours.seconds,
    oursResult: ours.result,
    oursReason: ours.reason,
    kubectl: base.seconds,
    kubectlCode: base.code,
    kubectlSaid: base.said,
  };
}

// ------------------------------------------------------------------------------------------------ case 3
interface LateCrashRun {
  /** kube-ship: patch -> its verdict, and patch -> the moment it first saw the rollout complete (bake began). */
  ours: number;
  oursRolledOut: number;
  oursResult: string;
  oursReason: string;
  /** kubectl: set image -> its exit, what it printed, its exit code. */
  kubectl: number;
  kubectlCode: number;
  kubectlSaid: string;
  /** set image -> the first restart of a new pod of kubectl's Deployment (a watch). */
  kubectlCrash: number;
}
/** `crashlate`: Ready ~1 s after start, crashes ~10 s later, then crash-loops. kube-ship with its default bake. */
async function lateCrashUnderDefaultBake(opts: P8Options): Promise<LateCrashRun> {
  const name = 'bench-p8-late';
  const key = `${opts.ns}/${name}`;
  const cols = '-o=custom-columns=NAME:.metadata.name,RESTARTS:.status.containerStatuses[*].restartCount';
  const pods = await watcher(['pods', '-n', opts.baseNs, '-l', `app=${name}-base`, cols], new RegExp(`${name}-base`));
  try {
    // The runner passes every input with a default; the action's default bake is 30s (the harness sets 2s).
    const [ours, base] = await Promise.all([
      shipVerdict(opts, key, 'crashlate', { INPUT_BAKE: '30s' }),
      kubectlVerdict(opts.baseNs, `${name}-base`, `${opts.repo}:crashlate`),
    ]);
    const rolledOut = ours.a.lines.find((l) => l.text.startsWith(`${key}: rolled out; baking`));
    // The first restart of a new pod of kubectl's Deployment, which kubectl did not wait to see.
    const restarted = (l: Line): boolean =>
      l.t > base.patched && (l.text.split(/\s+/)[1] ?? '').split(',').some((n) => Number(n) > 0);
    while (!pods.lines.some(restarted) && now() - base.patched < 40_000) await sleep(250);
    const crash = pods.lines.find(restarted);
    return {
      ours: ours.seconds,
      oursRolledOut: rolledOut ? secs(rolledOut.t - ours.patched.t) : NaN,
      oursResult: ours.result,
      oursReason: ours.reason,
      kubectl: base.seconds,
      kubectlCode: base.code,
      kubectlSaid: base.said,
      kubectlCrash: crash ? secs(crash.t - base.patched) : NaN,
    };
  } finally {
    pods.stop();
  }
}

// ------------------------------------------------------------------------------------------------ case 4
interface SlowRun {
  ours: number;
  oursVerdict: number;
  kubectl: number;
  oursRequests: number;
  kubectlRequests: number;
  breakdown: Record<string, number>;
  kubectlBreakdown: Record<string, number>;
}
/**
 * A healthy rollout whose pods each take 45 s to become ready (watches quiet for longer than client-node's 30 s
 * inactivity timeout): kube-ship with `bake: 0s` against `kubectl rollout status` started the instant the patch
 * returned, each with a ServiceAccount of its own so the audit log counts each one's requests.
 */
async function slowHealthyRollout(opts: P8Options, ids: { shipKc: string; kubectlKcFile: string }): Promise<SlowRun> {
  const name = 'bench-p8-slow';
  const key = `${opts.ns}/${name}`;
  const mark = opts.audit.mark();
  const a = ship(opts, key, 'good-b', ids.shipKc, { INPUT_BAKE: '0s' });
  const patched = await patchLine(a, key);
  const k = startKubectl(['rollout', 'status', `deployment/${name}`], ids.kubectlKcFile);
  const [fin, kx] = await Promise.all([expectResult(a, 'success'), k.exited]);
  keepLog('slow', a);
  if (kx.code !== 0) throw new Error(`kubectl rollout status ${name} failed:\n${logText(k.lines)}`);
  const verdict = a.lines.find((l) => l.text.startsWith(`${key}: deployment "${name}" successfully rolled out`));
  await sleep(1500); // a watch ended by the exit is logged when the server sees it end
  const events = opts.audit.since(mark);
  const ours = events.filter((e) => e.user === SHIP_USER(opts) && e.received >= a.startedAt - 5);
  const theirs = events.filter((e) => e.user === KUBECTL_USER(opts) && e.received >= k.startedAt - 5);
  return {
    ours: secs(fin.t - patched.t),
    oursVerdict: verdict ? secs(verdict.t - patched.t) : NaN,
    kubectl: secs(kx.t - patched.t),
    oursRequests: ours.length,
    kubectlRequests: theirs.length,
    breakdown: verbBreakdown(ours),
    kubectlBreakdown: verbBreakdown(theirs),
  };
}
const SHIP_SA = 'kube-ship-p8';
const KUBECTL_SA = 'kube-ship-p8-kubectl';
const DEPLOYER_USER = (o: P8Options): string => serviceAccountUser(o.ns, DEPLOYER_SA);
const SHIP_USER = (o: P8Options): string => serviceAccountUser(o.ns, SHIP_SA);
const KUBECTL_USER = (o: P8Options): string => serviceAccountUser(o.ns, KUBECTL_SA);

// ------------------------------------------------------------------------------------------------ case 5
interface Footprint {
  rssKiB: number;
  bytesDown: number;
  bytesUp: number;
  connections: number;
  /** Requests counted at the server (audit log) for the tool's ServiceAccount over the deploy. */
  requests: number;
}
interface CrowdRun {
  empty: Footprint;
  crowded: Footprint;
  kubectlEmpty: Footprint;
  kubectlCrowded: Footprint;
  fillerSeconds: number;
}
const footprint = (relay: Relay, rssKiB: number, requests: number): Footprint => ({
  rssKiB,
  bytesDown: relay.down(),
  bytesUp: relay.up(),
  connections: relay.connections(),
  requests,
});

/**
 * One deploy (3 replicas, `bake: 0s`) of `ns/name` by kube-ship, and `kubectl rollout status` of the same rollout
 * started the instant the patch returned, each through a byte-counting relay of its own, each under /usr/bin/time.
 */
async function measuredDeploy(
  opts: P8Options,
  ns: string,
  name: string,
  kubectlKcFile: string,
): Promise<{ ours: Footprint; kubectl: Footprint }> {
  const [r1, r2] = await Promise.all([startRelay(API_SERVER), startRelay(API_SERVER)]);
  try {
    const key = `${ns}/${name}`;
    const kcFile = `${kubectlKcFile}.${r2.port}`;
    writeFileSync(kcFile, r2.kubeconfig(readFileSync(kubectlKcFile, 'utf8')), { mode: 0o600 });
    const mark = opts.audit.mark();
    const a = ship(opts, key, 'good-b', r1.kubeconfig(opts.deployerKubeconfig), { INPUT_BAKE: '0s' });
    await patchLine(a, key);
    // A discovery cache of its own, empty: kubectl on a fresh runner has none either.
    const cache = join(process.env.BENCH_TMP ?? '/tmp', `kube-cache-${r2.port}`);
    const k = timedKubectl(kcFile, ['--cache-dir', cache, '-n', ns, 'rollout', 'status', `deployment/${name}`]);
    const [fin, kx] = await Promise.all([expectResult(a, 'success'), k.exited]);
    keepLog(`crowd-${ns}`, a);
    if (kx.code !== 0) throw new Error(`kubectl rollout status ${key} failed:\n${logText(k.lines)}`);
    await sleep(1500); // a watch ended by the exit is logged when the server sees it end
    const events = opts.audit.since(mark);
    const count = (user: string, from: number): number =>
      events.filter((e) => e.user === user && e.received >= from - 5).length;
    return {
      ours: footprint(r1, fin.rssKiB, count(DEPLOYER_USER(opts), a.startedAt)),
      kubectl: footprint(r2, k.rssKiB(), count(KUBECTL_USER(opts), k.startedAt)),
    };
  } finally {
    await Promise.all([r1.close(), r2.close()]);
  }
}

async function crowdedNamespaceFootprint(opts: P8Options, kubectlKcFile: string): Promise<CrowdRun> {
  const name = 'bench-p8-crowd';
  const empty = await measuredDeploy(opts, EMPTY_NS, name, kubectlKcFile);
  say(`P8 crowded namespace: ${FILLER} other pods`);
  const started = now();
  apply([
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'filler', namespace: CROWD_NS, labels: { bench: 'p8-filler' } },
      spec: {
        replicas: FILLER,
        selector: { matchLabels: { filler: 'yes' } },
        template: {
          metadata: { labels: { filler: 'yes' } },
          spec: { containers: [{ name: 'app', image: `${opts.repo}:good-a` }] },
        },
      },
    },
  ]);
  try {
    await waitComplete(CROWD_NS, 'bench=p8-filler', 300_000);
    const fillerSeconds = secs(now() - started);
    const running = kubectl(['get', 'pods', '-n', CROWD_NS, '-l', 'filler=yes', '--no-headers']).split('\n');
    const nRunning = running.filter((l) => /\sRunning\s/.test(l)).length;
    say(`P8 crowded namespace: ${nRunning} filler pods Running after ${fillerSeconds.toFixed(0)} s`);
    if (nRunning < FILLER) throw new Error(`only ${nRunning} of ${FILLER} filler pods are Running`);
    const crowded = await measuredDeploy(opts, CROWD_NS, name, kubectlKcFile);
    return {
      empty: empty.ours,
      kubectlEmpty: empty.kubectl,
      crowded: crowded.ours,
      kubectlCrowded: crowded.kubectl,
      fillerSeconds,
    };
  } finally {
    kubectl(['delete', 'deployment', 'filler', '-n', CROWD_NS, '--ignore-not-found', '--wait=true']);
    for (let i = 0; i < 240; i += 1) {
      if (!kubectl(['get', 'pods', '-n', CROWD_NS, '-l', 'filler=yes', '-o', 'name']).trim()) break;
      await sleep(500);
    }
  }
}

// ------------------------------------------------------------------------------------------------ setup, runs
/** Namespaces, quotas, grants and the two ServiceAccounts of case 4 (once per bench). */
function setup(opts: P8Options): { shipKc: string; kubectlKcFile: string } {
  const quota = (ns: string) => ({
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: 'pods', namespace: ns },
    spec: { hard: { pods: '3' } },
  });
  apply([QUOTA_NS, QUOTA_BASE_NS, CROWD_NS, EMPTY_NS, opts.baseNs].map(namespaceManifest));
  apply([quota(QUOTA_NS), quota(QUOTA_BASE_NS)]);
  const shipKc = serviceAccountKubeconfig(SHIP_SA, DEPLOYER_RULES, '2h');
  const kubectlKc = serviceAccountKubeconfig(KUBECTL_SA, READER_RULES, '2h');
  apply([
    ...[QUOTA_NS, CROWD_NS, EMPTY_NS].flatMap((ns) => grant(opts, ns, DEPLOYER_SA, DEPLOYER_RULES)),
    ...[CROWD_NS, EMPTY_NS].flatMap((ns) => grant(opts, ns, KUBECTL_SA, READER_RULES)),
  ]);
  const kubectlKcFile = join(process.env.BENCH_TMP ?? '/tmp', 'bench-p8-kubectl.kubeconfig');
  writeFileSync(kubectlKcFile, kubectlKc, { mode: 0o600 });
  return { shipKc, kubectlKcFile };
}

/** Every Deployment of one run, fresh (the failed ones of the run before were rolled back or are stuck). */
async function prepareRun(opts: P8Options): Promise<void> {
  const nss = [opts.ns, opts.baseNs, QUOTA_NS, QUOTA_BASE_NS, CROWD_NS, EMPTY_NS];
  await Promise.all(nss.map((ns) => clear(ns)));
  const good = `${opts.repo}:good-a`;
  kubectl(['label', 'node', NODE, `${NODE_LABEL}=yes`, '--overwrite']);
  const onNode = { [NODE_LABEL]: 'yes' };
  const quota = { replicas: 3, image: good, surge: 1, unavailable: 0 };
  apply([
    manifest('bench-p8-unsched', { namespace: opts.ns, replicas: 3, image: good, nodeSelector: onNode }),
    manifest('bench-p8-unsched-base', { namespace: opts.baseNs, replicas: 3, image: good, nodeSelector: onNode }),
    manifest('bench-p8-quota', { namespace: QUOTA_NS, ...quota }),
    manifest('bench-p8-quota', { namespace: QUOTA_BASE_NS, ...quota }),
    manifest('bench-p8-late', { namespace: opts.ns, replicas: 3, image: good }),
    manifest('bench-p8-late-base', { namespace: opts.baseNs, replicas: 3, image: good }),
    manifest('bench-p8-slow', { namespace: opts.ns, replicas: SLOW_REPLICAS, image: good, readyDelay: SLOW_DELAY }),
    manifest('bench-p8-crowd', { namespace: CROWD_NS, replicas: 3, image: good }),
    manifest('bench-p8-crowd', { namespace: EMPTY_NS, replicas: 3, image: good }),
  ]);
  // The 45 s Deployment of case 4 is awaited just before case 4 (cases 1-3 run meanwhile).
  await Promise.all(nss.map((ns) => waitComplete(ns, 'bench=p8,app!=bench-p8-slow', 180_000)));
}

interface P8Run {
  unsched: VerdictRun;
  quota: VerdictRun;
  late: LateCrashRun;
  slow: SlowRun;
  crowd: CrowdRun;
}

async function oneRun(opts: P8Options, ids: { shipKc: string; kubectlKcFile: string }, i: number): Promise<P8Run> {
  const t0 = now();
  await prepareRun(opts);
  say(`P8 run ${i}: Deployments ready in ${secs(now() - t0).toFixed(0)} s; cases 1-4 side by side`);
  const unschedP = unschedulableVerdict(opts);
  const quotaP = quotaRefusedSurgeVerdict(opts);
  const late = await lateCrashUnderDefaultBake(opts);
  say(
    `P8c run ${i}: kube-ship ${late.oursResult} at ${late.ours.toFixed(2)} s; kubectl exit ${late.kubectlCode} at ${late.kubectl.toFixed(2)} s ("${late.kubectlSaid}")`,
  );
  await waitComplete(opts.ns, 'app=bench-p8-slow', 180_000);
  const slow = await slowHealthyRollout(opts, ids);
  say(
    `P8d run ${i}: kube-ship ${slow.ours.toFixed(2)} s, kubectl ${slow.kubectl.toFixed(2)} s; requests ${slow.oursRequests} vs ${slow.kubectlRequests}`,
  );
  const [unsched, quota] = await Promise.all([unschedP, quotaP]);
  say(
    `P8 run ${i}: unschedulable ${unsched.ours.toFixed(2)} s vs ${unsched.kubectl.toFixed(2)} s (${unsched.oursReason})`,
  );
  say(`P8b run ${i}: quota ${quota.ours.toFixed(2)} s vs ${quota.kubectl.toFixed(2)} s (${quota.oursReason})`);
  const crowd = await crowdedNamespaceFootprint(opts, ids.kubectlKcFile);
  say(
    `P8f-i run ${i}: RSS ${MiB(crowd.crowded.rssKiB).toFixed(0)} MiB (empty ${MiB(crowd.empty.rssKiB).toFixed(0)}), read ${KiB(crowd.crowded.bytesDown).toFixed(0)} KiB (empty ${KiB(crowd.empty.bytesDown).toFixed(0)})`,
  );
  for (const ns of [opts.ns, opts.baseNs, QUOTA_NS, QUOTA_BASE_NS, CROWD_NS, EMPTY_NS]) await clear(ns);
  kubectl(['label', 'node', NODE, `${NODE_LABEL}-`]);
  say(`P8 run ${i} took ${secs(now() - t0).toFixed(0)} s`);
  return { unsched, quota, late, slow, crowd };
}

const said = (code: number, line: string): string => `exit ${code}: "${line.replace(/\s+/g, ' ').slice(0, 110)}"`;
const distinct = (xs: string[]): string => [...new Set(xs)].join(' / ');

/** Runs the P8 group `opts.runs` times; returns its rows (and its notes, on each row). */
export async function benchVerdicts(opts: P8Options): Promise<Result[]> {
  const started = now();
  const ids = setup(opts);
  const runs: P8Run[] = [];
  for (let i = 1; i <= opts.runs; i += 1) runs.push(await oneRun(opts, ids, i));
  const pick = <T>(f: (r: P8Run) => T): T[] => runs.map(f);
  say(`P8 group: ${secs(now() - started).toFixed(0)} s`);

  const late = pick((r) => r.late);
  const unsched = pick((r) => r.unsched);
  const quota = pick((r) => r.quota);
  const slow = pick((r) => r.slow);
  const crowd = pick((r) => r.crowd);
  const rows: Result[] = [
    result(
      'P8',
      'unschedulable new pods (nodeSelector label removed): patch -> verdict',
      's',
      unsched.map((r) => r.ours),
      unsched.map((r) => r.kubectl),
      `kubectl rollout status, progressDeadlineSeconds ${PROGRESS_DEADLINE_SECONDS} (default 600)`,
      `kube-ship: ${distinct(unsched.map((r) => `${r.oursResult}, ${r.oursReason.slice(0, 240)}`))}; kubectl: ${distinct(unsched.map((r) => said(r.kubectlCode, r.kubectlSaid)))}`,
    ),
    result(
      'P8b',
      'surge pod refused by a ResourceQuota (pods=3, 3 replicas, maxSurge 1): patch -> verdict',
      's',
      quota.map((r) => r.ours),
      quota.map((r) => r.kubectl),
      `kubectl rollout status, progressDeadlineSeconds ${PROGRESS_DEADLINE_SECONDS} (default 600)`,
      `kube-ship: ${distinct(quota.map((r) => `${r.oursResult}, ${r.oursReason.slice(0, 240)}`))}; kubectl: ${distinct(quota.map((r) => said(r.kubectlCode, r.kubectlSaid)))}`,
    ),
    {
      ...result(
        'P8c',
        'crashlate (Ready, crashes ~10 s later), default bake 30s: patch -> verdict',
        's',
        late.map((r) => r.ours),
        late.map((r) => r.kubectl),
        'kubectl rollout status (its verdict: success)',
        `kube-ship saw the rollout complete at ${distinct(late.map((r) => `${r.oursRolledOut.toFixed(1)} s`))}, then failed in the bake: ${distinct(late.map((r) => `${r.oursResult}, ${r.oursReason.slice(0, 140)}`))}. kubectl: ${distinct(late.map((r) => said(r.kubectlCode, r.kubectlSaid)))}; its first new pod restarted ${distinct(late.map((r) => `${r.kubectlCrash.toFixed(1)} s`))} after its patch`,
      ),
      ratio: null,
      ratio_text: `not a speed ratio: kube-ship ${distinct(late.map((r) => r.oursResult))}, kubectl ${distinct(late.map((r) => (r.kubectlCode === 0 ? 'success' : `exit ${r.kubectlCode}`)))}`,
    },
    result(
      'P8d',
      `healthy rollout, ${SLOW_REPLICAS} pods x ${SLOW_DELAY} ready delay, bake 0s: patch -> done (step exit)`,
      's',
      slow.map((r) => r.ours),
      slow.map((r) => r.kubectl),
      'kubectl rollout status started at the same instant (goal: ratio <= 1.05)',
      `kube-ship's verdict line came at ${distinct(slow.map((r) => `${r.oursVerdict.toFixed(2)} s`))}`,
    ),
    result(
      'P8e',
      `API requests for that rollout (whole step), counted at the server (audit log)`,
      'requests',
      slow.map((r) => r.oursRequests),
      slow.map((r) => r.kubectlRequests),
      'kubectl rollout status, its own ServiceAccount',
      `kube-ship, first run: ${JSON.stringify(slow[0]?.breakdown ?? {})}; kubectl: ${JSON.stringify(slow[0]?.kubectlBreakdown ?? {})}`,
    ),
    result(
      'P8f',
      `peak RSS, one Deployment in a namespace with ${FILLER} other pods`,
      'MiB',
      crowd.map((r) => MiB(r.crowded.rssKiB)),
      crowd.map((r) => MiB(r.empty.rssKiB)),
      'kube-ship, same deploy in an empty namespace (goal: ratio <= 1.10)',
      `${FILLER} filler pods Running ${distinct(crowd.map((r) => `${r.fillerSeconds.toFixed(0)} s`))} after their Deployment was created`,
    ),
    result(
      'P8g',
      `bytes read from the API server (TCP, TLS included), same deploy, ${FILLER} other pods`,
      'KiB',
      crowd.map((r) => KiB(r.crowded.bytesDown)),
      crowd.map((r) => KiB(r.empty.bytesDown)),
      'kube-ship, same deploy in an empty namespace (goal: ratio <= 1.10)',
      `kube-ship's TCP connections / API requests (audit log): ${distinct(crowd.map((r) => `${r.crowded.connections} / ${r.crowded.requests} crowded, ${r.empty.connections} / ${r.empty.requests} empty`))}; bytes sent: ${distinct(crowd.map((r) => `${KiB(r.crowded.bytesUp).toFixed(1)} KiB crowded, ${KiB(r.empty.bytesUp).toFixed(1)} KiB empty`))}`,
    ),
    result(
      'P8h',
      `peak RSS, ${FILLER} other pods`,
      'MiB',
      crowd.map((r) => MiB(r.crowded.rssKiB)),
      crowd.map((r) => MiB(r.kubectlCrowded.rssKiB)),
      'kubectl rollout status of the same rollout',
      `kubectl in the empty namespace: ${distinct(crowd.map((r) => `${MiB(r.kubectlEmpty.rssKiB).toFixed(1)} MiB`))}`,
    ),
    result(
      'P8i',
      `bytes read from the API server, ${FILLER} other pods`,
      'KiB',
      crowd.map((r) => KiB(r.crowded.bytesDown)),
      crowd.map((r) => KiB(r.kubectlCrowded.bytesDown)),
      'kubectl rollout status of the same rollout',
      `kubectl (cold discovery cache, as on a fresh runner): ${distinct(crowd.map((r) => `${r.kubectlCrowded.connections} connection(s) / ${r.kubectlCrowded.requests} requests`))}; in the empty namespace ${distinct(crowd.map((r) => `${KiB(r.kubectlEmpty.bytesDown).toFixed(1)} KiB`))}`,
    ),
  ];
  return rows;
}
