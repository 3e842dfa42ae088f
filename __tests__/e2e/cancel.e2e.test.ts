/**
 * The runner's cancel, exactly: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, then the post step with the
 * state the main step saved. Cancelled during the build, the rollout, the bake and the rollback wait, the target
 * ends on its recorded template (or untouched), the step says `cancelled`, and the post step does not restore again.
 */
import { describe, expect, it } from 'vitest';
import { REGISTRY, appInputs, createDeployment, runAction, template, type ActionRun } from './harness.js';

const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;

/** The post step after a cancelled main step: it must exit 0 and, when the main step finished, touch nothing. */
async function postAfter(run: ActionRun, inputs: Record<string, string>): Promise<ActionRun> {
  const post = await runAction(inputs, { post: true, state: run.state });
  expect(post.exitCode, post.log).toBe(0);
  if (run.state.finished === 'true') expect(post.log).not.toContain('undoing what it changed');
  return post;
}

describe("the runner's cancel sequence", () => {
  it('during the build: nothing is deployed, and the step says cancelled', async () => {
    createDeployment('c-build', initial('c-build'), { replicas: 1 });
    const recorded = template('c-build');
    const inputs = appInputs('c-build', 'v2', 'c-build');
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('::group::Build'), act: 'runner-cancel' }],
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result).toBe('cancelled');
    expect(run.summary).toMatch(/cancelled/i);
    expect(template('c-build')).toEqual(recorded);
    await postAfter(run, inputs);
    expect(template('c-build')).toEqual(recorded);
  });

  it('during the rollout: the recorded template is restored in the step, and the post step leaves it', async () => {
    createDeployment('c-roll', initial('c-roll'), { replicas: 2, readyDelay: '6s' });
    const recorded = template('c-roll');
    const inputs = appInputs('c-roll', 'v2', 'c-roll');
    const started = Date.now();
    let cancelledAt = 0;
    const run = await runAction(inputs, {
      during: [
        {
          when: ({ log }) => log.includes('::group::Rollout'),
          act: 'runner-cancel',
        },
        { when: ({ log }) => log.includes('::group::Rollout'), act: () => (cancelledAt = Date.now()) },
      ],
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result).toBe('cancelled');
    expect(run.summary).toContain('cancelled: what it changed was restored');
    expect(template('c-roll')).toEqual(recorded);
    // It ended on SIGINT, before the runner's SIGTERM.
    expect(Date.now() - Math.max(cancelledAt, started)).toBeLessThan(7500);
    await postAfter(run, inputs);
    expect(template('c-roll')).toEqual(recorded);
  });

  it('during the bake: the release is taken back, and the step says cancelled', async () => {
    createDeployment('c-bake', initial('c-bake'), { replicas: 2 });
    const recorded = template('c-bake');
    const inputs = appInputs('c-bake', 'v2', 'c-bake', { bake: '30s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('baking 30s'), act: 'runner-cancel' }],
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result).toBe('cancelled');
    expect(run.ms).toBeLessThan(25_000);
    expect(template('c-bake')).toEqual(recorded);
    await postAfter(run, inputs);
  });

  it('during the rollback wait: the restore already sent stands, and the wait stops', async () => {
    // No surge: the release replaces an old pod, so the rollback must make one again from the recorded template,
    // whose pods take 8 s to become ready: the rollback wait is long enough to cancel, however fast the client is.
    createDeployment('c-back', initial('c-back'), { replicas: 2, readyDelay: '8s', surge: 0, unavailable: 1 });
    const recorded = template('c-back');
    const inputs = appInputs('c-back', 'crashloop-c-back', 'c-back');
    const run = await runAction(inputs, {
      during: [{ when: ({ log }) => log.includes('::group::Rollback'), act: 'runner-cancel' }],
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result).toBe('cancelled');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    expect(template('c-back')).toEqual(recorded);
    await postAfter(run, inputs);
    expect(template('c-back')).toEqual(recorded);
  });
});
