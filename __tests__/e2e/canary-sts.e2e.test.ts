/**
 * A StatefulSet's canary, end to end on the real controller: its highest ordinals by `rollingUpdate.partition`. A
 * good release promoted step by step (every pod on the digest, the partition back as it was), a crash-looping one
 * stopped at its first step (template and partition restored, the lower ordinals' pods never touched), a Ready one
 * answering 500 stopped by the checks of verify on its canary pod, a SIGKILL at
 * a step followed by the post step, a cancel at a step, and the plan of a preview.
 */
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  createWorkload,
  kubectl,
  kubectlJson,
  runAction,
} from './harness.js';

interface StatefulSet {
  metadata: { generation: number; annotations?: Record<string, string> };
  spec: { template: unknown; updateStrategy?: { rollingUpdate?: { partition?: number } } };
}
interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { containers: { image: string }[] };
  status: { conditions?: { type: string; status: string }[] };
}

const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;
const setOf = (name: string) => kubectlJson<StatefulSet>(['get', 'statefulset', name, '-n', NAMESPACE]);
const partitionOf = (name: string) => setOf(name).spec.updateStrategy?.rollingUpdate?.partition;
/** The run whose canary the set is in (none once promoted or restored). */
const markOf = (name: string) => setOf(name).metadata.annotations?.['kube-ship.dev/canary-run'];
const podsOf = (name: string): Pod[] =>
  kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `app=${name}`]).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );
const ready = (pod: Pod): boolean =>
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
/** Each pod's uid by name: a pod the controller replaced has another. */
const uids = (name: string) => Object.fromEntries(podsOf(name).map((p) => [p.metadata.name, p.metadata.uid]));
const imagesOf = (name: string) => new Set(podsOf(name).map((p) => p.spec.containers[0]?.image));
const stepsOf = (outputs: Record<string, string>) =>
  JSON.parse(outputs.canary ?? '[]') as { share: string; replicas: number; result: string }[];

/** The inputs of a StatefulSet target `name` with a canary. */
const setInputs = (name: string, tag: string, variant: string, extra: Record<string, string>) => ({
  ...appInputs(name, tag, variant, extra),
  deployments: '',
  workloads: `${NAMESPACE}/statefulset/${name}`,
});

