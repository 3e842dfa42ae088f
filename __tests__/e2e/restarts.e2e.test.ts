/**
 * Parts of the stack every test file uses, stopped in the middle of a deploy and started again with the stack's own
 * scripts: etcd, the API server, the Docker engine. The rule for each: the verdict does not change, or the step
 * fails with a clear message and changes nothing. This file runs alone, after the others (vitest.e2e.config.ts):
 * a restart would reach into their deploys.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appInputs,
  createDeployment,
  deployerOfThisFile,
  env,
  initialImage,
  kubectl,
  NAMESPACE,
  podImages,
  restartStackPart,
  runAction,
  template,
} from './harness.js';
import { countRequestsPerTest } from './request-counts.js';

countRequestsPerTest();

/** The least-privilege deployer (an identity of this file's own): its requests are the ones counted. */
const deployer = deployerOfThisFile();

/** A build context whose RUN step takes `seconds`: long enough to stop the Docker engine in the middle of it. */
function slowBuildContext(seconds: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ship-slow-'));
  writeFileSync(
    join(dir, 'Dockerfile'),
    `ARG BASE_IMAGE\nFROM \${BASE_IMAGE}\nRUN sleep ${seconds} && echo slow > /slow\nCMD ["sh"]\n`,
  );
  return dir;
}

describe('stack parts restarted mid-deploy', () => {
  it('etcd restarted in the middle of a rollout: the verdict does not change', async () => {
    createDeployment('etcd', initialImage('etcd'), { replicas: 3, surge: 1, unavailable: 0, readyDelay: '6s' });
    const run = await runAction(appInputs('etcd', 'v2', 'etcd', { bake: '0s', kubeconfig: deployer() }), {
      whenPatched: () => setTimeout(() => restartStackPart('etcd', 2), 2000),
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(new Set(podImages('etcd'))).toEqual(new Set([run.outputs.image]));
  });

  it('an API server restarted in the middle of a canary step: the verdict does not change, the canary is gone', async () => {
    createDeployment('restart', initialImage('restart'), { replicas: 3, surge: 1, unavailable: 0, readyDelay: '8s' });
    // The restart lands in the canary's step (its apply, or its wait: the canary's pod takes 8 s to be Ready); the
    // rollout of the stable Deployment after the promotion is watched on the API server started again.
    const run = await runAction(appInputs('restart', 'v2', 'restart', { bake: '0s', canary: '1' }), {
      during: [
        {
          when: ({ log }) => log.includes('::group::Canary 1/1'),
          act: () => setTimeout(() => restartStackPart('kube-apiserver', 2), 1000),
        },
      ],
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(JSON.parse(run.outputs.canary ?? '[]')).toMatchObject([{ result: 'passed', replicas: 1 }]);
    expect(new Set(podImages('restart'))).toEqual(new Set([run.outputs.image]));
    expect(kubectl(['get', 'deployments', '-n', NAMESPACE, '-o', 'name'])).toContain('deployment.apps/restart\n');
    expect(kubectl(['get', 'deployments', '-n', NAMESPACE, '-o', 'name'])).not.toContain('restart-canary');
  });

  it('dockerd killed in the middle of a build: the step fails saying the engine was lost, and nothing is deployed', async () => {
    createDeployment('dockerd', initialImage('dockerd'), { replicas: 1 });
    const recorded = template('dockerd');
    const run = await runAction(
      {
        ...appInputs('dockerd', 'v1', 'dockerd', { kubeconfig: deployer() }),
        context: slowBuildContext(15),
        'build-args': `BASE_IMAGE=${env.BASE_IMAGE ?? 'kube-ship/busybox:latest'}`,
      },
      {
        during: [
          {
            when: ({ log }) => log.includes('RUN sleep 15'),
            act: () => restartStackPart('dockerd', 2),
          },
        ],
      },
    );
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason'], run.log).toContain('docker build failed: ');
    expect(run.outputs['failure-reason'], run.log).toContain('the connection to the Docker engine was lost');
    expect(run.log).not.toContain('::group::Deploy');
    expect(template('dockerd')).toEqual(recorded);
    expect(run.ms).toBeLessThan(30_000);
    // The engine is back for the tests after this one.
    expect(
      execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], {
        env: { ...process.env, ...env },
      }).toString(),
    ).not.toBe('');
  });
});
