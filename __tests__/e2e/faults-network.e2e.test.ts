/**
 * The network between kube-ship and the API server failing in the middle of a deploy: toxics on the toxiproxy in front
 * of the API server (scripts/stack/fault.sh), which only the steps of this file go through. The rule for each: the
 * deploy completes, or the target ends where the rollback rules put it, with a clear message, within the time limits;
 * never a stuck step.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  ROOT,
  appInputs,
  createDeployment,
  deployerOfThisFile,
  env,
  imageOf,
  initialImage,
  runAction,
  template,
} from './harness.js';
import { countRequestsPerTest } from './request-counts.js';

countRequestsPerTest();

/**
 * The least-privilege deployer (the stack's deployer's rules, an identity of this file's own), directly or through
 * the fault proxy: its requests are the ones counted.
 */
const deployer = deployerOfThisFile();
const proxyServer = /server: (\S+)/.exec(readFileSync(env.FAULT_DEPLOYER_KUBECONFIG ?? '', 'utf8'))?.[1] ?? '';
const throughProxy = (): string => deployer().replace(/server: \S+/, `server: ${proxyServer}`);

/** scripts/stack/fault.sh: toxics on the proxy in front of the API server (`throughProxy()` goes through it). */
function fault(...args: string[]): void {
  execFileSync('bash', [join(ROOT, 'scripts/stack/fault.sh'), ...args], {
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
}

describe('network faults between kube-ship and the API server (toxiproxy)', () => {
  afterEach(() => fault('clear'));

  it('connections reset while it patches: the patch is retried and lands, the deploy succeeds', async () => {
    createDeployment('reset', initialImage('reset'), { replicas: 1 });
    const run = await runAction(appInputs('reset', 'v2', 'reset', { kubeconfig: throughProxy(), bake: '0s' }), {
      during: [
        // On before the Deploy phase (the build and the digest check do not use the API server), off once a reset
        // has been met: deterministic whatever the machine's speed.
        {
          when: ({ log }) => log.includes('::group::Build'),
          act: () => fault('add', 'reset', 'reset_peer', 'timeout=0'),
        },
        { when: ({ log }) => /; trying again/.test(log), act: () => fault('remove', 'reset') },
      ],
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log).toMatch(new RegExp(`${NAMESPACE}/reset: .*; trying again`));
    expect(imageOf('reset')).toBe(run.outputs.image);
  });

  it('a blackhole during the watch: the deadline still ends the wait, and the rollback runs once the path heals', async () => {
    createDeployment('hole', initialImage('hole'), { replicas: 1 });
    const recorded = template('hole');
    const run = await runAction(
      appInputs('hole', 'neverready-hole', 'hole', { kubeconfig: throughProxy(), timeout: '15s' }),
      {
        whenPatched: () => {
          fault('add', 'hole', 'timeout', 'timeout=0');
          setTimeout(() => fault('remove', 'hole'), 22_000);
        },
      },
    );
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('Timeout');
    expect(template('hole')).toEqual(recorded);
    expect(run.ms).toBeLessThan(70_000);
  });

  it('2 s of latency on every request: slower, same verdict', async () => {
    createDeployment('latent', initialImage('latent'), { replicas: 1 });
    fault('add', 'slow', 'latency', 'latency=2000');
    const run = await runAction(appInputs('latent', 'v2', 'latent', { kubeconfig: throughProxy(), bake: '0s' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.ms).toBeGreaterThan(4000);
  });
});
