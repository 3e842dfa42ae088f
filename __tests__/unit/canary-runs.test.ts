/**
 * Two runs on the same Deployment never mix canaries: a run that finds another's `NAME-canary` when it starts, or
 * meets one made between its look and its apply (two runs at once), fails naming it, and the other's canary is
 * never changed.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/cluster/kube.js';
import { runCanary, type CanaryWatch } from '../../src/deploy/canary-run.js';
import { CANARY_RUN_ANNOTATION } from '../../src/deploy/canary.js';
import type { WaitResult } from '../../src/deploy/wait.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const KEY = 'Deployment ns/web-canary';

const watch: CanaryWatch = {
  wait: async (items) =>
    ({
      verdicts: new Map(items.map((i) => [i.key, { state: 'done', message: 'rolled out' }])),
      checks: [],
    }) as unknown as WaitResult,
  evidence: async () => [],
};

function request(kube: FakeKube) {
  kube.addDeployment('web', 'reg/web:v1', 4);
  return {
    steps: [{ kind: 'pods' as const, count: 1 }],
    targets: [
      { kind: 'deployment' as const, namespace: 'ns', name: 'web', containers: [], input: 'deployments' as const },
    ],
    image: 'reg/web',
    digest: 'sha256:b',
    reference: 'reg/web:v2@sha256:b',
    changeCause: 'why',
  };
}

/** Another run's canary, as its own apply (its own field manager) made it. */
function theirs(kube: FakeKube): KubeObject {
  const object: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web-canary',
      namespace: 'ns',
      uid: 'uid-theirs',
      annotations: { [CANARY_RUN_ANNOTATION]: 'other' },
    },
    spec: { replicas: 1 },
  };
  kube.objects.set(KEY, object);
  kube.managers.set(KEY, 'kube-ship-canary-other');
  return structuredClone(object);
}

describe('two runs on one Deployment', () => {
  it('the second, started while the first runs its canary, fails naming it and leaves it', async () => {
    const kube = new FakeKube();
    const req = request(kube);
    const before = theirs(kube);
    const run = await runCanary(kube, req, watch, recordingLog());
    expect(run.failure).toContain('ns/web-canary already exists and this run did not make it');
    expect(run.steps).toEqual([]);
    expect(kube.objects.get(KEY)).toEqual(before);
  });

  it("two started at once: the one whose apply meets the other's new canary fails, and changes nothing of it", async () => {
    const kube = new FakeKube();
    const req = request(kube);
    let before: KubeObject | undefined;
    // The other run makes its canary after this run looked for one, just before this run's apply.
    kube.beforeObjectWrite = (key, verb) => {
      if (key === KEY && verb === 'apply' && before === undefined) before = theirs(kube);
    };
    const run = await runCanary(kube, req, watch, recordingLog());
    expect(run.failure).toContain('ns/web-canary already exists and this run did not make it');
    expect(run.steps.map((s) => s.result)).toEqual(['failed']);
    expect(kube.objects.get(KEY)).toEqual(before);
    await run.remove();
    expect(kube.deleted).toEqual([]);
  });

  it('each run applies its canary with a field manager of its own, kept across its steps', async () => {
    const kube = new FakeKube();
    const req = {
      ...request(kube),
      steps: [
        { kind: 'pods' as const, count: 1 },
        { kind: 'pods' as const, count: 2 },
      ],
    };
    const run = await runCanary(kube, req, watch, recordingLog());
    expect(run.failure).toBeUndefined();
    const managers = kube.applies.map((a) => a.options.fieldManager ?? '');
    expect(managers).toHaveLength(2);
    expect(managers[0]).toMatch(/^kube-ship-canary-[0-9a-f-]{36}$/);
    expect(managers[1]).toBe(managers[0]);
  });
});
