/**
 * Canary first: the input's steps, the canary's replicas at each step, the canary Deployment made from the live
 * stable one, and the steps run on the fake Kube with a wait that says what each step's watch decided.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseCanary, type CanaryStep } from '../../src/desired/canary.js';
import { canaryObject, canaryReplicas, TRACK_LABEL } from '../../src/deploy/canary.js';
import { runCanary, type CanaryWatch } from '../../src/deploy/canary-run.js';
import type { ObjectRecord } from '../../src/deploy/object-record.js';
import type { Verdict } from '../../src/deploy/verdict.js';
import type { WaitItem, WaitResult } from '../../src/deploy/wait.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const pods = (count: number): CanaryStep => ({ kind: 'pods', count });
const share = (percent: number): CanaryStep => ({ kind: 'percent', percent });

describe('the input canary', () => {
  it.each<[string, CanaryStep[]]>([
    ['', []],
    ['1', [pods(1)]],
    ['10%', [share(10)]],
    ['10%, 50%', [share(10), share(50)]],
    ['10 %\n25%,90%', [share(10), share(25), share(90)]],
    ['1, 3', [pods(1), pods(3)]],
  ])('%j is %j', (raw, steps) => {
    expect(parseCanary(raw)).toEqual(steps);
  });

  it.each([
    ['0%', '"0%" is not a share from 1% to 99%'],
    ['100%', '"100%" is not a share from 1% to 99%'],
    ['0', '"0" is neither a number of pods'],
    ['ten', '"ten" is neither a number of pods'],
    ['1.5%', '"1.5%" is neither a number of pods'],
    ['1, 10%', 'mixes pods and shares'],
    ['50%, 10%', 'each step must be larger than the one before'],
    ['10%, 10%', 'each step must be larger than the one before'],
  ])('%j is refused, naming the input: %s', (raw, message) => {
    expect(() => parseCanary(raw)).toThrow(/^Input "canary": /);
    expect(() => parseCanary(raw)).toThrow(message);
  });
});

describe('the canary replicas of a step', () => {
  it.each<[CanaryStep, number, number]>([
    [share(10), 10, 2], // ceil(100 / 90): 2 of 12 pods, at least 10%
    [share(10), 9, 1], // 90 / 90
    [share(50), 4, 4],
    [share(25), 3, 1],
    [share(90), 2, 18],
    [share(1), 1, 1], // never 0 pods
    [pods(1), 10, 1],
    [pods(3), 1, 3],
  ])('%j next to %d stable pods is %d canary pods', (step, stable, replicas) => {
    expect(canaryReplicas(step, stable)).toBe(replicas);
  });
});

/** A stable Deployment as the API server shows it, with what an HPA and kubectl leave on it. */
function stable(): V1Deployment {
  return {
    metadata: {
      name: 'web',
      namespace: 'ns',
      uid: 'uid-web',
      resourceVersion: '42',
      generation: 7,
      labels: { app: 'web', team: 'a' },
      annotations: {
        'deployment.kubernetes.io/revision': '3',
        'kubectl.kubernetes.io/last-applied-configuration': '{}',
      },
      managedFields: [{ manager: 'kube-controller-manager' }],
    },
    spec: {
      replicas: 7, // as the HPA set it
      paused: false,
      revisionHistoryLimit: 3,
      progressDeadlineSeconds: 120,
      minReadySeconds: 2,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe'] }] },
      template: {
        metadata: { labels: { app: 'web', tier: 'fe' }, annotations: { 'prometheus.io/scrape': 'true' } },
        spec: {
          initContainers: [{ name: 'migrate', image: 'reg/web:v1' }],
          containers: [
            { name: 'app', image: 'reg/web:v1' },
            { name: 'proxy', image: 'envoy:1' },
          ],
        },
      },
    },
    status: { replicas: 7, readyReplicas: 7 },
  };
}

const chosen = [
  { kind: 'containers' as const, index: 0, name: 'app', image: 'reg/web:v1' },
  { kind: 'initContainers' as const, index: 0, name: 'migrate', image: 'reg/web:v1' },
];

