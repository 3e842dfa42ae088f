/**
 * The driver of the wait on the fake cluster and fake time: what it does with the targets' verdicts (end the wait,
 * the deadline, a bake past it, a cancel). The rules of one target's wait are wait-state's, tested on their own.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitForRollouts, type WaitItem, type WaitOptions, type WaitResult } from '../../src/deploy/wait.js';
import { parseVerify, type CheckSpec } from '../../src/desired/verify.js';
import { startVerification } from '../../src/deploy/verify.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';
import { onFakeTime } from '../fakes/fake-time.js';

const item = (name: string, over: Partial<WaitItem> = {}): WaitItem => ({
  key: `ns/${name}`,
  kind: 'deployment',
  namespace: 'ns',
  name,
  selector: `app=${name}`,
  minGeneration: 1,
  ...over,
});

/** The wait on fake time (see `onFakeTime`). */
async function wait(kube: FakeKube, items: WaitItem[], over: Partial<WaitOptions> = {}) {
  const log = recordingLog();
  const started = Date.now();
  const options = { deadline: started + 60_000, failFast: true, allowedRestarts: 0, ...over };
  const result: WaitResult = await onFakeTime(
    waitForRollouts(kube, items, { signal: new AbortController().signal, ...options }, log),
  );
  return { result, lines: log.lines, after: (key: string) => (result.finishedAt.get(key) ?? NaN) - started };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('waitForRollouts', () => {
  it('ends as soon as one target fails, leaving the others as they are (not timed out)', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:crash');
    kube.addDeployment('api', 'reg/api:v1');
    const { result, after } = await wait(kube, [item('web'), item('api', { minGeneration: 99 })]);
    expect(result.verdicts.get('ns/web')).toMatchObject({ state: 'failed', reason: 'CrashLoopBackOff' });
    expect(result.verdicts.get('ns/api')).toEqual({
      state: 'progressing',
      message: 'waiting for the patched deployment to be seen',
    });
    expect(after('ns/web')).toBeLessThan(1000);
    expect(result.finishedAt.has('ns/api')).toBe(false);
  });

  it('times out a target still rolling out at the deadline, on a tick, naming its last line', async () => {
    const kube = new FakeKube();
    kube.addDeployment('api', 'reg/api:v1');
    const { result, after } = await wait(kube, [item('api', { minGeneration: 99 })], {
      deadline: Date.now() + 3000,
    });
    expect(result.verdicts.get('ns/api')).toEqual({
      state: 'failed',
      reason: 'Timeout',
      message:
        'ns/api did not finish rolling out within "timeout" (last: 2/2 updated, 2 available); raise "timeout" if it needs longer',
    });
    expect(after('ns/api')).toBe(3000);
  });

  it('lets a bake begun before the deadline run to its end, logging each step once', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const { result, lines, after } = await wait(kube, [item('web', { bakeMs: 5000 })], {
      deadline: Date.now() + 1000,
    });
    expect(result.verdicts.get('ns/web')).toEqual({
      state: 'done',
      message: 'deployment "web" successfully rolled out and baked',
    });
    expect(after('ns/web')).toBe(5000);
    expect(result.rolledOutAt.get('ns/web')).toBeDefined();
    expect(lines).toEqual([
      'ns/web: deployment "web" successfully rolled out',
      'ns/web: rolled out; baking 5s (bake: 0s to skip)',
      'ns/web: baked 5s: no restarts, all ready',
    ]);
  });

  it('is cancelled at once by a signal aborted before it began', async () => {
    const kube = new FakeKube();
    kube.addDeployment('api', 'reg/api:v1');
    const { result } = await wait(kube, [item('api', { minGeneration: 99 })], { signal: AbortSignal.abort() });
    expect(result.verdicts.get('ns/api')).toEqual({
      state: 'failed',
      reason: 'Cancelled',
      message: 'the step was cancelled',
    });
  });
});

describe('waitForRollouts with the checks of verify', () => {
  const [http] = parseVerify('- http: {port: 8080, path: /healthz, grace: 4s, interval: 1s}');
  const plan = { checks: [{ spec: http as CheckSpec }], namespace: 'ns', allowedRestarts: 0 };
  /** The wait of one baking target whose bake waits for `verify`, the checks run on the fake cluster's proxy. */
  const verified = (kube: FakeKube) =>
    wait(kube, [item('web', { bakeMs: 2000, verified: true })], {
      verify: (pods, onStatus) =>
        startVerification(plan, pods, onStatus, {
          kube,
          http: { get: () => Promise.reject(new Error('none')) },
          log: recordingLog(),
        }),
    });

  it('asks every new pod through the proxy during the bake, and ends when the bake is over and the checks pass', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const { result, after } = await verified(kube);
    expect(result.verdicts.get('ns/web')).toMatchObject({ state: 'done' });
    expect(after('ns/web')).toBe(2000);
    const asked = new Set(kube.proxyRequests.map((r) => `${r.kind}/${r.name}:${r.port}${r.path}`));
    expect([...asked].sort()).toEqual(
      [...kube.pods.values()].map((p) => `pods/${p.metadata?.name}:8080/healthz`).sort(),
    );
    expect(result.checks).toMatchObject([{ label: 'http #1', state: 'passing', detail: '200 from 2 pods' }]);
  });

  it('holds the bake open while a check fails within its grace, and fails the target when it lasts the grace', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.proxyAnswer = () => ({ status: 500, body: 'internal error', fromServer: false });
    const { result, after } = await verified(kube);
    expect(result.verdicts.get('ns/web')).toMatchObject({
      state: 'failed',
      reason: 'VerifyFailed',
      message: expect.stringContaining('500 "internal error"'),
    });
    expect(after('ns/web')).toBe(4000);
    expect(result.checks[0]).toMatchObject({ state: 'failed' });
  });

  it('a blip shorter than the grace ends passing: the bake outlasts it', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const start = Date.now();
    kube.proxyAnswer = () =>
      Date.now() - start < 3000
        ? { status: 503, body: 'warming up', fromServer: false }
        : { status: 200, body: 'ok', fromServer: false };
    const { result, after } = await verified(kube);
    expect(result.verdicts.get('ns/web')).toMatchObject({ state: 'done' });
    expect(after('ns/web')).toBeGreaterThanOrEqual(3000);
    expect(result.checks[0]).toMatchObject({ state: 'passing' });
    expect(result.checks[0]?.failures).toBeGreaterThan(0);
  });
});
