/**
 * Jobs end to end on the local stack, with the real Job controller: a migration run before the rollout
 * (`pre-deploy`), failing fast with its logs and nothing else touched, or passing; a leftover of the same name
 * replaced; a Job of `manifests` annotated as pre-deploy; a `job` check of `verify`; and the Job deleted by a cancel
 * and by the post step of a killed step. Job pods complete with exit code 0, or with the `jobfail` fault fail with
 * exit code 1 (scripts/stack/kwok).
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  ROOT,
  appInputs,
  createDeployment,
  deployerOfThisFile,
  initialImage,
  kubectl,
  podImages,
  runAction,
  template,
  workspaceDir,
} from './harness.js';

/** A Job manifest in a workspace folder, running `image`'s repository; returns its path relative to the workspace. */
function jobFile(name: string, repository: string, annotations: Record<string, string> = {}, extra = {}): string {
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, ...extra },
    spec: {
      backoffLimit: 3,
      template: {
        metadata: { annotations },
        spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: `${repository}:latest` }] },
      },
    },
  };
  const file = join(workspaceDir(`${name}-`), 'job.yaml');
  writeFileSync(file, JSON.stringify(job));
  return relative(ROOT, file);
}

const deployer = deployerOfThisFile();
/** The sample app's inputs, deployed by the least-privilege deployer (the README's Role, the optional rules included). */
const asDeployer = (name: string, tag: string, variant: string): Record<string, string> => ({
  ...appInputs(name, tag, variant),
  kubeconfig: deployer(),
  namespace: '',
});

const jobExists = (name: string): boolean =>
  kubectl(['get', 'jobs', '-n', NAMESPACE, '-o', 'name']).split('\n').includes(`job.batch/${name}`);
const generation = (name: string): string =>
  kubectl(['get', 'deployment', name, '-n', NAMESPACE, '-o', 'jsonpath={.metadata.generation}']);