describe('the canary Deployment', () => {
  const object = canaryObject(stable(), chosen, {
    reference: 'reg/web:v2@sha256:b',
    changeCause: 'why',
    replicas: 2,
    run: 'r1',
  });

  it('is <name>-canary in the same namespace, with its own annotations only', () => {
    expect(object.metadata).toEqual({
      name: 'web-canary',
      namespace: 'ns',
      labels: { app: 'web', team: 'a', [TRACK_LABEL]: 'canary' },
      annotations: {
        'kube-ship.dev/canary-of': 'web',
        'kube-ship.dev/canary-run': 'r1',
        'kubernetes.io/change-cause': 'why',
      },
    });
  });

  it("selects only its own pods, which keep every label the Services select, and runs the step's replicas", () => {
    expect(object.spec).toMatchObject({
      replicas: 2,
      selector: {
        matchLabels: { app: 'web', [TRACK_LABEL]: 'canary' },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe'] }],
      },
      template: { metadata: { labels: { app: 'web', tier: 'fe', [TRACK_LABEL]: 'canary' } } },
    });
  });

  it('runs the new image in the chosen containers only, and keeps the rest of the template', () => {
    const template = (object.spec as V1Deployment['spec'])?.template;
    expect(template?.spec?.containers.map((c) => c.image)).toEqual(['reg/web:v2@sha256:b', 'envoy:1']);
    expect(template?.spec?.initContainers?.map((c) => c.image)).toEqual(['reg/web:v2@sha256:b']);
    expect(template?.metadata?.annotations).toEqual({ 'prometheus.io/scrape': 'true' });
  });

  it('copies no status, pause, history limit or field owners, and leaves the stable untouched', () => {
    const live = stable();
    canaryObject(live, chosen, { reference: 'x', changeCause: '', replicas: 1, run: 'r1' });
    expect(live).toEqual(stable());
    expect(Object.keys(object)).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(Object.keys(object.spec as object).sort()).toEqual(
      ['minReadySeconds', 'progressDeadlineSeconds', 'replicas', 'selector', 'strategy', 'template'].sort(),
    );
  });
});

/** A wait that answers each step with the verdict `verdicts` gives for its number (1, 2, ...), and logs the items. */
function scriptedWatch(verdicts: (step: number) => Verdict): CanaryWatch & { items: WaitItem[][] } {
  const items: WaitItem[][] = [];
  return {
    items,
    wait: async (step) => {
      items.push(step);
      const verdict = verdicts(items.length);
      const result: WaitResult = {
        verdicts: new Map(step.map((i) => [i.key, verdict])),
        workloads: new Map(),
        rolledOutAt: new Map(),
        finishedAt: new Map(),
        restarts: new Map(),
        states: new Map(),
        checks: [],
      };
      return result;
    },
    evidence: async () => [],
  };
}

const done: Verdict = { state: 'done', message: 'rolled out' };
const crashed: Verdict = { state: 'failed', reason: 'CrashLoopBackOff', message: 'pod web-canary-x crashed' };

function canaryRequest(kube: FakeKube, steps: CanaryStep[], saved: ObjectRecord[][]) {
  kube.addDeployment('web', 'reg/web:v1', 10);
  return {
    steps,
    targets: [
      { kind: 'deployment' as const, namespace: 'ns', name: 'web', containers: [], input: 'deployments' as const },
    ],
    image: 'reg/web',
    digest: 'sha256:b',
    reference: 'reg/web:v2@sha256:b',
    changeCause: 'why',
    onRecords: (records: ObjectRecord[]) => saved.push(structuredClone(records)),
  };
}

const replicasOf = (kube: FakeKube) => kube.applies.map((a) => (a.object.spec as { replicas: number }).replicas);

