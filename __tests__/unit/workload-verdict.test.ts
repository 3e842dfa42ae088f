import type { V1ControllerRevision, V1DaemonSet, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { accessFor, REQUIRED_ACCESS } from '../../src/cluster/access.js';
import { daemonSetStatus, newPods, progressLine, statefulSetStatus, wantedPods } from '../../src/deploy/verdict.js';
import { NO_PODS_SEEN, podCheck, seePods } from '../../src/deploy/wait-state.js';

/** A StatefulSet as kubectl's status viewer tests write them: generation, spec and status fields. */
function sts(
  generation: number,
  spec: { replicas?: number; partition?: number; type?: string; noRollingUpdate?: boolean },
  status: Partial<NonNullable<V1StatefulSet['status']>>,
): V1StatefulSet {
  const rollingUpdate = spec.noRollingUpdate ? {} : { rollingUpdate: { partition: spec.partition ?? 0 } };
  return {
    metadata: { name: 'db', generation, uid: 'sts-uid' },
    spec: {
      replicas: spec.replicas ?? 3,
      selector: {},
      serviceName: 'db',
      template: {},
      updateStrategy: { type: spec.type ?? 'RollingUpdate', ...(spec.type === 'OnDelete' ? {} : rollingUpdate) },
    },
    status: { replicas: spec.replicas ?? 3, ...status },
  };
}

describe("statefulSetStatus: kubectl's StatefulSet rule, case by case", () => {
  it.each([
    [
      'generation not observed',
      sts(2, {}, { observedGeneration: 1, readyReplicas: 3, updatedReplicas: 3 }),
      'progressing',
      'waiting for the statefulset spec update to be observed',
    ],
    [
      'never observed (observedGeneration 0)',
      sts(1, {}, { observedGeneration: 0 }),
      'progressing',
      'waiting for the statefulset spec update to be observed',
    ],
    [
      'pods not ready',
      sts(2, {}, { observedGeneration: 2, readyReplicas: 1, updatedReplicas: 3 }),
      'progressing',
      'waiting for 2 pods to be ready',
    ],
    [
      'partition 0, not all updated',
      sts(2, {}, { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 }),
      'progressing',
      'partitioned roll out: 1 out of 3 new pods have been updated',
    ],
    [
      'partition 2: one pod to update',
      sts(2, { partition: 2 }, { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 }),
      'done',
      'statefulset "db" rolled out: 1 new pods have been updated',
    ],
    [
      'all updated and ready',
      sts(2, {}, { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 3 }),
      'done',
      'statefulset "db" rolled out: 3 new pods have been updated',
    ],
    [
      'no rollingUpdate: revisions differ',
      sts(
        2,
        { noRollingUpdate: true },
        {
          observedGeneration: 2,
          readyReplicas: 3,
          updatedReplicas: 2,
          updateRevision: 'db-2',
          currentRevision: 'db-1',
        },
      ),
      'progressing',
      'waiting for the rolling update to complete: 2 pods at revision db-2',
    ],
    [
      'no rollingUpdate: revisions equal',
      sts(
        2,
        { noRollingUpdate: true },
        {
          observedGeneration: 2,
          readyReplicas: 3,
          currentReplicas: 3,
          updateRevision: 'db-2',
          currentRevision: 'db-2',
        },
      ),
      'done',
      'statefulset "db" rolled out: 3 pods',
    ],
    [
      'OnDelete',
      sts(2, { type: 'OnDelete' }, { observedGeneration: 2 }),
      'failed',
      'statefulset "db" uses the OnDelete update strategy: its pods change only when deleted',
    ],
  ])('%s', (_name, object, state, message) => {
    const verdict = statefulSetStatus(object);
    expect(verdict.state).toBe(state);
    expect(verdict.message).toBe(message);
  });
});

function ds(
  generation: number,
  status: Partial<NonNullable<V1DaemonSet['status']>>,
  type = 'RollingUpdate',
): V1DaemonSet {
  return {
    metadata: { name: 'agent', generation, uid: 'ds-uid' },
    spec: { selector: {}, template: {}, updateStrategy: { type } },
    status: { currentNumberScheduled: 3, desiredNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3, ...status },
  };
}

describe("daemonSetStatus: kubectl's DaemonSet rule, case by case", () => {
  it.each([
    [
      'generation not observed',
      ds(2, { observedGeneration: 1, updatedNumberScheduled: 3, numberAvailable: 3 }),
      'progressing',
      'waiting for the daemonset spec update to be observed',
    ],
    [
      'not all nodes updated',
      ds(2, { observedGeneration: 2, updatedNumberScheduled: 1, numberAvailable: 3 }),
      'progressing',
      '1 out of 3 new pods have been updated',
    ],
    [
      'updated, not all available',
      ds(2, { observedGeneration: 2, updatedNumberScheduled: 3, numberAvailable: 2 }),
      'progressing',
      '2 of 3 updated pods are available',
    ],
    [
      'rolled out',
      ds(2, { observedGeneration: 2, updatedNumberScheduled: 3, numberAvailable: 3 }),
      'done',
      'daemonset "agent" successfully rolled out',
    ],
    [
      'OnDelete',
      ds(2, { observedGeneration: 2 }, 'OnDelete'),
      'failed',
      'daemonset "agent" uses the OnDelete update strategy: its pods change only when deleted',
    ],
  ])('%s', (_name, object, state, message) => {
    const verdict = daemonSetStatus(object);
    expect(verdict.state).toBe(state);
    expect(verdict.message).toBe(message);
  });
});

const pod = (name: string, owner: string, hash: string): V1Pod => ({
  metadata: {
    name,
    labels: { 'controller-revision-hash': hash },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'X', name: 'x', uid: owner, controller: true }],
  },
});
const revision = (hash: string, number: number, image: string, owner = 'ds-uid'): V1ControllerRevision => ({
  revision: number,
  data: { spec: { template: { ...templateOf(image), $patch: 'replace' } } },
  metadata: {
    name: `agent-${hash}`,
    labels: { 'controller-revision-hash': hash },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: owner, controller: true }],
  },
});
const templateOf = (image: string) => ({
  metadata: { labels: { app: 'agent' } },
  spec: { containers: [{ name: 'app', image }] },
});
const dsOn = (image: string, generation: number, observedGeneration: number): V1DaemonSet => {
  const object = ds(generation, { observedGeneration });
  return { ...object, spec: { ...object.spec, selector: {}, template: templateOf(image) } };
};

