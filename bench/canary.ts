/**
 * P14: `canary`, beside kube-ship without it and beside kubectl, on the same cluster in one run, each case on a fresh
 * Deployment of 10 replicas (progressDeadlineSeconds 30 for all of them, so that kubectl's wait ends).
 *
 * - P14: a crash-looping release (image word `crashloop`), `bake: 5s`: the pods of the release that ever existed and
 *   that ever became Ready, seen by one `kubectl get pods -w` of the namespace, with `canary: 10%` (2 canary pods next
 *   to 10), without it (a rolling update, fail-fast), and with `kubectl set image` + `kubectl rollout status` (until
 *   the progress deadline; what it leaves is counted when it exits).
 * - P14b: the same for a release that is Ready but answers 500 (`http500`), with an http check in `verify`.
 * - P14c: a good release, `bake: 5s` and the same check: step start -> exit with `canary: 10%` and without.
 */
import { join } from 'node:path';
import {
  ROOT,
  apply,
  deploymentManifest,
  env,
  kubectl,
  logText,
  now,
  result,
  run,
  say,
  sleep,
  startAction,
  startKubectl,
  waitComplete,
  watcher,
  type Proc,
  type Result,
} from './lib.js';

export interface CanaryOptions {
  runs: number;
  repo: string;
  ns: string;
  deployerKubeconfig: string;
}

const REPLICAS = 10;
const SHARE = '10%';
const BAKE = '5s';
const CHECK = '- http: {port: 8080, grace: 10s, interval: 2s}';
const DEADLINE_S = 30;
/** kubectl rollout status's own bound, past the progress deadline. */
const KUBECTL_TIMEOUT_S = 90;
const CRASH = 'crashloop-p14';
const HTTP500 = 'http500-p14';

/** The sample app with a variant of its own, so that each tag has its own digest (as bench.ts builds its tags). */
function buildTag(repo: string, tag: string): void {
  const args = ['build', '--network', 'host', '--build-arg', `VARIANT=bench-${tag}`];
  args.push('--build-arg', `BASE_IMAGE=${env.BASE_IMAGE}`, '-t', `${repo}:${tag}`, join(ROOT, 'examples/web'));
  run('docker', args, { env: { ...env, DOCKER_BUILDKIT: '1' } });
  run('docker', ['push', `${repo}:${tag}`]);
}

/** Fresh Deployments of 10 on the good image, rolled out, with no canary left by an earlier bench. */
async function freshDeployments(o: CanaryOptions, names: string[], group: string): Promise<void> {
  kubectl(['delete', 'deployments', '-n', o.ns, '-l', `bench=${group}`, '--ignore-not-found', '--wait=true']);
  const canaries = names.map((n) => `${n}-canary`);
  kubectl(['delete', 'deployments', '-n', o.ns, ...canaries, '--ignore-not-found', '--wait=true']);
  const image = `${o.repo}:good-a`;
  const manifests = names.map((n) =>
    deploymentManifest(n, { namespace: o.ns, image, replicas: REPLICAS, labels: { bench: group } }),
  );
  for (const m of manifests) m.spec.progressDeadlineSeconds = DEADLINE_S;
  apply(manifests);
  await waitComplete(o.ns, `bench=${group}`);
}

// ------------------------------------------------------------------------------------------------ the pod census
const COLUMNS =
  '-o=custom-columns=NAME:.metadata.name,APP:.metadata.labels.app,TRACK:.metadata.labels.kube-ship\\.dev/track,IMAGE:.spec.containers[0].image,READY:.status.conditions[?(@.type=="Ready")].status';

interface Census {
  existed: number;
  ready: number;
  /** Of those that existed, the canary Deployment's pods. */
  canary: number;
}

