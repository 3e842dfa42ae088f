/**
 * Verdicts on long and stuck rollouts, end to end on the local stack: each case asserts the result, the exit code,
 * the reason and the template the Deployment ends on. The cluster makes each case for real: KWOK's ready delay (pods
 * that take 35 s, longer than a watch may stay quiet), the scheduler (unschedulable pods), the quota admission (a
 * refused surge pod).
 */
import { describe, expect, it } from 'vitest';
import { REGISTRY, appInputs, createDeployment, kubectl, podImages, runAction, template } from './harness.js';

const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;

describe('verdicts on long and stuck rollouts', () => {
  it('a healthy rollout whose pods each take 35 s to become ready, one at a time (70 s), succeeds', async () => {
    // Created all at once (35 s); the deploy then replaces one pod at a time, each quiet for 35 s: longer than
    // the client's 30 s watch inactivity limit, twice over.
    createDeployment('slow', initial('slow'), { replicas: 2, surge: 1, unavailable: 0, readyDelay: '35s' });
    const run = await runAction(appInputs('slow', 'v2', 'slow', { timeout: '10m', bake: '0s' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.ms).toBeGreaterThan(2 * 35_000);
    expect(new Set(podImages('slow'))).toEqual(new Set([run.outputs.image]));
  }, 600_000);

  it('pods the scheduler cannot place fail within 60 s as Unschedulable and are rolled back', async () => {
    kubectl(['label', 'node', 'kwok-node-0', '--overwrite', 'kube-ship.dev/pool=e2e']);
    createDeployment('unsched', initial('unsched'), {
      replicas: 2,
      surge: 1,
      unavailable: 0,
      nodeSelector: { 'kube-ship.dev/pool': 'e2e' },
    });
    kubectl(['label', 'node', 'kwok-node-0', 'kube-ship.dev/pool-']);
    const recorded = template('unsched');
    const run = await runAction(appInputs('unsched', 'v2', 'unsched', { timeout: '2m' }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/Unschedulable: .*not scheduled for \d+s: 0\/3 nodes are available/);
    expect(run.ms).toBeLessThan(60_000);
    expect(template('unsched')).toEqual(recorded);
  });

  it('a surge pod refused by a ResourceQuota fails within 60 s as FailedCreate, with the quota named', async () => {
    const namespace = 'kube-ship-quota';
    kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }),
    );
    kubectl(['delete', 'resourcequota', 'pods', '-n', namespace, '--ignore-not-found']);
    createDeployment('quota', initial('quota'), { replicas: 2, surge: 1, unavailable: 0, namespace });
    kubectl(['create', 'quota', 'pods', '-n', namespace, '--hard=pods=2']);
    const recorded = template('quota', namespace);
    const run = await runAction(
      appInputs('quota', 'v2', 'quota', { deployments: `${namespace}/quota`, timeout: '2m' }),
    );
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/FailedCreate: .*exceeded quota: pods/);
    expect(run.ms).toBeLessThan(60_000);
    expect(template('quota', namespace)).toEqual(recorded);
  });
});
