/**
 * Helm charts (input `chart`) on the stack, with the stack's helm v4: the example chart installed and upgraded by
 * digest as Helm releases, a crash-looping upgrade rolled back to the revision recorded before it, a failed first
 * install uninstalled after its evidence was kept, a failing pre-upgrade hook ending the deploy in seconds, and a
 * cancelled or killed step never leaving the release pending-*.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { NAMESPACE, REGISTRY, appInputs, env, freshNamespace, kubectlJson, runAction } from './harness.js';

const IMAGE = `${REGISTRY}/e2e/chart-web`;

/** A namespace of its own for each test: the release is named `web` in each. */
const namespace = (name: string): string => freshNamespace(`${NAMESPACE}-${name}`);

function inputs(ns: string, tag: string, set: string[] = [], extra: Record<string, string> = {}) {
  return {
    ...appInputs('chart-web', tag, 'chart', { bake: '1s' }),
    image: IMAGE,
    deployments: '',
    namespace: ns,
    chart: 'examples/chart',
    set: [`image.repository=${IMAGE}`, 'replicas=1', ...set].join('\n'),
    ...extra,
  };
}

function helm(args: string[]): string {
  return execFileSync('helm', args, { encoding: 'utf8', env: { ...process.env, ...env } });
}

interface Revision {
  revision: number;
  status: string;
  description: string;
}

const history = (ns: string, release = 'web'): Revision[] =>
  JSON.parse(helm(['history', release, '-n', ns, '-o', 'json'])) as Revision[];

const releases = (ns: string): { name: string; status: string }[] =>
  JSON.parse(helm(['list', '-n', ns, '-o', 'json'])) as { name: string; status: string }[];

interface Deployment {
  spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } } };
}

const deployment = (ns: string): Deployment => kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]);