describe('pre-deploy: a migration before any workload is touched', () => {
  it('a failing migration ends the deploy within seconds of the failure, with its logs; the workload is untouched', async () => {
    createDeployment('m-fail', initialImage('m-fail'), { replicas: 1 });
    const before = { template: template('m-fail'), generation: generation('m-fail') };
    const inputs = asDeployer('m-fail', 'v2', 'm-fail');
    const file = jobFile('m-fail-migrate', inputs.image ?? '', { 'kube-ship.dev/fault': 'jobfail' });
    const run = await runAction({ ...inputs, 'pre-deploy': file });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toMatch(
      /pre-deploy job .*m-fail-migrate failed: 1 run failed: pod m-fail-migrate-\S+: exit code 1 .*no workload was changed/,
    );
    expect(run.summary).toContain('Before the rollout');
    expect(template('m-fail')).toEqual(before.template);
    expect(generation('m-fail')).toBe(before.generation);
    // Kept as the record of what ran.
    expect(jobExists('m-fail-migrate')).toBe(true);
  });

  it('a passing migration runs with the new digest, then the rollout; a re-run replaces the Job it left', async () => {
    createDeployment('m-pass', initialImage('m-pass'), { replicas: 1 });
    const inputs = asDeployer('m-pass', 'v2', 'm-pass');
    const file = jobFile('m-pass-migrate', inputs.image ?? '');
    const first = await runAction({ ...inputs, 'pre-deploy': file });
    expect(first.exitCode, first.log).toBe(0);
    expect(first.outputs.result).toBe('success');
    const image = kubectl([
      'get',
      'job',
      'm-pass-migrate',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ]);
    expect(image).toBe(first.outputs.image);
    expect(new Set(podImages('m-pass'))).toEqual(new Set([first.outputs.image]));
    const again = await runAction({ ...asDeployer('m-pass', 'v3', 'm-pass'), 'pre-deploy': file });
    expect(again.exitCode, again.log).toBe(0);
    expect(again.log).toContain('replacing the Job of the same name an earlier run left');
  });

  it('a Job of the manifests annotated kube-ship.dev/phase: pre-deploy runs first, and is not applied with the rest', async () => {
    const name = 'm-manifest';
    createDeployment(name, initialImage(name), { replicas: 1 });
    const inputs = appInputs(name, 'v2', name);
    const dir = workspaceDir(`${name}-`);
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: `${name}-migrate`, annotations: { 'kube-ship.dev/phase': 'pre-deploy' } },
      spec: {
        template: {
          metadata: { annotations: { 'kube-ship.dev/fault': 'jobfail' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: `${inputs.image ?? ''}:latest` }] },
        },
      },
    };
    const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-config` }, data: { A: '1' } };
    writeFileSync(join(dir, 'app.yaml'), [job, config].map((o) => JSON.stringify(o)).join('\n---\n'));
    const run = await runAction({ ...inputs, manifests: relative(ROOT, dir), namespace: NAMESPACE });
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toContain(`pre-deploy job ${NAMESPACE}/${name}-migrate failed`);
    // Nothing else was applied: the ConfigMap is not there.
    expect(kubectl(['get', 'configmaps', '-n', NAMESPACE, '-o', 'name'])).not.toContain(`${name}-config`);
  });
});

describe('verify: a job check', () => {
  it('runs a smoke-test Job with the new digest; its failure rolls back, with its logs; the Job is deleted', async () => {
    createDeployment('j-smoke', initialImage('j-smoke'), { replicas: 1 });
    const recorded = template('j-smoke');
    const inputs = asDeployer('j-smoke', 'v2', 'j-smoke');
    const file = jobFile('j-smoke-test', inputs.image ?? '', { 'kube-ship.dev/fault': 'jobfail' });
    const run = await runAction({ ...inputs, bake: '0s', verify: `- job: ${file}` });
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/verify job #1 failed: job .*j-smoke-test-[0-9a-f]{6} failed/);
    expect(template('j-smoke')).toEqual(recorded);
    expect(kubectl(['get', 'jobs', '-n', NAMESPACE, '-o', 'name'])).not.toContain('j-smoke-test');
  });

  it('a passing Job check lets the release stand', async () => {
    createDeployment('j-ok', initialImage('j-ok'), { replicas: 1 });
    const inputs = asDeployer('j-ok', 'v2', 'j-ok');
    const run = await runAction({
      ...inputs,
      bake: '0s',
      verify: `- job: ${jobFile('j-ok-test', inputs.image ?? '')}`,
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(JSON.parse(run.outputs.checks ?? '[]')).toMatchObject([{ check: 'job #1', result: 'passing' }]);
  });
});

describe('a Job running when the step is stopped', () => {
  it('cancelled during a migration: the Job is deleted, nothing else changes', async () => {
    createDeployment('c-job', initialImage('c-job'), { replicas: 1 });
    const recorded = template('c-job');
    const inputs = asDeployer('c-job', 'v2', 'c-job');
    const file = jobFile('c-job-migrate', inputs.image ?? '', { 'kube-ship.dev/ready-delay': '30s' });
    const run = await runAction(
      { ...inputs, 'pre-deploy': file },
      { during: [{ when: ({ log }) => log.includes('job ') && log.includes(': started'), act: 'runner-cancel' }] },
    );
    expect(run.outputs.result).toBe('cancelled');
    expect(jobExists('c-job-migrate')).toBe(false);
    expect(template('c-job')).toEqual(recorded);
  });

  it('cancelled during a job check: the check’s Job is deleted and the release is taken back', async () => {
    createDeployment('c-check', initialImage('c-check'), { replicas: 1 });
    const recorded = template('c-check');
    const inputs = asDeployer('c-check', 'v2', 'c-check');
    const file = jobFile('c-check-test', inputs.image ?? '', { 'kube-ship.dev/ready-delay': '30s' });
    const run = await runAction(
      { ...inputs, bake: '0s', verify: `- job: ${file}` },
      { during: [{ when: ({ log }) => /job \S+c-check-test-\w+: started/.test(log), act: 'runner-cancel' }] },
    );
    expect(run.outputs.result).toBe('cancelled');
    expect(kubectl(['get', 'jobs', '-n', NAMESPACE, '-o', 'name'])).not.toContain('c-check-test');
    expect(template('c-check')).toEqual(recorded);
  });

  it('killed during a migration: the post step deletes the Job', async () => {
    createDeployment('k-job', initialImage('k-job'), { replicas: 1 });
    const inputs = { ...asDeployer('k-job', 'v2', 'k-job') };
    inputs['pre-deploy'] = jobFile('k-job-migrate', inputs.image ?? '', { 'kube-ship.dev/ready-delay': '30s' });
    const run = await runAction(inputs, {
      during: [{ when: ({ state }) => (state['jobs-file'] ?? '') !== '', act: 'SIGKILL' }],
    });
    expect(run.exitCode).not.toBe(0);
    expect(jobExists('k-job-migrate')).toBe(true);
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain(`Deleted Job ${NAMESPACE}/k-job-migrate`);
    expect(jobExists('k-job-migrate')).toBe(false);
  });
});
