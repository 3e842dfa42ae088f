/**
 * Canary first, end to end on the local stack: a crash-looping release and a Ready-but-500 one stopped at the canary
 * (the stable Deployment never changed, and only canary pods ever ran the release), a good release promoted step by
 * step, a cancel and a SIGKILL at a canary step (the canary deleted, by the step or by the post step), and a
 * DaemonSet refused in preflight.
 */
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  createWorkload,
  freshNamespace,
  initialImage,
  kubectl,
  kubectlJson,
  podImages,
  runAction,
  template,
  type ActionRun,
} from './harness.js';

const TRACK = 'kube-ship.dev/track';

interface Pods {
  items: { metadata: { name: string; labels?: Record<string, string> }; spec: { containers: { image: string }[] } }[];
}

/**
 * Every pod of the app seen while `run` goes, by name: whether it is a canary pod and its image. Polled every
 * 300 ms: pods live seconds at least, so none that ran is missed.
 */
async function watchingPods(name: string, run: () => Promise<ActionRun>) {
  const seen = new Map<string, { canary: boolean; image: string }>();
  const look = (): void => {
    for (const pod of kubectlJson<Pods>(['get', 'pods', '-n', NAMESPACE, '-l', `app=${name}`]).items) {
      const image = pod.spec.containers[0]?.image ?? '';
      seen.set(pod.metadata.name, { canary: pod.metadata.labels?.[TRACK] === 'canary', image });
    }
  };
  const poll = setInterval(look, 300);
  try {
    return { result: await run(), seen };
  } finally {
    clearInterval(poll);
  }
}

const generation = (name: string): number =>
  kubectlJson<{ metadata: { generation: number } }>(['get', 'deployment', name, '-n', NAMESPACE]).metadata.generation;

/** Whether `<name>-canary` exists now. */
const canaryExists = (name: string): boolean =>
  kubectl(['get', 'deployment', `${name}-canary`, '-n', NAMESPACE, '--ignore-not-found', '-o', 'name']).trim() !== '';

const stepsOf = (run: ActionRun) =>
  JSON.parse(run.outputs.canary ?? '[]') as { share: string; replicas: number; result: string; seconds: number }[];