/** The pods of `app` on an image of `repo:tag` in the watch's lines so far: how many existed, how many were Ready. */
function census(pods: Proc, app: string, ref: string): Census {
  const seen = new Map<string, { ready: boolean; canary: boolean }>();
  for (const { text } of pods.lines) {
    const [name = '', podApp, track, image = '', ready] = text.split(/\s+/);
    if (podApp !== app || !image.startsWith(ref)) continue;
    const was = seen.get(name);
    seen.set(name, { ready: (was?.ready ?? false) || ready === 'True', canary: track === 'canary' });
  }
  const all = [...seen.values()];
  return { existed: all.length, ready: all.filter((p) => p.ready).length, canary: all.filter((p) => p.canary).length };
}

const said = (c: Census): string => `${c.existed} existed, ${c.ready} Ready`;

// ------------------------------------------------------------------------------------------------ the three ways
interface ShipRun {
  seconds: number;
  result: string;
  reason: string;
}

async function ship(o: CanaryOptions, name: string, tag: string, more: Record<string, string>): Promise<ShipRun> {
  const a = startAction({
    bake: BAKE,
    build: 'false',
    image: o.repo,
    tags: tag,
    deployments: `${o.ns}/${name}`,
    kubeconfig: o.deployerKubeconfig,
    namespace: o.ns,
    ...more,
  });
  const fin = await a.finish();
  const outcome = fin.outputs.result ?? '';
  if (outcome === 'no-op' || outcome === 'failed')
    throw new Error(`P14: ${name} ${tag}: ${outcome}\n${logText(a.lines)}`);
  return { seconds: (fin.t - a.startedAt) / 1000, result: outcome, reason: fin.outputs['failure-reason'] ?? '' };
}

interface KubectlRun {
  seconds: number;
  code: number;
  said: string;
  /** What the release left when kubectl exited: its pods, and the Deployment's ready replicas. */
  left: string;
}

async function kubectlRelease(o: CanaryOptions, name: string, tag: string): Promise<KubectlRun> {
  const set = startKubectl(['-n', o.ns, 'set', 'image', `deployment/${name}`, `app=${o.repo}:${tag}`]);
  if ((await set.exited).code !== 0) throw new Error(`P14: kubectl set image failed: ${logText(set.lines)}`);
  const status = startKubectl([
    '-n',
    o.ns,
    'rollout',
    'status',
    `deployment/${name}`,
    `--timeout=${KUBECTL_TIMEOUT_S}s`,
  ]);
  const done = await status.exited;
  const deployment = JSON.parse(kubectl(['get', 'deployment', name, '-n', o.ns, '-o', 'json'])) as {
    status: { replicas?: number; updatedReplicas?: number; readyReplicas?: number };
  };
  const s = deployment.status;
  const left = `${s.updatedReplicas ?? 0} pods of the release, ${s.readyReplicas ?? 0} of ${REPLICAS} Ready (${s.replicas ?? 0} pods), the Deployment left on the release`;
  const last = status.lines.map((l) => l.text).filter((t) => t.trim());
  return { seconds: (done.t - set.startedAt) / 1000, code: done.code, said: last[last.length - 1] ?? '', left };
}

// ------------------------------------------------------------------------------------------------ P14, P14b
interface Release {
  id: string;
  what: string;
  tag: string;
  group: string;
  more: Record<string, string>;
}

