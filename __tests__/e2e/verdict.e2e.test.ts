/**
 * Verdicts on the slower and messier rollouts, end to end on the local stack: each case asserts the result, the
 * exit code, the reason and the template the Deployment ends on. The cluster makes each case for real: the
 * scheduler (unschedulable pods), the quota admission (a refused surge pod), KWOK stages keyed on the image (a late
 * crash, a warm-up that crashes twice), a teammate's `kubectl set env`, another deploy, an API server restart.
 */
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  kubectl,
  podImages,
  restartStackPart,
  runAction,
  template,
} from './harness.js';

const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;
type Container = { name: string; image: string; env?: { name: string; value: string }[] };
const containers = (name: string, namespace = NAMESPACE) =>
  (template(name, namespace) as { spec: { containers: Container[] } }).spec.containers;

describe('verdicts on long, stuck, late-crashing and contested rollouts', () => {
  it('a healthy rollout whose pods each take 35 s to become ready, one at a time (4 min), succeeds', async () => {
    // Created all at once (35 s); the deploy then replaces one pod at a time, each quiet for 35 s: longer than
    // the client's 30 s watch inactivity limit, seven times over.
    createDeployment('slow', initial('slow'), { replicas: 7, surge: 1, unavailable: 0, readyDelay: '35s' });
    const run = await runAction(appInputs('slow', 'v2', 'slow', { timeout: '10m', bake: '0s' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.ms).toBeGreaterThan(7 * 35_000);
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

  it('a release that is Ready and crashes 10 s later fails within the bake and is rolled back', async () => {
    createDeployment('late', initial('late'), { replicas: 2 });
    const recorded = template('late');
    const run = await runAction(appInputs('late', 'crashlate-1', 'late', { bake: '30s' }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/CrashLoopBackOff|ContainerRestarted/);
    expect(run.log).toMatch(/rolled out; baking 30s \(bake: 0s to skip\)/);
    expect(run.summary).toContain('panic: late crash');
    expect(template('late')).toEqual(recorded);
  });

  it('a warm-up that crashes twice passes with allowed-restarts: 2, and the summary counts the restarts', async () => {
    createDeployment('flaky', initial('flaky'), { replicas: 2 });
    const run = await runAction(appInputs('flaky', 'flaky-1', 'flaky', { 'allowed-restarts': '2', bake: '10s' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.summary).toMatch(/s \+ \d+(\.\d)?s bake, \d+ restarts/);
    expect(new Set(podImages('flaky'))).toEqual(new Set([run.outputs.image]));
  });

  it('a container killed for memory fails fast as OOMKilled, with its exit code', async () => {
    createDeployment('oom', initial('oom'), { replicas: 2 });
    const recorded = template('oom');
    const run = await runAction(appInputs('oom', 'oomkill-1', 'oom'));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/container app: OOMKilled, restarted \d+ times?, exit code 137/);
    expect(template('oom')).toEqual(recorded);
  });

  it('a pod that loses readiness for 5 s once during the bake is not a failure', async () => {
    createDeployment('flap', initial('flap'), { replicas: 2 });
    const run = await runAction(appInputs('flap', 'readyflap-1', 'flap', { bake: '25s' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(new Set(podImages('flap'))).toEqual(new Set([run.outputs.image]));
  });

  it("a teammate's env change made during a failing rollout survives the rollback", async () => {
    createDeployment('team', initial('team'), { replicas: 2, readyDelay: '4s' });
    const run = await runAction(appInputs('team', 'crashloop-team', 'team'), {
      whenPatched: () => kubectl(['set', 'env', 'deployment/team', '-n', NAMESPACE, 'FEATURE_FLAG=on']),
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    const [app] = containers('team');
    expect(app?.image).toBe(initial('team'));
    expect(app?.env).toEqual([{ name: 'FEATURE_FLAG', value: 'on' }]);
    expect(run.log).toContain('reverted only our images and kept their change');
    expect(run.summary).toContain('reverted only our images and kept their change');
  });

  it('another deploy taking over during the wait makes this one superseded: no rollback, non-zero exit', async () => {
    createDeployment('race', initial('race'), { replicas: 2, readyDelay: '4s' });
    const theirs = `${REGISTRY}/e2e/race:v3`;
    const run = await runAction(appInputs('race', 'v2', 'race'), {
      whenPatched: () => kubectl(['set', 'image', 'deployment/race', '-n', NAMESPACE, `app=${theirs}`]),
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('superseded');
    expect(run.outputs['failure-reason']).toContain(`app=${theirs}`);
    expect(run.log).not.toContain('::group::Rollback');
    expect(containers('race')[0]?.image).toBe(theirs);
  });

  it('a re-run on a digest that is already crash-looping is failed with its evidence, not a green no-op', async () => {
    createDeployment('again', initial('again'), { replicas: 2 });
    const inputs = appInputs('again', 'crashloop-again', 'again', { rollback: 'false' });
    const first = await runAction(inputs);
    expect(first.outputs.result).toBe('failed');
    const generation = kubectl([
      'get',
      'deployment',
      'again',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.metadata.generation}',
    ]);
    const second = await runAction(inputs);
    expect(second.exitCode).toBe(1);
    expect(second.outputs.result).toBe('failed');
    expect(second.outputs['failure-reason']).toContain('CrashLoopBackOff');
    expect(second.summary).toContain('panic: cannot connect to database');
    expect(kubectl(['get', 'deployment', 'again', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.generation}'])).toBe(
      generation,
    );
  });

  it('an API server restarted in the middle of a rollout does not change the verdict', async () => {
    createDeployment('restart', initial('restart'), { replicas: 3, surge: 1, unavailable: 0, readyDelay: '8s' });
    const run = await runAction(appInputs('restart', 'v2', 'restart', { bake: '0s' }), {
      whenPatched: () => setTimeout(() => restartStackPart('kube-apiserver', 2), 3000),
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(new Set(podImages('restart'))).toEqual(new Set([run.outputs.image]));
  });
});