/** The app's Deployment, made afresh, with no canary left by an earlier run of this file. */
function createStable(name: string, replicas: number): void {
  kubectl(['delete', 'deployment', `${name}-canary`, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
  createDeployment(name, initialImage(name), { replicas });
}

describe('canary first', () => {
  it('a crash-looping release of 10 replicas stops at its 10% canary: only canary pods ever ran it', async () => {
    createStable('k-crash', 10);
    const recorded = template('k-crash');
    const before = generation('k-crash');
    const inputs = appInputs('k-crash', 'crashloop-k-crash', 'k-crash', { canary: '10%', bake: '2s' });
    const { result: run, seen } = await watchingPods('k-crash', () => runAction(inputs));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.outputs['failure-reason']).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(
      /^canary 10%: .*k-crash-canary: pod k-crash-canary-.*CrashLoopBackOff/,
    );
    expect(stepsOf(run)).toMatchObject([{ share: '10%', replicas: 2, result: 'failed' }]);
    expect(run.summary).toContain('Canary first');
    expect(run.summary).toContain('The canary was stopped and deleted; the stable Deployment was not changed.');
    // The stable Deployment's row: its image unchanged, and so it is said.
    expect(run.summary).toMatch(/k-crash<\/code><br>app \| [^|]* \(unchanged\) \|[^\n]*➖&nbsp;unchanged/);
    expect(generation('k-crash')).toBe(before);
    expect(template('k-crash')).toEqual(recorded);
    expect(canaryExists('k-crash')).toBe(false);
    const release = [...seen.values()].filter((p) => p.image.includes(':crashloop-k-crash@'));
    expect(release.length).toBeGreaterThan(0);
    expect(release.every((p) => p.canary)).toBe(true);
  });

  it('a Ready release that answers 500 is stopped at its one-pod canary by the checks of verify', async () => {
    createStable('k-500', 3);
    const recorded = template('k-500');
    const verify = '- http: {port: 8080, grace: 4s, interval: 1s, timeout: 3s}';
    const run = await runAction(appInputs('k-500', 'http500-1', 'k-500', { canary: '1', bake: '0s', verify }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.outputs['failure-reason']).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/^canary 1 pod: .*verify http #1 failed: pod k-500-canary-/);
    expect(stepsOf(run)).toMatchObject([{ share: '1 pod', replicas: 1, result: 'failed' }]);
    expect(template('k-500')).toEqual(recorded);
    expect(canaryExists('k-500')).toBe(false);
    expect(run.summary).toContain('VerifyFailed');
  });

  it('a good release passes every step, then the stable Deployment is patched and the canary deleted', async () => {
    createStable('k-good', 4);
    const verify = '- http: {port: 8080, grace: 2s, interval: 1s, timeout: 3s}';
    const run = await runAction(appInputs('k-good', 'v2', 'k-good', { canary: '10%, 50%', bake: '1s', verify }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    const steps = stepsOf(run);
    expect(steps).toMatchObject([
      { share: '10%', replicas: 1, result: 'passed' },
      { share: '50%', replicas: 4, result: 'passed' },
    ]);
    expect(steps.every((s) => s.seconds > 0)).toBe(true);
    expect(run.log).toContain('::group::Canary 2/2: 50%');
    expect(canaryExists('k-good')).toBe(false);
    const images = podImages('k-good');
    expect(images).toHaveLength(4);
    expect(images.every((i) => i === run.outputs.image)).toBe(true);
    expect(run.summary).toContain('Every step passed');
  });

  it("an HPA's replica count sizes the canary, and the canary never changes it", async () => {
    createStable('k-hpa', 2);
    const hpa = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'k-hpa', namespace: NAMESPACE },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'k-hpa' },
        minReplicas: 6,
        maxReplicas: 6,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
        ],
      },
    };
    kubectl(['apply', '-f', '-'], JSON.stringify(hpa));
    const replicas = () =>
      kubectlJson<{ spec: { replicas: number } }>(['get', 'deployment', 'k-hpa', '-n', NAMESPACE]).spec.replicas;
    // The real HPA controller raises the Deployment to its minimum (no metrics are needed for that).
    for (let i = 0; i < 100 && replicas() !== 6; i += 1) await new Promise((r) => setTimeout(r, 300));
    expect(replicas()).toBe(6);
    const run = await runAction(appInputs('k-hpa', 'v2', 'k-hpa', { canary: '50%', bake: '0s' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(stepsOf(run)).toMatchObject([{ share: '50%', replicas: 6, result: 'passed' }]);
    expect(replicas()).toBe(6);
    kubectl(['delete', 'hpa', 'k-hpa', '-n', NAMESPACE]);
  });

  it('a cancel at a canary step deletes the canary and never touches the stable Deployment', async () => {
    createStable('k-cancel', 2);
    const recorded = template('k-cancel');
    const before = generation('k-cancel');
    const inputs = appInputs('k-cancel', 'v2', 'k-cancel', { canary: '1', bake: '60s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('baking 60s'), act: 'runner-cancel' }],
    });
    expect(run.outputs.result).toBe('cancelled');
    expect(stepsOf(run)).toMatchObject([{ result: 'cancelled' }]);
    expect(run.ms).toBeLessThan(40_000);
    expect(canaryExists('k-cancel')).toBe(false);
    expect(generation('k-cancel')).toBe(before);
    expect(template('k-cancel')).toEqual(recorded);
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).not.toContain('undoing what it changed');
  });

  it('a SIGKILL at a canary step leaves the canary to the post step, which deletes it', async () => {
    createStable('k-kill', 2);
    const recorded = template('k-kill');
    const before = generation('k-kill');
    const inputs = appInputs('k-kill', 'v2', 'k-kill', { canary: '1', bake: '60s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('baking 60s'), act: 'SIGKILL' }],
    });
    expect(run.exitCode).not.toBe(0);
    expect(canaryExists('k-kill')).toBe(true);
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain('Deployment ' + `${NAMESPACE}/k-kill-canary: deleted`);
    expect(canaryExists('k-kill')).toBe(false);
    expect(generation('k-kill')).toBe(before);
    expect(template('k-kill')).toEqual(recorded);
  });

  it('a canary another run left is never used: the deploy fails naming it, and leaves it', async () => {
    createStable('k-other', 1);
    createDeployment('k-other-canary', initialImage('k-other'), { replicas: 1 });
    const before = generation('k-other');
    const run = await runAction(appInputs('k-other', 'v2', 'k-other', { canary: '1', bake: '0s' }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toContain('k-other-canary already exists and this run did not make it');
    expect(canaryExists('k-other')).toBe(true);
    expect(generation('k-other')).toBe(before);
    kubectl(['delete', 'deployment', 'k-other-canary', '-n', NAMESPACE]);
  });

  it('a first deploy from manifests has nothing stable to compare with: no canary, and the log says so', async () => {
    const ns = freshNamespace('kube-ship-k-first');
    const run = await runAction({
      ...appInputs('web', 'k-v1', 'k-first', { bake: '0s', canary: '1' }),
      image: `${REGISTRY}/demo/web`,
      deployments: '',
      namespace: ns,
      manifests: 'examples/web/k8s',
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log).toContain(`${ns}/web: a workload of the manifests, deployed without a canary`);
    expect(stepsOf(run)).toEqual([]);
    expect(kubectl(['get', 'deployment', 'web-canary', '-n', ns, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
  });

  it('a DaemonSet target is refused in preflight, before the build, naming the input', async () => {
    createWorkload('daemonset', 'k-ds', initialImage('k-ds'));
    const run = await runAction(
      appInputs('k-ds', 'v2', 'k-ds', { deployments: '', workloads: `${NAMESPACE}/daemonset/k-ds`, canary: '1' }),
    );
    expect(run.exitCode).toBe(1);
    expect(run.log).toContain(`Input "canary": is set, but ${NAMESPACE}/daemonset/k-ds is a DaemonSet`);
    expect(run.log).not.toContain('::group::Build');
  });
});