describe('chart', () => {
  it('installs the chart as a Helm release, then upgrades it by digest (helm history shows both)', async () => {
    const ns = namespace('install');
    const first = await runAction(inputs(ns, 'h-v1'));
    expect(first.exitCode, first.log).toBe(0);
    expect(first.outputs.result).toBe('success');
    expect(first.log).toContain(`Deployment ${ns}/web: web -> ${first.outputs.image}`);
    expect(deployment(ns).spec.template.spec.containers[0]?.image).toBe(first.outputs.image);

    const second = await runAction(
      inputs(ns, 'h-v2', [], { 'build-args': `VARIANT=chart-v2\nBASE_IMAGE=${env.BASE_IMAGE ?? ''}` }),
    );
    expect(second.exitCode, second.log).toBe(0);
    expect(second.outputs.result).toBe('success');
    expect(second.outputs.image).not.toBe(first.outputs.image);
    expect(deployment(ns).spec.template.spec.containers[0]?.image).toBe(second.outputs.image);
    expect(history(ns).map((r) => [r.revision, r.status])).toEqual([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);
  });

  it('rolls a crash-looping upgrade back to the revision recorded before it, template included', async () => {
    const ns = namespace('crash');
    const installed = await runAction(inputs(ns, 'h-v1'));
    expect(installed.exitCode, installed.log).toBe(0);
    const recorded = deployment(ns).spec.template;
    const started = Date.now();
    const run = await runAction(inputs(ns, 'h-v1', ['fault=crashloop']));
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.log).toContain('Release ' + ns + '/web: revision 1 (deployed) recorded');
    expect(run.log).toMatch(/CrashLoopBackOff|panic: cannot connect to database/);
    expect(Date.now() - started).toBeLessThan(30_000);
    const revisions = history(ns);
    expect(revisions.map((r) => [r.revision, r.status])).toEqual([
      [1, 'superseded'],
      [2, 'superseded'],
      [3, 'deployed'],
    ]);
    expect(revisions[2]?.description).toBe('Rollback to 1');
    expect(deployment(ns).spec.template).toEqual(recorded);
  });

  it('rolls back an upgrade that is Ready but answers 500 to the checks of verify, to the recorded revision', async () => {
    const ns = namespace('verify');
    const installed = await runAction(inputs(ns, 'h-v1'));
    expect(installed.exitCode, installed.log).toBe(0);
    const recorded = deployment(ns).spec.template;
    const verify = '- http: {port: 8080, path: /, grace: 2s, interval: 1s, timeout: 3s}';
    const run = await runAction(inputs(ns, 'h-v1', ['fault=http500'], { verify }));
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/VerifyFailed|verify http #1 failed/);
    expect(JSON.parse(run.outputs.checks ?? '[]')).toMatchObject([{ result: 'failed' }]);
    expect(history(ns).at(-1)).toMatchObject({ status: 'deployed', description: 'Rollback to 1' });
    expect(deployment(ns).spec.template).toEqual(recorded);
  });

  it('keeps the evidence of a failed first install, then uninstalls it', async () => {
    const ns = namespace('first');
    const run = await runAction(inputs(ns, 'h-v1', ['fault=crashloop']));
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.log).toContain(`Release ${ns}/web: a first install`);
    // The crashed pod's last words are in the report, read before the uninstall took the pod away.
    expect(run.summary).toContain('panic: cannot connect to database');
    expect(run.log).toContain('Uninstalling web: its first install failed');
    expect(releases(ns)).toEqual([]);
  });

  it('ends the deploy within seconds when a pre-upgrade hook Job fails, and rolls the release back', async () => {
    const ns = namespace('hook');
    const installed = await runAction(inputs(ns, 'h-v1', ['migration.enabled=true']));
    expect(installed.exitCode, installed.log).toBe(0);
    const started = Date.now();
    const run = await runAction(inputs(ns, 'h-v1', ['migration.enabled=true', 'migration.fault=jobfail']));
    expect(run.exitCode).not.toBe(0);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/hook job .*web-migrate failed/);
    expect(run.summary).toContain('migration failed');
    // Helm alone waits for the Job's 7 runs (backoffLimit 6, back-offs of 10 s, 20 s, 40 s, ...) or its --timeout.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(history(ns).every((r) => !r.status.startsWith('pending-'))).toBe(true);
    expect(history(ns).at(-1)?.status).toBe('deployed');
  });

  it('previews a change: helm --dry-run=server and the plan of each object, nothing changed', async () => {
    const ns = namespace('preview');
    const installed = await runAction(inputs(ns, 'h-v1'));
    expect(installed.exitCode, installed.log).toBe(0);
    const recorded = deployment(ns).spec.template;
    const run = await runAction(inputs(ns, 'h-v1', ['fault=crashloop'], { preview: 'true' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('preview');
    expect(run.log).toContain('helm upgrade --dry-run=server web: accepted; planning its 3 objects');
    expect(run.log).toContain(`Deployment ${ns}/web (release web document 3): would change`);
    expect(run.log).toMatch(/spec\.template\.metadata\.annotations: \(none\) -> .*kube-ship\.dev\/fault.*crashloop/);
    expect(run.log).toContain(`Deployment ${ns}/web: web would run ${run.outputs.image}`);
    expect(history(ns).map((r) => r.revision)).toEqual([1]);
    expect(deployment(ns).spec.template).toEqual(recorded);
  });

  describe('a step stopped while helm waits for a long pre-upgrade hook', () => {
    const slowUpgrade = (ns: string) => inputs(ns, 'h-v1', ['migration.enabled=true', 'migration.delay=30s']);
    const hookStarted = (ns: string) => (seen: { log: string }) => seen.log.includes(`job ${ns}/web-migrate: started`);

    it('cancelled: rolled back to the recorded revision in the step, never pending', async () => {
      const ns = namespace('cancel');
      const installed = await runAction(inputs(ns, 'h-v1', ['migration.enabled=true']));
      expect(installed.exitCode, installed.log).toBe(0);
      let cancelledAt = 0;
      const run = await runAction(slowUpgrade(ns), {
        during: [
          { when: hookStarted(ns), act: 'runner-cancel' },
          { when: hookStarted(ns), act: () => (cancelledAt = Date.now()) },
        ],
      });
      expect(run.exitCode).not.toBe(0);
      expect(run.outputs.result).toBe('cancelled');
      // Ended on SIGINT, before the runner's SIGTERM.
      expect(Date.now() - cancelledAt).toBeLessThan(7500);
      const revisions = history(ns);
      expect(revisions.filter((r) => r.status.startsWith('pending-'))).toEqual([]);
      expect(revisions.at(-1)).toMatchObject({ status: 'deployed', description: 'Rollback to 1' });
      const post = await runAction(slowUpgrade(ns), { post: true, state: run.state });
      expect(post.exitCode, post.log).toBe(0);
      expect(history(ns)).toEqual(revisions);
    });

    it('killed: the post step stops the helm it left and rolls the release back, never pending', async () => {
      const ns = namespace('kill');
      const installed = await runAction(inputs(ns, 'h-v1', ['migration.enabled=true']));
      expect(installed.exitCode, installed.log).toBe(0);
      const run = await runAction(slowUpgrade(ns), { during: [{ when: hookStarted(ns), act: 'SIGKILL' }] });
      expect(run.exitCode).not.toBe(0);
      // What the kill left: helm still upgrading, the release pending.
      expect(history(ns).at(-1)?.status).toBe('pending-upgrade');
      const post = await runAction(slowUpgrade(ns), { post: true, state: run.state });
      expect(post.exitCode, post.log).toBe(0);
      expect(post.log).toContain(`Stopped the helm upgrade of ${ns}/web`);
      const revisions = history(ns);
      expect(
        revisions.filter((r) => r.status.startsWith('pending-')),
        post.log,
      ).toEqual([]);
      expect(revisions.at(-1)).toMatchObject({ status: 'deployed', description: 'Rollback to 1' });
    });
  });
});
