/**
 * Faults in the middle of a deploy, made with the real parts: a permission revoked, a token made invalid, etcd
 * restarted. The rule for each: the deploy completes, or the target ends where the rollback rules put it, with a
 * clear message, within the time limits; never a stuck step.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from '../fake-github/server.js';
import {
  Audit,
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

/**
 * API requests each fault cost, counted at the server (the audit log keeps the e2e namespace's ServiceAccounts, the
 * identities the steps run as; the tests' own kubectl is the admin), printed when the file ends: the README's fault
 * table takes them from there.
 */
const audit = new Audit();
const costs: string[] = [];
let mark = 0;
beforeEach(() => {
  mark = audit.mark();
});
afterEach(async ({ task }) => {
  // The step's last requests reach the audit log a moment after it exits.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  costs.push(`  ${task.name}: ${audit.since(mark).length}`);
});
afterAll(() => console.log(`API requests per fault (audit log):\n${costs.join('\n')}`));

/** The least-privilege deployer, directly or through the fault proxy: its requests are the ones counted. */
const deployer = (): string => readFileSync(env.DEPLOYER_KUBECONFIG ?? '', 'utf8');
const throughProxy = (): string => readFileSync(env.FAULT_DEPLOYER_KUBECONFIG ?? '', 'utf8');

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
    const run = await runAction(appInputs('etcd', 'v2', 'etcd', { bake: '0s', kubeconfig: deployer() }), {
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

/** A build context whose RUN step takes `seconds`: long enough to stop the Docker engine in the middle of it. */
function slowBuildContext(seconds: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ship-slow-'));
  writeFileSync(
    join(dir, 'Dockerfile'),
    `ARG BASE_IMAGE\nFROM \${BASE_IMAGE}\nRUN sleep ${seconds} && echo slow > /slow\nCMD ["sh"]\n`,
  );
  return dir;
}

describe('the registry and the Docker engine failing around the build', () => {
  afterEach(() => fault('reset'));
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

describe('the image and its inline build cache cut off mid-upload, and the Docker engine stopped mid-build', () => {
  afterEach(() => fault('reset'));
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

  it('dockerd killed in the middle of a build: the step fails saying the engine was lost, and nothing is deployed', async () => {
    createDeployment('dockerd', initial('dockerd'), { replicas: 1 });
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
        kubeconfig: deployer(),
      }),
      { env: { GITHUB_API_URL: fake.url, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: eventPath } },
    );
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log.split('\n').filter((l) => l.startsWith('::warning'))).toHaveLength(1);
    expect(run.ms).toBeLessThan(60_000);
  });
});
