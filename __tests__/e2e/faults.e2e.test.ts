/**
 * Faults in the middle of a deploy, made with the real parts: a permission revoked, a token made invalid, real 429s
 * from API Priority and Fairness, GitHub misbehaving. The rule for each: the deploy completes, or the target ends where
 * the rollback rules put it, with a clear message, within the time limits; never a stuck step. The network cut or
 * slowed by toxiproxy is in faults-network.e2e.test.ts (the API server) and faults-registry.e2e.test.ts (the registry);
 * the faults that stop a part every file uses (etcd, the API server, the Docker engine) are in restarts.e2e.test.ts,
 * which runs alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from '../fake-github/server.js';
import {
  DEPLOYER_RULES,
  NAMESPACE,
  ROOT,
  appInputs,
  createDeployment,
  deployerOfThisFile,
  env,
  imageOf,
  initialImage,
  kubectl,
  runAction,
  serviceAccountKubeconfig,
} from './harness.js';
import { countRequestsPerTest } from './request-counts.js';

countRequestsPerTest();

/** The least-privilege deployer (the stack's deployer's rules, an identity of this file's own): its requests count. */
const deployer = deployerOfThisFile();

describe('faults mid-deploy', () => {
  it("the deployer's permission revoked mid-rollout: the rollback fails with 403 and says how to finish by hand", async () => {
    createDeployment('revoked', initialImage('revoked'), { replicas: 2, readyDelay: '4s' });
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
    createDeployment('tokenless', initialImage('tokenless'), { replicas: 2, readyDelay: '15s' });
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
});

describe('real 429s from the API server (Priority and Fairness)', () => {
  let hold: ChildProcess | undefined;
  afterEach(() => hold?.kill());

  it('every request refused with 429 for 6 s around the patch and the watch: retried as Retry-After asks', async () => {
    createDeployment('throttled', initialImage('throttled'), { replicas: 1 });
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
    createDeployment('gh-down', initialImage('gh-down'), { replicas: 1 });
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
