/**
 * A StatefulSet's canary by its partition: the pods and partition of each step, the patches that set it, the steps
 * run on the fake Kube (recorded before the first patch), the promotion, and the restore that puts back the
 * template and the partition in one patch.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { JsonPatchOp } from '../../src/cluster/kube.js';
import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../src/desired/canary.js';
import { runCanary, type CanaryWatch } from '../../src/deploy/canary-run.js';
import { promoteSet } from '../../src/deploy/canary-partition.js';
import { CANARY_RUN_ANNOTATION } from '../../src/deploy/canary.js';
import { partitionOps, partitionPods, stepPartition, withPartition } from '../../src/deploy/partition.js';
import type { RestorePlan } from '../../src/deploy/patch.js';
import { rollBack } from '../../src/deploy/restore.js';
import type { TargetRecord } from '../../src/deploy/target-record.js';
import type { WaitItem, WaitResult } from '../../src/deploy/wait.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const pods = (count: number): CanaryStep => ({ kind: 'pods', count });
const share = (percent: number): CanaryStep => ({ kind: 'percent', percent });

describe('the partition of a step', () => {
  it.each<[CanaryStep, number, number, number, number]>([
    // step, replicas, recorded partition, canary pods, partition
    [share(10), 5, 0, 1, 4],
    [share(20), 5, 0, 1, 4],
    [share(50), 5, 0, 3, 2],
    [share(99), 5, 0, 5, 0],
    [pods(2), 5, 0, 2, 3],
    [pods(9), 5, 0, 5, 0],
    [share(90), 5, 2, 5, 2],
    [pods(1), 3, 1, 1, 2],
  ])('%j of %i replicas (partition %i before): %i pods, partition %i', (step, replicas, recorded, count, partition) => {
    expect(partitionPods(step, replicas)).toBe(count);
    expect(stepPartition(partitionPods(step, replicas), replicas, recorded)).toBe(partition);
  });

  it.each<[V1StatefulSet['spec'], unknown]>([
    [
      { selector: {}, serviceName: '', template: {}, updateStrategy: { type: 'RollingUpdate', rollingUpdate: {} } },
      [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate/partition', value: 3 }],
    ],
    [
      { selector: {}, serviceName: '', template: {}, updateStrategy: { type: 'RollingUpdate' } },
      [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate', value: { partition: 3 } }],
    ],
    [
      { selector: {}, serviceName: '', template: {} },
      [{ op: 'add', path: '/spec/updateStrategy', value: { type: 'RollingUpdate', rollingUpdate: { partition: 3 } } }],
    ],
  ])('is set with the fields the live object lacks: %j', (spec, ops) => {
    expect(partitionOps({ spec }, 3)).toEqual(ops);
  });
});

describe('a restore with the partition', () => {
  const live: V1StatefulSet = {
    spec: { selector: {}, serviceName: '', template: {}, updateStrategy: { rollingUpdate: { partition: 4 } } },
  };
  const back: JsonPatchOp = { op: 'add', path: '/spec/updateStrategy/rollingUpdate/partition', value: 0 };
  const template: Extract<RestorePlan, { kind: 'patch' }> = {
    kind: 'patch',
    only: 'template',
    ops: [back],
    note: 'restored',
  };

  it.each<[string, RestorePlan, number | undefined, RestorePlan]>([
    [
      'puts it back in the same patch as the template',
      { ...template, ops: [{ op: 'replace', path: '/spec/template', value: {} }] },
      0,
      {
        ...template,
        ops: [{ op: 'replace', path: '/spec/template', value: {} }, back],
        note: 'restored; partition back to 0',
      },
    ],
    [
      'puts it back alone when the template already is the recorded one',
      { kind: 'nothing', note: 'already on the recorded template' },
      0,
      {
        kind: 'patch',
        only: 'template',
        ops: [{ op: 'replace', path: '/metadata/resourceVersion', value: '9' }, back],
        note: 'already on the recorded template; partition back to 0',
      },
    ],
    [
      'leaves a set that was made again',
      { kind: 'leave', note: 'made again' },
      0,
      { kind: 'leave', note: 'made again' },
    ],
    [
      'changes nothing without a recorded partition',
      { kind: 'nothing', note: 'n' },
      undefined,
      { kind: 'nothing', note: 'n' },
    ],
    [
      'changes nothing when the partition is as recorded',
      { kind: 'nothing', note: 'n' },
      4,
      { kind: 'nothing', note: 'n' },
    ],
  ])('%s', (_name, plan, recorded, expected) => {
    expect(withPartition(plan, recorded, live, '9')).toEqual(expected);
  });
});

const template = { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'reg/db:v1' }] } };

function withStatefulSet(partition?: number): FakeKube {
  const kube = new FakeKube();
  kube.statefulSets.set('ns/db', {
    metadata: { name: 'db', namespace: 'ns', uid: 'uid-db', generation: 1, resourceVersion: '7' },
    spec: {
      replicas: 5,
      selector: { matchLabels: { app: 'db' } },
      serviceName: 'db',
      template,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: partition ?? 0 } },
    },
    status: { observedGeneration: 1, replicas: 5, updateRevision: 'db-1' },
  });
  return kube;
}

const request = (steps: CanaryStep[], saved: TargetRecord[][]) => ({
  steps,
  targets: [{ kind: 'statefulset' as const, namespace: 'ns', name: 'db', containers: [], input: 'workloads' as const }],
  image: 'reg/db',
  digest: 'sha256:b',
  reference: 'reg/db:v2@sha256:b',
  changeCause: 'why',
  onPatched: (records: TargetRecord[]) => {
    saved.push(structuredClone(records));
  },
});

/** A wait that decides every item with `verdict`, remembering what each step watched. */
function watchAll(state: 'done' | 'failed'): CanaryWatch & { items: WaitItem[][] } {
  const items: WaitItem[][] = [];
  return {
    items,
    wait: async (watched) => {
      items.push(watched);
      const verdict =
        state === 'done'
          ? { state: 'done' as const, message: 'rolled out' }
          : { state: 'failed' as const, reason: 'CrashLoopBackOff', message: 'pod db-4 crashed' };
      return { verdicts: new Map(watched.map((i) => [i.key, verdict])), checks: [] } as unknown as WaitResult;
    },
    evidence: async () => [],
  };
}