describe('the canary steps', () => {
  it('make, then scale, the canary; watch it at each step; and delete it by uid once asked', async () => {
    const kube = new FakeKube();
    const saved: ObjectRecord[][] = [];
    const watch = scriptedWatch(() => done);
    const run = await runCanary(kube, canaryRequest(kube, [share(10), share(50)], saved), watch, recordingLog());
    expect(run.failure).toBeUndefined();
    expect(run.steps.map((s) => [s.share, s.replicas, s.result])).toEqual([
      ['10%', 2, 'passed'],
      ['50%', 10, 'passed'],
    ]);
    expect(replicasOf(kube)).toEqual([2, 10]);
    expect(watch.items.map((step) => step.map((i) => [i.key, i.selector]))).toEqual([
      [['ns/web-canary', `app=web,${TRACK_LABEL}=canary`]],
      [['ns/web-canary', `app=web,${TRACK_LABEL}=canary`]],
    ]);
    // The stable Deployment is never patched by the canary.
    expect(kube.patches).toEqual([]);
    expect(kube.deployment('web')?.metadata?.generation).toBe(1);
    // Saved for the post step as soon as made, marked created (so it deletes it by uid).
    expect(saved[0]?.map((r) => [r.key, r.created, r.after.metadata.uid])).toEqual([
      ['Deployment ns/web-canary', true, 'uid-Deployment ns/web-canary'],
    ]);
    expect(await run.remove()).toBeUndefined();
    expect(await run.remove()).toBeUndefined();
    expect(kube.deleted).toEqual(['Deployment ns/web-canary']);
    expect(saved.at(-1)).toEqual([]);
  });

  it('stop at the first step that fails: the next step is never made, and the failure names the step', async () => {
    const kube = new FakeKube();
    const watch = scriptedWatch((step) => (step === 1 ? crashed : done));
    const run = await runCanary(kube, canaryRequest(kube, [pods(1), pods(3)], []), watch, recordingLog());
    expect(run.failure).toBe('canary 1 pod: ns/web-canary: CrashLoopBackOff: pod web-canary-x crashed');
    expect(run.steps.map((s) => s.result)).toEqual(['failed']);
    expect(replicasOf(kube)).toEqual([1]);
    await run.remove();
    expect(kube.deleted).toEqual(['Deployment ns/web-canary']);
  });

  it('say cancelled when the wait was cancelled', async () => {
    const kube = new FakeKube();
    const cancelled: Verdict = { state: 'failed', reason: 'Cancelled', message: 'the job was cancelled' };
    const run = await runCanary(
      kube,
      canaryRequest(kube, [pods(1)], []),
      scriptedWatch(() => cancelled),
      recordingLog(),
    );
    expect(run.steps.map((s) => s.result)).toEqual(['cancelled']);
    expect(run.failure).toBe('canary 1 pod: cancelled');
  });

  it('never use a canary another run made: one that exists fails the run, and is left as it is', async () => {
    const kube = new FakeKube();
    const request = canaryRequest(kube, [pods(1)], []);
    await kube.applyObject(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web-canary', namespace: 'ns' } },
      { dryRun: false, force: false },
    );
    const watch = scriptedWatch(() => done);
    const run = await runCanary(kube, request, watch, recordingLog());
    expect(run.failure).toContain('ns/web-canary already exists and this run did not make it');
    expect(run.failure).toContain('kubectl delete deployment web-canary -n ns');
    expect(watch.items).toEqual([]);
    await run.remove();
    expect(kube.deleted).toEqual([]);
  });

  it("run every target's canary in one step, each sized by its own stable replicas", async () => {
    const kube = new FakeKube();
    const request = canaryRequest(kube, [share(50)], []);
    kube.addDeployment('api', 'reg/web:v1', 3);
    const targets = [...request.targets, { ...request.targets[0]!, name: 'api' }];
    const watch = scriptedWatch(() => done);
    const run = await runCanary(kube, { ...request, targets }, watch, recordingLog());
    expect(replicasOf(kube)).toEqual([10, 3]);
    expect(run.steps).toMatchObject([{ share: '50%', replicas: 13, result: 'passed' }]);
    expect(watch.items.map((step) => step.map((i) => i.key))).toEqual([['ns/web-canary', 'ns/api-canary']]);
    expect(run.stable.map((r) => r.key)).toEqual(['ns/web', 'ns/api']);
    await run.remove();
    expect(kube.deleted).toEqual(['Deployment ns/web-canary', 'Deployment ns/api-canary']);
  });

  it('know their own canary when the answer to its apply was lost: it is watched, recorded and deleted', async () => {
    const kube = new FakeKube();
    const saved: ObjectRecord[][] = [];
    const request = canaryRequest(kube, [pods(1)], saved);
    kube.loseNextApplyAnswer = true;
    const run = await runCanary(
      kube,
      request,
      scriptedWatch(() => done),
      recordingLog(),
    );
    expect(run.failure).toBeUndefined();
    expect(run.steps.map((s) => s.result)).toEqual(['passed']);
    expect(saved[0]?.map((r) => r.key)).toEqual(['Deployment ns/web-canary']);
    await run.remove();
    expect(kube.deleted).toEqual(['Deployment ns/web-canary']);
  });

  it('skip a target that already runs the digest', async () => {
    const kube = new FakeKube();
    const request = canaryRequest(kube, [pods(1)], []);
    kube.edit('ns', 'web', (d) => {
      const [app] = d.spec?.template.spec?.containers ?? [];
      if (app) app.image = 'reg/web:v2@sha256:b';
    });
    const log = recordingLog();
    const run = await runCanary(
      kube,
      request,
      scriptedWatch(() => done),
      log,
    );
    expect(run.steps).toEqual([]);
    expect(kube.applies).toEqual([]);
    expect(log.lines.join('\n')).toContain('ns/web: already runs sha256:b; no canary');
  });
});
