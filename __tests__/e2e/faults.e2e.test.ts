/**
 * Faults in the middle of a deploy, made with the real parts: a permission revoked, a token made invalid, etcd
 * restarted. The rule for each: the deploy completes, or the target ends where the rollback rules put it, with a
 * clear message, within the time limits; never a stuck step.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from '../fake-github/server.js';
import {
  DEPLOYER_RULES,
  NAMESPACE,
  REGISTRY,
  ROOT,
  appInputs,
  env,
  createDeployment,
  kubectl,
  podImages,
  restartStackPart,
  runAction,
  serviceAccountKubeconfig,
  template,
} from './harness.js';

const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;

const imageOf = (name: string) =>
  (template(name) as { spec: { containers: { image: string }[] } }).spec.containers[0]?.image;

describe('faults mid-deploy', () => {
  it("the deployer's permission revoked mid-rollout: the rollback fails with 403 and says how to finish by hand", async () => {
    createDeployment('revoked', initial('revoked'), { replicas: 2, readyDelay: '4s' });
    const kubeconfig = serviceAccountKubeconfig('revoked', DEPLOYER_RULES);
    const run = await runAction(appInputs('revoked', 'crashloop-revoked', 'revoked', { kubeconfig, namespace: '' }), {
      whenPatched: () => kubectl(['delete', 'rolebinding', 'revoked', '-n', NAMESPACE]),
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toMatch(/CrashLoopBackOff|WatchFailed/);
    expect(run.log).toMatch(/Rollback also failed: .*forbidden/);
    expect(run.log).toContain(
      `restore it by hand: kubectl -n ${NAMESPACE} rollout undo deployment/revoked --to-revision=1`,
    );
    expect(run.summary).toContain('Rollback problem');
    expect(imageOf('revoked')).toContain('crashloop-revoked');
    expect(run.ms).toBeLessThan(90_000);
  });

  it('the token made invalid mid-rollout (ServiceAccount deleted): 401, reported, and the step ends', async () => {
    // The API server caches a token's authentication for about 10 s: the new pods crash only after that.
    createDeployment('tokenless', initial('tokenless'), { replicas: 2, readyDelay: '15s' });
    const kubeconfig = serviceAccountKubeconfig('tokenless', DEPLOYER_RULES);
    const run = await runAction(
      appInputs('tokenless', 'crashloop-tokenless', 'tokenless', { kubeconfig, namespace: '' }),
      { whenPatched: () => kubectl(['delete', 'serviceaccount', 'tokenless', '-n', NAMESPACE]) },
    );
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.log).toMatch(/Rollback also failed: .*(Unauthorized|HTTP 401)/);
    expect(run.log).toContain('restore it by hand');
    expect(run.ms).toBeLessThan(90_000);
  });

  it('etcd restarted in the middle of a rollout: the verdict does not change', async () => {
    createDeployment('etcd', initial('etcd'), { replicas: 3, surge: 1, unavailable: 0, readyDelay: '6s' });
    const run = await runAction(appInputs('etcd', 'v2', 'etcd', { bake: '0s' }), {
      whenPatched: () => setTimeout(() => restartStackPart('etcd', 2), 2000),
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(new Set(podImages('etcd'))).toEqual(new Set([run.outputs.image]));
  });
});

/** scripts/stack/fault.sh: toxics on the proxy in front of the API server ($FAULT_KUBECONFIG goes through it). */
function fault(...args: string[]): void {
  execFileSync('bash', [join(ROOT, 'scripts/stack/fault.sh'), ...args], {
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
}
const throughProxy = () => readFileSync(env.FAULT_KUBECONFIG ?? '', 'utf8');

describe('network faults between kube-ship and the API server (toxiproxy)', () => {
  afterEach(() => fault('reset'));

  it('connections reset while it patches: the patch is retried and lands, the deploy succeeds', async () => {
    createDeployment('reset', initial('reset'), { replicas: 1 });
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
    expect(run.log).toMatch(/kube-ship-e2e\/reset: .*; trying again/);
    expect(imageOf('reset')).toBe(run.outputs.image);
  });

  it('a blackhole during the watch: the deadline still ends the wait, and the rollback runs once the path heals', async () => {
    createDeployment('hole', initial('hole'), { replicas: 1 });
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
    createDeployment('latent', initial('latent'), { replicas: 1 });
    fault('add', 'slow', 'latency', 'latency=2000');
    const run = await runAction(appInputs('latent', 'v2', 'latent', { kubeconfig: throughProxy(), bake: '0s' }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.ms).toBeGreaterThan(4000);
  });
});

describe('the registry failing at the digest check (toxiproxy in front of the open registry)', () => {
  afterEach(() => fault('reset'));
  const registryFault = (...args: string[]) =>
    execFileSync('bash', [join(ROOT, 'scripts/stack/fault.sh'), ...args], {
      env: { ...process.env, ...env, FAULT_PROXY: 'registry' },
      stdio: 'pipe',
    });

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
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toMatch(message);
    expect(template('regfault')).toEqual(recorded);
    expect(run.ms).toBeLessThan(30_000);
  });
});

/**
 * A `docker` first on the step's PATH that runs the stack's real docker and then, the instant `docker push` has
 * succeeded, takes the registry proxy down (and up again `healSeconds` later): the fault lands exactly between
 * the push and the digest check, which no timer can aim at (they follow each other within milliseconds).
 */
function dockerThatDownsTheRegistryAfterPush(healSeconds: number | undefined): string {
  const real = execFileSync('bash', ['-c', 'command -v docker'], { env: { ...process.env, ...env } })
    .toString()
    .trim();
  const dir = mkdtempSync(join(tmpdir(), 'kube-ship-docker-'));
  const faultSh = join(ROOT, 'scripts/stack/fault.sh');
  const heal =
    healSeconds === undefined
      ? ''
      : `(sleep ${healSeconds}; FAULT_PROXY=registry bash '${faultSh}' up) </dev/null >/dev/null 2>&1 &`;
  writeFileSync(
    join(dir, 'docker'),
    [
      '#!/usr/bin/env bash',
      `'${real}' "$@"`,
      'rc=$?',
      'if [[ $rc == 0 && "$1" == push ]]; then',
      `  FAULT_PROXY=registry bash '${faultSh}' down </dev/null >/dev/null 2>&1`,
      `  ${heal}`,
      'fi',
      'exit $rc',
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'docker'), 0o755);
  return `${dir}:${env.PATH ?? process.env.PATH ?? ''}`;
}

describe('the registry and the Docker engine failing around the build', () => {
  afterEach(() => fault('reset'));
  const faultRegistry = env.FAULT_REGISTRY ?? '127.0.0.1:15000';

  it('the registry down right after the push, back 3 s later: the digest check rides it out and the deploy succeeds', async () => {
    createDeployment('blink', `${faultRegistry}/e2e/blink:initial`, { replicas: 1 });
    const run = await runAction(
      { ...appInputs('blink', 'v1', 'blink', { bake: '0s' }), image: `${faultRegistry}/e2e/blink` },
      { env: { PATH: dockerThatDownsTheRegistryAfterPush(3) } },
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
      { ...appInputs('gone', 'v1', 'gone'), image: `${faultRegistry}/e2e/gone` },
      { env: { PATH: dockerThatDownsTheRegistryAfterPush(undefined) } },
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

describe('real 429s from the API server (Priority and Fairness)', () => {
  let hold: ChildProcess | undefined;
  afterEach(() => hold?.kill());

  it('every request refused with 429 for 6 s around the patch and the watch: retried as Retry-After asks', async () => {
    createDeployment('throttled', initial('throttled'), { replicas: 1 });
    const kubeconfig = readFileSync(env.THROTTLED_KUBECONFIG ?? '', 'utf8');
    let holdStarted = 0;
    const run = await runAction(appInputs('throttled', 'v2', 'throttled', { kubeconfig, namespace: '', bake: '0s' }), {
      during: [
        {
          when: ({ log }) => log.includes('::group::Build'),
          act: () => {
            holdStarted = Date.now();
            hold = spawn('bash', [join(ROOT, 'scripts/stack/throttle.sh'), 'hold', '6'], {
              env: { ...process.env, ...env },
              stdio: 'ignore',
            });
          },
        },
      ],
    });
    expect(holdStarted).toBeGreaterThan(0);
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(imageOf('throttled')).toBe(run.outputs.image);
  });
});

describe('GitHub misbehaving (fake GitHub API)', () => {
  let fake: FakeGitHub;
  let eventPath: string;
  beforeAll(async () => {
    fake = await startFakeGitHub();
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-event-'));
    eventPath = join(dir, 'event.json');
    writeFileSync(eventPath, JSON.stringify({ pull_request: { number: 21, head: { sha: 'c0ffee'.padEnd(40, '0') } } }));
  });
  afterAll(() => fake.stop());

  it.each([
    ['answers 502 to everything', { status: 502 as const, message: 'Bad Gateway' }],
    ['never answers', { status: 'hang' as const }],
  ])('%s: the deploy result stands, with one warning', async (_name, failure) => {
    createDeployment('gh-down', initial('gh-down'), { replicas: 1 });
    fake.reset();
    fake.fail({ ...failure, times: 20 });
    const run = await runAction(
      appInputs('gh-down', `v-${failure.status}`, `gh-${failure.status}`, {
        comment: 'auto',
        'github-deployment': 'true',
        'github-token': 'ghs_e2e',
        bake: '0s',
      }),
      { env: { GITHUB_API_URL: fake.url, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: eventPath } },
    );
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log.split('\n').filter((l) => l.startsWith('::warning'))).toHaveLength(1);
    expect(run.ms).toBeLessThan(60_000);
  });
});