const partitionOf = (kube: FakeKube) => kube.statefulSets.get('ns/db')?.spec?.updateStrategy?.rollingUpdate?.partition;
const markOf = (kube: FakeKube) => kube.statefulSets.get('ns/db')?.metadata?.annotations?.[CANARY_RUN_ANNOTATION];
const imageOf = (kube: FakeKube) => kube.statefulSets.get('ns/db')?.spec?.template.spec?.containers[0]?.image;

describe("a StatefulSet's canary steps", () => {
  it('record the set before the first patch, then move the template and lower the partition step by step', async () => {
    const kube = withStatefulSet();
    const saved: TargetRecord[][] = [];
    const watch = watchAll('done');
    const run = await runCanary(kube, request([share(20), share(60)], saved), watch, recordingLog());
    expect(run.failure).toBeUndefined();
    expect(run.steps.map((s) => [s.share, s.replicas, s.result])).toEqual([
      ['20%', 1, 'passed'],
      ['60%', 3, 'passed'],
    ]);
    // The first patch: the template by digest and the partition at once, guarded by the resourceVersion read.
    expect(kube.statefulSetPatches[0]?.ops).toEqual(
      expect.arrayContaining([
        { op: 'replace', path: '/metadata/resourceVersion', value: '7' },
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'reg/db:v2@sha256:b' },
        { op: 'add', path: '/spec/updateStrategy/rollingUpdate/partition', value: 4 },
      ]),
    );
    // The next step: the partition only, while our container still runs the release.
    expect(kube.statefulSetPatches[1]?.ops).toEqual([
      { op: 'replace', path: '/metadata/resourceVersion', value: '8' },
      { op: 'test', path: '/spec/template/spec/containers/0/image', value: 'reg/db:v2@sha256:b' },
      { op: 'add', path: '/spec/updateStrategy/rollingUpdate/partition', value: 2 },
    ]);
    expect([partitionOf(kube), imageOf(kube)]).toEqual([2, 'reg/db:v2@sha256:b']);
    // Saved before anything was sent (the partition and template as read), then with what the patch made.
    expect(saved[0]?.map((r) => [r.key, r.partition, r.template.spec?.containers[0]?.image, r.applied])).toEqual([
      ['ns/statefulset/db', 0, 'reg/db:v1', undefined],
    ]);
    expect(saved.at(-1)?.[0]?.applied?.reference).toBe('reg/db:v2@sha256:b');
    expect(watch.items.map((step) => step.map((i) => [i.key, i.minGeneration]))).toEqual([
      [['ns/statefulset/db', 2]],
      [['ns/statefulset/db', 3]],
    ]);
    // Marked with the run's id while its canary runs; the promotion removes the mark with the partition.
    expect(markOf(kube)).toMatch(/^[0-9a-f-]{36}$/);
    const [set] = run.partitioned;
    await promoteSet(kube, set!, request([], []), recordingLog());
    expect([partitionOf(kube), markOf(kube)]).toEqual([0, undefined]);
  });

  it('keep a partition set before the deploy as the floor, and promote back to it', async () => {
    const kube = withStatefulSet(1);
    const run = await runCanary(kube, request([share(50)], []), watchAll('done'), recordingLog());
    expect(run.steps.map((s) => s.replicas)).toEqual([3]);
    expect(partitionOf(kube)).toBe(2);
    await promoteSet(kube, run.partitioned[0]!, request([], []), recordingLog());
    expect(partitionOf(kube)).toBe(1);
  });

  it('stop at a failed step; the restore puts back the template and the partition in one patch', async () => {
    const kube = withStatefulSet();
    const saved: TargetRecord[][] = [];
    const run = await runCanary(kube, request([pods(1), pods(3)], saved), watchAll('failed'), recordingLog());
    expect(run.failure).toBe('canary 1 pod: ns/statefulset/db: CrashLoopBackOff: pod db-4 crashed');
    expect(kube.statefulSetPatches).toHaveLength(1);
    await rollBack(kube, saved.at(-1) ?? [], recordingLog(), 200);
    expect(kube.statefulSetPatches[1]?.ops).toEqual([
      { op: 'replace', path: '/metadata/resourceVersion', value: '8' },
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'remove', path: '/metadata/annotations/kubernetes.io~1change-cause' },
      { op: 'add', path: '/spec/updateStrategy/rollingUpdate/partition', value: 0 },
      { op: 'remove', path: '/metadata/annotations/kube-ship.dev~1canary-run' },
    ]);
    expect([partitionOf(kube), imageOf(kube), markOf(kube)]).toEqual([0, 'reg/db:v1', undefined]);
  });

  it('refuse to lower the partition of a set someone else changed meanwhile', async () => {
    const kube = withStatefulSet();
    let step = 0;
    const watch = watchAll('done');
    const wait = watch.wait;
    watch.wait = async (items) => {
      step += 1;
      if (step === 1) kube.statefulSets.get('ns/db')!.spec!.template.spec!.containers[0]!.image = 'reg/db:theirs';
      return wait(items);
    };
    const run = await runCanary(kube, request([pods(1), pods(2)], []), watch, recordingLog());
    expect(run.failure).toContain('ns/statefulset/db was changed by someone else during the canary');
    expect(partitionOf(kube)).toBe(4);
  });

  it("refuse a set another run's canary holds, naming it and how to undo it by hand, and change nothing", async () => {
    const kube = withStatefulSet();
    kube.statefulSets.get('ns/db')!.metadata!.annotations = { [CANARY_RUN_ANNOTATION]: 'other' };
    const run = await runCanary(kube, request([pods(1)], []), watchAll('done'), recordingLog());
    expect(run.failure).toContain('ns/statefulset/db is in the canary of another deploy (run other)');
    expect(run.failure).toContain(`kubectl annotate statefulset/db -n ns ${CANARY_RUN_ANNOTATION}-`);
    expect(kube.statefulSetPatches).toEqual([]);
  });

  it("two runs at once: the one whose patch meets the other run's mark (409, read again) stops, its record taken back", async () => {
    const kube = withStatefulSet();
    const saved: TargetRecord[][] = [];
    const req = request([pods(1)], saved);
    // The other run's first patch lands between this run's read and its write.
    req.onPatched = (records) => {
      saved.push(structuredClone(records));
      if (saved.length > 1) return;
      const live = kube.statefulSets.get('ns/db')!;
      live.metadata = { ...live.metadata, resourceVersion: '8', annotations: { [CANARY_RUN_ANNOTATION]: 'other' } };
    };
    const run = await runCanary(kube, req, watchAll('done'), recordingLog());
    expect(run.failure).toContain('ns/statefulset/db is in the canary of another deploy (run other)');
    expect(kube.statefulSetPatches).toEqual([]);
    expect(markOf(kube)).toBe('other');
    // Saved before the write, then taken back: nothing of it is this run's to restore.
    expect(saved.map((records) => records.length)).toEqual([1, 0]);
    expect(run.partitioned.map((s) => s.saved)).toEqual([false]);
  });
});