/** One release three ways, each on its own fresh Deployment; kubectl's in the background meanwhile. */
async function blastRadius(o: CanaryOptions, pods: Proc, r: Release): Promise<Result> {
  const [withCanary, without, base] = ['with', 'without', 'kubectl'].map((w) => `bench-${r.group}-${w}`) as [
    string,
    string,
    string,
  ];
  await freshDeployments(o, [withCanary, without, base], r.group);
  const theirs = kubectlRelease(o, base, r.tag);
  const canary = await ship(o, withCanary, r.tag, { ...r.more, canary: SHARE });
  const plain = await ship(o, without, r.tag, r.more);
  const k = await theirs;
  await sleep(2000); // the last watch events of the rollbacks
  const ref = `${o.repo}:${r.tag}`;
  const [c, p, b] = [census(pods, withCanary, ref), census(pods, without, ref), census(pods, base, ref)];
  say(
    `${r.id}: canary ${SHARE}: ${said(c)} (${c.canary} canary pods), ${canary.result} in ${canary.seconds.toFixed(1)} s; without: ${said(p)}, ${plain.result} in ${plain.seconds.toFixed(1)} s; kubectl: ${said(b)}, exit ${k.code} in ${k.seconds.toFixed(1)} s`,
  );
  const note = `pods of the release that became Ready: canary ${c.ready}, without canary ${p.ready}, kubectl ${b.ready}; kube-ship with canary: ${canary.result} after ${canary.seconds.toFixed(1)} s ("${canary.reason}"), ${c.canary} of its ${c.existed} pods were the canary's; without: ${plain.result} after ${plain.seconds.toFixed(1)} s ("${plain.reason}"); kubectl: ${b.existed} pods of the release existed, ${b.ready} Ready; rollout status exit ${k.code} after ${k.seconds.toFixed(1)} s, "${k.said}"; it left ${k.left}`;
  return {
    ...result(r.id, r.what, 'pods', [c.existed], [p.existed], 'kube-ship without `canary`', note),
    ratio_text: `Ready: ${c.ready} vs ${p.ready}; kubectl: ${said(b)}`,
  };
}

// ------------------------------------------------------------------------------------------------ P14c
async function canaryCost(o: CanaryOptions): Promise<Result> {
  const [withCanary, without] = ['bench-p14c-with', 'bench-p14c-without'];
  await freshDeployments(o, [withCanary, without], 'p14c');
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < o.runs; i += 1) {
    const tag = i % 2 === 0 ? 'good-b' : 'good-a';
    const c = await ship(o, withCanary, tag, { verify: CHECK, canary: SHARE });
    const p = await ship(o, without, tag, { verify: CHECK });
    if (c.result !== 'success' || p.result !== 'success') throw new Error(`P14c: ${c.result}, ${p.result}`);
    ours.push(c.seconds);
    theirs.push(p.seconds);
    say(`P14c run ${i + 1}: canary ${SHARE} ${c.seconds.toFixed(2)} s, without ${p.seconds.toFixed(2)} s`);
  }
  return result(
    'P14c',
    `good release, ${REPLICAS} replicas, \`bake: ${BAKE}\`, \`verify: ${CHECK.slice(2)}\`: step start -> exit with \`canary: ${SHARE}\``,
    's',
    ours,
    theirs,
    'kube-ship without `canary`, the same inputs',
  );
}

export async function benchCanary(o: CanaryOptions): Promise<Result[]> {
  for (const tag of [CRASH, HTTP500]) buildTag(o.repo, tag);
  const started = now();
  await freshDeployments(o, ['bench-p14-census'], 'p14census'); // the watch's first listing is never empty
  const pods = await watcher(['pods', '-n', o.ns, COLUMNS], /^bench-p14-census-/);
  const crash = await blastRadius(o, pods, {
    id: 'P14',
    what: `crash-looping release (\`crashloop\`), ${REPLICAS} replicas, \`bake: ${BAKE}\`: pods of the release that ever existed, \`canary: ${SHARE}\``,
    tag: CRASH,
    group: 'p14',
    more: {},
  });
  const http500 = await blastRadius(o, pods, {
    id: 'P14b',
    what: `Ready-but-500 release (\`http500\`), ${REPLICAS} replicas, \`verify: ${CHECK.slice(2)}\`: pods of the release that ever existed, \`canary: ${SHARE}\``,
    tag: HTTP500,
    group: 'p14b',
    more: { verify: CHECK },
  });
  pods.stop();
  const cost = await canaryCost(o);
  say(`P14 group: ${((now() - started) / 1000).toFixed(0)} s`);
  kubectl(['delete', 'deployments', '-n', o.ns, '-l', 'bench in (p14,p14b,p14c,p14census)', '--wait=false']);
  return [crash, http500, cost];
}