describe("newPods: the pods of the current template, by the controller's revision hash", () => {
  const pods = [pod('db-0', 'sts-uid', 'db-old'), pod('db-2', 'sts-uid', 'db-new'), pod('other', 'x-uid', 'db-new')];

  it("a StatefulSet's: labelled with its update revision, and its own", () => {
    const object = sts(2, {}, { observedGeneration: 2, updateRevision: 'db-new' });
    const found = newPods({ kind: 'statefulset', workload: object, replicaSets: [], revisions: [], pods });
    expect(found?.map((p) => p.metadata?.name)).toEqual(['db-2']);
  });

  it('none while the controller has not observed the current generation (its update revision is the old one)', () => {
    const object = sts(3, {}, { observedGeneration: 2, updateRevision: 'db-old' });
    expect(newPods({ kind: 'statefulset', workload: object, replicaSets: [], revisions: [], pods })).toBeUndefined();
  });

  it("a DaemonSet's: the hash of its own ControllerRevision recording the current template", () => {
    const agents = [pod('agent-a', 'ds-uid', 'h1'), pod('agent-b', 'ds-uid', 'h2')];
    const revisions = [
      revision('h1', 1, 'web:1'),
      revision('h2', 2, 'web:2'),
      revision('h9', 9, 'web:2', 'someone-else'),
    ];
    const view = (object: V1DaemonSet, list: V1ControllerRevision[]) =>
      newPods({ kind: 'daemonset', workload: object, replicaSets: [], revisions: list, pods: agents });
    expect(view(dsOn('web:2', 2, 2), revisions)?.map((p) => p.metadata?.name)).toEqual(['agent-b']);
    // Restored to the first template: its revision is the older one, whatever the numbers say.
    expect(view(dsOn('web:1', 3, 3), revisions)?.map((p) => p.metadata?.name)).toEqual(['agent-a']);
    // A list of revisions served before the controller made the current one: no pod is taken for new.
    expect(view(dsOn('web:3', 3, 3), revisions)).toBeUndefined();
    // The generation not observed yet.
    expect(view(dsOn('web:2', 3, 2), revisions)).toBeUndefined();
  });
});

describe('seePods: a StatefulSet pod replaced under the same name starts afresh', () => {
  const named = (uid: string, ready: boolean, restarts: number): V1Pod => ({
    metadata: { name: 'db-1', uid },
    status: {
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [{ name: 'app', image: 'x', imageID: '', ready, restartCount: restarts }],
    },
  });

  it('keeps readiness and restarts by uid, not by name', () => {
    const history = seePods(seePods(NO_PODS_SEEN, [named('old-uid', true, 5)]), [named('new-uid', false, 0)]);
    const check = podCheck(history, 0, 0, 0);
    expect(check.wasReady(named('old-uid', true, 5))).toBe(true);
    expect(check.wasReady(named('new-uid', false, 0))).toBe(false);
    expect(check.restartsBefore(named('old-uid', true, 5), 'app')).toBe(5);
    expect(check.restartsBefore(named('new-uid', false, 0), 'app')).toBe(0);
  });
});

describe('progress lines and wanted pods per kind', () => {
  it('says what each rule counts', () => {
    expect(progressLine(sts(2, {}, { updatedReplicas: 1, readyReplicas: 2 }), 'statefulset')).toBe(
      '1/3 updated, 2 ready',
    );
    expect(progressLine(ds(2, { updatedNumberScheduled: 2, numberAvailable: 1 }), 'daemonset')).toBe(
      '2/3 nodes updated, 1 available',
    );
    expect(wantedPods('daemonset', ds(1, {}))).toBe(3);
    expect(wantedPods('statefulset', sts(1, { replicas: 5 }, {}))).toBe(5);
  });
});

describe('accessFor: what preflight checks per kind', () => {
  const names = (kinds: Parameters<typeof accessFor>[0]) =>
    accessFor(kinds)
      .map((a) => `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}`)
      .sort();

  it('a Deployment needs nothing of StatefulSets, ControllerRevisions or pod deletion', () => {
    expect(names(['deployment'])).toEqual([
      'get deployments',
      'get pods/log',
      'list deployments',
      'list events',
      'list pods',
      'list replicasets',
      'patch deployments',
      'watch deployments',
      'watch pods',
      'watch replicasets',
    ]);
  });

  it("a StatefulSet adds its revisions and pod deletion (its rollback's), each permission once with a DaemonSet", () => {
    const both = names(['statefulset', 'daemonset', 'statefulset']);
    expect(both).toContain('delete pods');
    expect(both.filter((n) => n === 'list controllerrevisions')).toHaveLength(1);
    expect(names(['daemonset'])).not.toContain('delete pods');
    expect(REQUIRED_ACCESS).toHaveLength(new Set(names(['deployment', 'statefulset', 'daemonset'])).size);
  });
});
