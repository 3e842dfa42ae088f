/**
 * Verdicts on the messier rollouts, end to end on the local stack: each case asserts the result, the exit code, the
 * reason and the template the Deployment ends on. The cluster makes each case for real: KWOK stages keyed on the
 * image (a late crash, a warm-up that crashes twice, a container killed for memory, a readiness flap), a teammate's
 * `kubectl set env`, another deploy. (Long and stuck rollouts are in verdict-slow.e2e.test.ts; an API server
 * restarted mid-rollout is in restarts.e2e.test.ts, which runs alone.)
 */
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  kubectl,
  podImages,
  runAction,
  template,
} from './harness.js';

const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;
type Container = { name: string; image: string; env?: { name: string; value: string }[] };
const containers = (name: string, namespace = NAMESPACE) =>
  (template(name, namespace) as { spec: { containers: Container[] } }).spec.containers;

describe('verdicts on late-crashing, flapping and contested rollouts', () => {
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
});