/** Waits until the set's `count` pods are all Ready (the controller making a replaced pod again). */
async function allReady(name: string, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !(podsOf(name).length === count && podsOf(name).every(ready))) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('a StatefulSet canary', () => {
  it('a good release passes 2 steps on its highest ordinals, then the whole set; the partition as it was', async () => {
    createWorkload('statefulset', 'ks-good', initial('ks-good'), { replicas: 3 });
    const verify = '- http: {port: 8080, grace: 1s, interval: 1s, timeout: 3s}';
    const run = await runAction(setInputs('ks-good', 'v2', 'ks-good', { canary: '30%, 60%', bake: '1s', verify }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(stepsOf(run.outputs)).toMatchObject([
      { share: '30%', replicas: 1, result: 'passed' },
      { share: '60%', replicas: 2, result: 'passed' },
    ]);
    expect(run.log).toContain(`${NAMESPACE}/statefulset/ks-good: canary 30%: partition 2: 1 pod(s) of the release`);
    expect(run.log).toContain(`${NAMESPACE}/statefulset/ks-good: canary 60%: partition 1: 2 pod(s) of the release`);
    expect(run.log).toContain(`${NAMESPACE}/statefulset/ks-good: partition back to 0`);
    // The checks of verify ask the canary's pods at each step, then every pod of the set.
    const asked = [...run.log.matchAll(/verify http #1: passing \(.* from (\d+) pods?\)/g)].map((m) => Number(m[1]));
    expect(asked).toEqual([1, 2, 3]);
    expect(run.summary).toContain("Every step passed: the StatefulSet's partition was then put back");
    expect([partitionOf('ks-good'), markOf('ks-good')]).toEqual([0, undefined]);
    const pods = podsOf('ks-good');
    expect(pods).toHaveLength(3);
    expect(pods.every(ready)).toBe(true);
    expect(imagesOf('ks-good')).toEqual(new Set([run.outputs.image]));
  });

  it('a crash-looping release stops at its first step: template and partition restored, lower ordinals untouched', async () => {
    createWorkload('statefulset', 'ks-crash', initial('ks-crash'), { replicas: 3 });
    const recorded = setOf('ks-crash').spec.template;
    const before = uids('ks-crash');
    const inputs = setInputs('ks-crash', 'crashloop-v2', 'crashloop-ks-crash', { canary: '1, 2', bake: '1s' });
    const run = await runAction(inputs);
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.outputs['failure-reason']).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/^canary 1 pod: .*ks-crash.*CrashLoopBackOff/);
    expect(stepsOf(run.outputs)).toMatchObject([{ share: '1 pod', replicas: 1, result: 'failed' }]);
    expect(run.summary).toContain("The canary was stopped: the StatefulSet's template and partition were put back");
    expect(setOf('ks-crash').spec.template).toEqual(recorded);
    expect([partitionOf('ks-crash'), markOf('ks-crash')]).toEqual([0, undefined]);
    await allReady('ks-crash', 3);
    expect(imagesOf('ks-crash')).toEqual(new Set([initial('ks-crash')]));
    // Only the highest ordinal ever ran the release: the pods under the partition are the very same pods.
    const after = uids('ks-crash');
    expect([after['ks-crash-0'], after['ks-crash-1']]).toEqual([before['ks-crash-0'], before['ks-crash-1']]);
    expect(after['ks-crash-2']).not.toBe(before['ks-crash-2']);
  });

  it('a Ready release that answers 500 is stopped by the checks of verify on its canary pod', async () => {
    createWorkload('statefulset', 'ks-500', initial('ks-500'), { replicas: 3 });
    const recorded = setOf('ks-500').spec.template;
    const before = uids('ks-500');
    const verify = '- http: {port: 8080, grace: 4s, interval: 1s, timeout: 3s}';
    const run = await runAction(setInputs('ks-500', 'http500-1', 'ks-500', { canary: '1', bake: '0s', verify }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.outputs['failure-reason']).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/^canary 1 pod: .*verify http #1 failed: pod ks-500-2\b/);
    expect(run.log).not.toMatch(/pod ks-500-[01]\b[^\n]*HTTP 500/);
    expect(setOf('ks-500').spec.template).toEqual(recorded);
    expect([partitionOf('ks-500'), markOf('ks-500')]).toEqual([0, undefined]);
    const after = uids('ks-500');
    expect([after['ks-500-0'], after['ks-500-1']]).toEqual([before['ks-500-0'], before['ks-500-1']]);
  });

  it('a SIGKILL at a step leaves the set to the post step, which restores the template and the partition', async () => {
    createWorkload('statefulset', 'ks-kill', initial('ks-kill'), { replicas: 3 });
    const recorded = setOf('ks-kill').spec.template;
    const before = uids('ks-kill');
    const inputs = setInputs('ks-kill', 'v2', 'ks-kill', { canary: '1', bake: '60s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('baking 60s'), act: 'SIGKILL' }],
    });
    expect(run.exitCode).not.toBe(0);
    expect(partitionOf('ks-kill')).toBe(2);
    expect(markOf('ks-kill')).toMatch(/^[0-9a-f-]{36}$/);
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain('partition back to 0');
    expect(setOf('ks-kill').spec.template).toEqual(recorded);
    expect([partitionOf('ks-kill'), markOf('ks-kill')]).toEqual([0, undefined]);
    await allReady('ks-kill', 3);
    // The controller rolls the canary pod back to the recorded template; the others were never touched.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && imagesOf('ks-kill').size !== 1) await new Promise((r) => setTimeout(r, 250));
    expect(imagesOf('ks-kill')).toEqual(new Set([initial('ks-kill')]));
    const after = uids('ks-kill');
    expect([after['ks-kill-0'], after['ks-kill-1']]).toEqual([before['ks-kill-0'], before['ks-kill-1']]);
  });

  it('a cancel at a step restores the template and the partition before the step ends', async () => {
    createWorkload('statefulset', 'ks-cancel', initial('ks-cancel'), { replicas: 3 });
    const recorded = setOf('ks-cancel').spec.template;
    const before = uids('ks-cancel');
    const inputs = setInputs('ks-cancel', 'v2', 'ks-cancel', { canary: '1', bake: '60s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('baking 60s'), act: 'runner-cancel' }],
    });
    expect(run.outputs.result, run.log).toBe('cancelled');
    expect(stepsOf(run.outputs)).toMatchObject([{ share: '1 pod', result: 'cancelled' }]);
    expect(setOf('ks-cancel').spec.template).toEqual(recorded);
    expect(partitionOf('ks-cancel')).toBe(0);
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.log).not.toContain('undoing what it changed');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && imagesOf('ks-cancel').size !== 1) await new Promise((r) => setTimeout(r, 250));
    await allReady('ks-cancel', 3);
    expect(imagesOf('ks-cancel')).toEqual(new Set([initial('ks-cancel')]));
    const after = uids('ks-cancel');
    expect([after['ks-cancel-0'], after['ks-cancel-1']]).toEqual([before['ks-cancel-0'], before['ks-cancel-1']]);
  });

  it('a preview shows the canary plan of each target (steps, canary and stable pods, partition), changing nothing', async () => {
    createWorkload('statefulset', 'ks-plan', initial('ks-plan'), { replicas: 4 });
    kubectl(['delete', 'deployment', 'ks-web-canary', '-n', NAMESPACE, '--ignore-not-found']);
    createDeployment('ks-web', initial('ks-plan'), { replicas: 3 });
    const generation = setOf('ks-plan').metadata.generation;
    const run = await runAction({
      ...setInputs('ks-plan', 'v2', 'ks-plan', { canary: '25%, 50%', preview: 'true' }),
      deployments: `${NAMESPACE}/ks-web`,
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('preview');
    expect(run.summary).toContain('**Canary plan**');
    expect(run.summary).toContain(`| <code>${NAMESPACE}/statefulset/ks-plan</code> | 1 | 25% | 1 | 3 | 3 |`);
    expect(run.summary).toContain(`| <code>${NAMESPACE}/statefulset/ks-plan</code> | 2 | 50% | 2 | 2 | 2 |`);
    expect(run.summary).toContain(`| <code>${NAMESPACE}/ks-web</code> | 1 | 25% | 1 |  | 3 |`);
    expect(run.summary).toContain(`| <code>${NAMESPACE}/ks-web</code> | 2 | 50% | 3 |  | 3 |`);
    expect(run.log).toContain('canary 2/2 50%: 2 pod(s) of the release (partition 2: the highest ordinals), 2 stable');
    expect([setOf('ks-plan').metadata.generation, partitionOf('ks-plan')]).toEqual([generation, 0]);
    expect(kubectl(['get', 'deployment', 'ks-web-canary', '-n', NAMESPACE, '--ignore-not-found', '-o', 'name'])).toBe(
      '',
    );
  });
});
