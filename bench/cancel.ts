/**
 * P9: the runner's cancel in the middle of a rollout. The step gets SIGINT right after it patched (a rollout whose
 * pods take 5 s to become ready): the time from SIGINT until the Deployment is back on the template it had, and
 * until the step has exited. The tool people use instead, `kubectl rollout status`, leaves the new template in
 * place when it is interrupted: there is no baseline time, only what each leaves behind.
 */
import { BUNDLE, NODE, apply, kubectl, launch, now, result, sleep, waitComplete, type Result } from './lib.js';
import { runnerEnvironment } from '../__tests__/e2e/harness.js';

export interface CancelOptions {
  runs: number;
  repo: string;
  ns: string;
  deployerKubeconfig: string;
}

const NAME = 'bench-p9';

function manifest(ns: string, image: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME, namespace: ns, labels: { bench: 'p9' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: NAME } },
      template: {
        metadata: { labels: { app: NAME }, annotations: { 'kube-ship.dev/ready-delay': '5s' } },
        spec: { containers: [{ name: 'app', image }] },
      },
    },
  };
}

const templateOf = (ns: string): string =>
  JSON.stringify(
    (JSON.parse(kubectl(['get', 'deployment', NAME, '-n', ns, '-o', 'json'])) as { spec: { template: unknown } }).spec
      .template,
  );

/** One cancelled deploy: SIGINT right after the patch; returns ms to restored and ms to exit, after the SIGINT. */
async function cancelledDeploy(opts: CancelOptions): Promise<{ restored: number; exited: number }> {
  const recorded = templateOf(opts.ns);
  const { env: childEnv } = runnerEnvironment({
    build: 'false',
    image: opts.repo,
    tags: 'good-b',
    deployments: `${opts.ns}/${NAME}`,
    kubeconfig: opts.deployerKubeconfig,
    bake: '0s',
  });
  const step = launch(NODE, [BUNDLE], { env: childEnv });
  await step.waitLine(new RegExp(`^${opts.ns}/${NAME}: app -> `), 60_000);
  const signalled = now();
  process.kill(step.pid, 'SIGINT');
  let restored = NaN;
  while (now() - signalled < 30_000) {
    if (templateOf(opts.ns) === recorded) {
      restored = now() - signalled;
      break;
    }
    await sleep(50);
  }
  const exit = await step.exited;
  await waitComplete(opts.ns, 'bench=p9');
  return { restored, exited: exit.t - signalled };
}

export async function benchCancel(opts: CancelOptions): Promise<Result[]> {
  kubectl(['delete', 'deployment', NAME, '-n', opts.ns, '--ignore-not-found', '--wait=true']);
  apply([manifest(opts.ns, `${opts.repo}:good-a`)]);
  await waitComplete(opts.ns, 'bench=p9');
  const runs: { restored: number; exited: number }[] = [];
  for (let i = 0; i < opts.runs; i += 1) runs.push(await cancelledDeploy(opts));
  kubectl(['delete', 'deployment', NAME, '-n', opts.ns, '--ignore-not-found', '--wait=false']);
  const note = '`kubectl rollout status` interrupted the same way leaves the new template in place (no restore)';
  return [
    result(
      'P9',
      "runner's cancel (SIGINT) mid-rollout -> target back on its recorded template",
      'ms',
      runs.map((r) => r.restored),
      null,
      'kubectl rollout status leaves it',
      note,
    ),
    result(
      'P9b',
      'the same SIGINT -> the step has exited',
      'ms',
      runs.map((r) => r.exited),
      null,
      '(runner: SIGTERM at 7.5 s)',
    ),
  ];
}
