/**
 * The registry failing around the push and at the digest check: toxics on the toxiproxy in front of the open registry
 * (scripts/stack/fault.sh), which only the steps of this file go through. The rule for each: the deploy completes, or
 * the target ends where the rollback rules put it, with a clear message, within the time limits; never a stuck step.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  runAction,
  template,
} from './harness.js';
import { countRequestsPerTest } from './request-counts.js';

countRequestsPerTest();

/** The least-privilege deployer (the stack's deployer's rules, an identity of this file's own): its requests count. */
const deployer = deployerOfThisFile();

/** scripts/stack/fault.sh on the proxy in front of the open registry ($FAULT_REGISTRY goes through it). */
function registryFault(...args: string[]): void {
  execFileSync('bash', [join(ROOT, 'scripts/stack/fault.sh'), ...args], {
    env: { ...process.env, ...env, FAULT_PROXY: 'registry' },
    stdio: 'pipe',
  });
}

describe('the registry failing at the digest check (toxiproxy in front of the open registry)', () => {
  afterEach(() => registryFault('clear'));

  it.each([
    ['refusing connections', ['down'], /registry 127\.0\.0\.1:15000 could not be reached/],
    [
      'accepting and never answering',
      ['add', 'hang', 'timeout', 'timeout=0', '--upstream'],
      /registry 127\.0\.0\.1:15000 did not answer in time/,
    ],
  ])('%s: the step fails before changing anything, naming the registry', async (_name, toxic, message) => {
    const repository = `${env.FAULT_REGISTRY ?? '127.0.0.1:15000'}/e2e/regfault`;
    createDeployment('regfault', `${repository}:initial`, { replicas: 1 });
    const recorded = template('regfault');
    registryFault(...toxic);
    const run = await runAction({
      build: 'false',
      image: repository,
      tags: 'v1',
      deployments: `${NAMESPACE}/regfault`,
      kubeconfig: deployer(),
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toMatch(message);
    expect(template('regfault')).toEqual(recorded);
    expect(run.ms).toBeLessThan(30_000);
  });
});

/** What the `docker` shim does to the registry proxy around `docker push` (see `dockerWithRegistryFault`). */
interface PushFault {
  /** fault.sh arguments run just before the real push starts, or right after it succeeded. */
  before?: string[];
  after?: string[];
  /** fault.sh arguments run in the background this many seconds after the fault (the registry healing). */
  heal?: { seconds: number; args: string[] };
}

/**
 * A `docker` first on the step's PATH that runs the stack's real docker, with a fault on the registry proxy at an
 * exact instant of `docker push`: as it starts (its uploads cut), or the instant it has succeeded (between the push
 * and the digest check, which follow each other within milliseconds: no timer can aim there).
 */
function dockerWithRegistryFault(fault: PushFault): string {
  const real = execFileSync('bash', ['-c', 'command -v docker'], { env: { ...process.env, ...env } })
    .toString()
    .trim();
  const dir = mkdtempSync(join(tmpdir(), 'kube-ship-docker-'));
  const run = (args: string[]) =>
    `FAULT_PROXY=registry bash '${join(ROOT, 'scripts/stack/fault.sh')}' ${args.map((a) => `'${a}'`).join(' ')} </dev/null >/dev/null 2>&1`;
  const heal = fault.heal ? `(sleep ${fault.heal.seconds}; ${run(fault.heal.args)}) </dev/null >/dev/null 2>&1 &` : '';
  writeFileSync(
    join(dir, 'docker'),
    [
      '#!/usr/bin/env bash',
      ...(fault.before ? ['if [[ "$1" == push ]]; then', `  ${run(fault.before)}`, `  ${heal}`, 'fi'] : []),
      `'${real}' "$@"`,
      'rc=$?',
      ...(fault.after ? ['if [[ $rc == 0 && "$1" == push ]]; then', `  ${run(fault.after)}`, `  ${heal}`, 'fi'] : []),
      'exit $rc',
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'docker'), 0o755);
  return `${dir}:${env.PATH ?? process.env.PATH ?? ''}`;
}

/** A build context with a 3 MB layer of random bytes: an upload that takes many packets. */
function bigLayerContext(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ship-big-'));
  writeFileSync(join(dir, 'blob.bin'), randomBytes(3_000_000));
  writeFileSync(join(dir, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY blob.bin /blob.bin\nCMD ["sh"]\n');
  return dir;
}

describe('the registry failing around the push', () => {
  afterEach(() => registryFault('clear'));
  const faultRegistry = env.FAULT_REGISTRY ?? '127.0.0.1:15000';

  it('the registry down right after the push, back 3 s later: the digest check rides it out and the deploy succeeds', async () => {
    createDeployment('blink', `${faultRegistry}/e2e/blink:initial`, { replicas: 1 });
    const run = await runAction(
      {
        ...appInputs('blink', 'v1', 'blink', { bake: '0s', kubeconfig: deployer() }),
        image: `${faultRegistry}/e2e/blink`,
      },
      { env: { PATH: dockerWithRegistryFault({ after: ['down'], heal: { seconds: 3, args: ['up'] } }) } },
    );
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log).toMatch(/registry 127\.0\.0\.1:15000 could not be reached.*; trying again in \d\.\ds/);
    expect(imageOf('blink')).toBe(run.outputs.image);
    expect(run.outputs.image).toMatch(/^127\.0\.0\.1:15000\/e2e\/blink:v1@sha256:[0-9a-f]{64}$/);
  });

  it('the registry down after the push for good: the step fails naming the registry and changes nothing', async () => {
    createDeployment('gone', `${faultRegistry}/e2e/gone:initial`, { replicas: 1 });
    const recorded = template('gone');
    const run = await runAction(
      { ...appInputs('gone', 'v1', 'gone', { kubeconfig: deployer() }), image: `${faultRegistry}/e2e/gone` },
      { env: { PATH: dockerWithRegistryFault({ after: ['down'] }) } },
    );
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toMatch(/registry 127\.0\.0\.1:15000 could not be reached/);
    expect(run.log).not.toContain('::group::Deploy');
    expect(template('gone')).toEqual(recorded);
    // 20 s of asking again, then the verdict.
    expect(run.ms).toBeGreaterThan(18_000);
    expect(run.ms).toBeLessThan(45_000);
  });
});

describe('the image and its inline build cache cut off mid-upload', () => {
  afterEach(() => registryFault('clear'));
  const faultRegistry = env.FAULT_REGISTRY ?? '127.0.0.1:15000';
  // Each upload connection is closed after 64 KiB: the image's layers (and the cache metadata that `cache-to`
  // writes into them, classic BuildKit's inline cache) never arrive whole.
  const cut = ['add', 'cut', 'limit_data', 'bytes=65536', '--upstream'];
  const bigLayerInputs = (name: string) => ({
    ...appInputs(name, 'v1', name, { bake: '0s', kubeconfig: deployer() }),
    image: `${faultRegistry}/e2e/${name}`,
    context: bigLayerContext(),
    'cache-to': `${faultRegistry}/e2e/${name}:buildcache`,
  });

  it('uploads cut for 4 s: docker push retries its layers and the deploy succeeds', async () => {
    createDeployment('upcut', `${faultRegistry}/e2e/upcut:initial`, { replicas: 1 });
    const run = await runAction(bigLayerInputs('upcut'), {
      env: { PATH: dockerWithRegistryFault({ before: cut, heal: { seconds: 4, args: ['remove', 'cut'] } }) },
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log).toMatch(/Retrying in \d+ seconds?/);
    expect(imageOf('upcut')).toBe(run.outputs.image);
  });

  it('uploads cut for good: the push fails, named in the reason, and nothing is deployed', async () => {
    createDeployment('upgone', `${faultRegistry}/e2e/upgone:initial`, { replicas: 1 });
    const recorded = template('upgone');
    const run = await runAction(bigLayerInputs('upgone'), { env: { PATH: dockerWithRegistryFault({ before: cut }) } });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toMatch(/^docker push 127\.0\.0\.1:15000\/e2e\/upgone:v1 failed: /);
    expect(run.log).not.toContain('::group::Deploy');
    expect(template('upgone')).toEqual(recorded);
    // docker push gives up after its own retries (about 50 s here); the step ends right after.
    expect(run.ms).toBeLessThan(120_000);
  });
});
