/**
 * P10: a StatefulSet of 3 gets a crash-looping release. kube-ship: patch -> verdict, and patch -> the recorded
 * template back with every pod Ready. The tool people use instead: `kubectl set image` + `kubectl rollout status`
 * (a StatefulSet has no progress deadline, so it waits until its own --timeout), then `kubectl rollout undo` +
 * `rollout status`: with the OrderedReady policy the controller waits for the broken pod to become Ready before it
 * replaces it, so the undo stays stuck until someone deletes that pod.
 */
import { BUNDLE, NODE, apply, kubectl, launch, now, result, say, sleep, startKubectl, type Result } from './lib.js';
import { runnerEnvironment } from '../__tests__/e2e/harness.js';

export interface StatefulSetOptions {
  runs: number;
  repo: string;
  ns: string;
  deployerKubeconfig: string;
  /** How long kubectl's `rollout status` is given, after the patch and after the undo. */
  kubectlTimeoutS: number;
}

const NAME = 'bench-p10';
const BASE = 'bench-p10-base';

function manifest(name: string, ns: string, image: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: ns, labels: { bench: 'p10' } },
    spec: {
      serviceName: name,
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'app', image, readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }],
        },
      },
    },
  };
}

interface Pod {
  metadata: { deletionTimestamp?: string };
  spec: { containers: { image: string }[] };
  status: { conditions?: { type: string; status: string }[] };
}

/** Every pod of the StatefulSet Ready and on `image`, and all 3 there. */
function healthyOn(name: string, ns: string, image: string): boolean {
  const pods = (JSON.parse(kubectl(['get', 'pods', '-n', ns, '-l', `app=${name}`, '-o', 'json'])) as { items: Pod[] })
    .items;
  const live = pods.filter((p) => !p.metadata.deletionTimestamp);
  return (
    live.length === 3 &&
    live.every(
      (p) =>
        p.spec.containers[0]?.image === image &&
        (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    )
  );
}

async function waitHealthy(name: string, ns: string, image: string, timeoutMs: number): Promise<number> {
  const started = now();
  while (now() - started < timeoutMs) {
    if (healthyOn(name, ns, image)) return now() - started;
    await sleep(200);
  }
  return NaN;
}

/** A fresh StatefulSet on the good image, rolled out. */
async function fresh(name: string, opts: StatefulSetOptions): Promise<string> {
  const good = `${opts.repo}:good-a`;
  kubectl(['delete', 'statefulset', name, '-n', opts.ns, '--ignore-not-found', '--wait=true']);
  kubectl(['delete', 'pods', '-n', opts.ns, '-l', `app=${name}`, '--ignore-not-found', '--wait=true']);
  apply([manifest(name, opts.ns, good)]);
  if (Number.isNaN(await waitHealthy(name, opts.ns, good, 120_000))) throw new Error(`${name} did not start`);
  return good;
}

/** kube-ship deploys the crash-looping tag: ms from its patch to the verdict, and to every pod Ready again. */
async function shipRun(opts: StatefulSetOptions): Promise<{ verdict: number; restored: number }> {
  const good = await fresh(NAME, opts);
  const { env: childEnv } = runnerEnvironment({
    build: 'false',
    image: opts.repo,
    tags: 'crashloop',
    workloads: `${opts.ns}/statefulset/${NAME}`,
    deployments: '',
    kubeconfig: opts.deployerKubeconfig,
  });
  const step = launch(NODE, [BUNDLE], { env: childEnv });
  const patched = await step.waitLine(new RegExp(`^${opts.ns}/statefulset/${NAME}: app -> `), 60_000);
  const verdict = await step.waitLine(/^Verdict /, 120_000);
  const exit = await step.exited;
  if (exit.code !== 1) throw new Error(`P10: kube-ship exited ${exit.code}, expected 1 (rolled back)`);
  const restored = await waitHealthy(NAME, opts.ns, good, 60_000);
  return { verdict: verdict.t - patched.t, restored: exit.t - patched.t + restored };
}

/** kubectl's way: set image, rollout status until its timeout; undo, rollout status until its timeout. */
async function kubectlRun(opts: StatefulSetOptions, crashRef: string): Promise<{ status: number; undoStuck: boolean }> {
  const good = await fresh(BASE, opts);
  const timeout = `--timeout=${opts.kubectlTimeoutS}s`;
  kubectl(['set', 'image', `statefulset/${BASE}`, `app=${crashRef}`, '-n', opts.ns]);
  const started = now();
  const status = await startKubectl(['rollout', 'status', `statefulset/${BASE}`, '-n', opts.ns, timeout]).exited;
  const statusMs = now() - started;
  if (status.code === 0) throw new Error('P10: kubectl rollout status called the crash-looping release rolled out');
  kubectl(['rollout', 'undo', `statefulset/${BASE}`, '-n', opts.ns]);
  await startKubectl(['rollout', 'status', `statefulset/${BASE}`, '-n', opts.ns, timeout]).exited;
  const undoStuck = !healthyOn(BASE, opts.ns, good);
  return { status: statusMs, undoStuck };
}

export async function benchStatefulSet(opts: StatefulSetOptions): Promise<Result[]> {
  const crashRef = `${opts.repo}:crashloop`;
  const ship: { verdict: number; restored: number }[] = [];
  for (let i = 0; i < opts.runs; i += 1) ship.push(await shipRun(opts));
  say('P10: kubectl set image + rollout status + rollout undo (waits its timeouts)');
  const base = await kubectlRun(opts, crashRef);
  kubectl(['delete', 'statefulset', NAME, BASE, '-n', opts.ns, '--ignore-not-found', '--wait=false']);
  const stuck = base.undoStuck
    ? `after \`kubectl rollout undo\` a pod of the failed release was still not Ready when \`rollout status\` gave up at ${opts.kubectlTimeoutS} s (the controller waits for it: it stays until deleted by hand)`
    : 'kubectl rollout undo came back healthy';
  return [
    result(
      'P10',
      'StatefulSet of 3, crash-looping release: patch -> verdict',
      's',
      ship.map((r) => r.verdict / 1000),
      [base.status / 1000],
      `\`kubectl rollout status\` (a StatefulSet has no progress deadline: no verdict, it waits until --timeout=${opts.kubectlTimeoutS}s)`,
    ),
    {
      ...result(
        'P10b',
        'the same: patch -> recorded template back, every pod Ready',
        's',
        ship.map((r) => r.restored / 1000),
        null,
        '`rollout status`; `rollout undo`; `rollout status`',
        stuck,
      ),
      ratio_text: base.undoStuck ? 'never, without a manual step' : 'restored',
    },
  ];
}
