/**
 * The lean watch of a Deployment waited on alone: which ReplicaSet is the new one, when the full watch must take
 * over, and `leanObserve` on fakes of its informers (what it watches, when the target first hears of a change).
 */
import type { KubernetesObject, V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { TargetState } from '../../src/cluster/kube.js';
import { isNewReplicaSet, leanObserve, needsFullWatch, type ReadPlan } from '../../src/cluster/lean-watch.js';
import type { Member, Plan, RunPlan } from '../../src/cluster/shared-watch.js';

const REVISION = 'deployment.kubernetes.io/revision';

function deployment(o: {
  generation?: number;
  observed?: number;
  revision?: string;
  replicaFailure?: boolean;
}): V1Deployment {
  const conditions = [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }];
  if (o.replicaFailure) conditions.push({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' });
  return {
    metadata: {
      name: 'web',
      uid: 'd-uid',
      generation: o.generation ?? 2,
      resourceVersion: '10',
      annotations: { [REVISION]: o.revision ?? '2' },
    },
    spec: { selector: {}, template: {} },
    status: { observedGeneration: o.observed ?? o.generation ?? 2, conditions },
  };
}

const replicaSet = (name: string, revision: string, owner = 'd-uid'): V1ReplicaSet => ({
  metadata: {
    name,
    annotations: { [REVISION]: revision },
    labels: { app: 'web', 'pod-template-hash': name.replace('web-', '') },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: owner, controller: true }],
  },
});

describe('needsFullWatch and isNewReplicaSet', () => {
  it('takes the full watch on ReplicaFailure, and on a new revision once observed', () => {
    const rs = replicaSet('web-a', '2');
    expect(needsFullWatch(deployment({}), rs)).toBeUndefined();
    expect(needsFullWatch(deployment({ replicaFailure: true }))).toBe('ReplicaFailure');
    expect(needsFullWatch(deployment({ revision: '3' }), rs)).toBe('revision');
    expect(needsFullWatch(deployment({ revision: '3', generation: 3, observed: 2 }), rs)).toBeUndefined();
  });

  it('takes a ReplicaSet as the new one only with the revision, the owner and a template hash', () => {
    const d = deployment({});
    expect(isNewReplicaSet(d, replicaSet('web-a', '2'))).toBe(true);
    expect(isNewReplicaSet(d, replicaSet('web-a', '1'))).toBe(false);
    expect(isNewReplicaSet(d, replicaSet('web-a', '2', 'other-uid'))).toBe(false);
    expect(isNewReplicaSet(d, { ...replicaSet('web-a', '2'), metadata: { annotations: { [REVISION]: '2' } } })).toBe(
      false,
    );
    expect(isNewReplicaSet(d, undefined)).toBe(false);
  });
});

/** Fakes of the informers: each plan run is recorded, its store and `changed` kept for the test to drive. */
function fakes(replicaSets: V1ReplicaSet[]) {
  const runs: { plan: Plan; store: Map<string, KubernetesObject>; changed: () => void }[] = [];
  const reads: Plan[] = [];
  const runPlan: RunPlan = (plan, store, changed, signal) => {
    runs.push({ plan, store, changed });
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  };
  const readPlan: ReadPlan = (plan) => {
    reads.push(plan);
    return Promise.resolve(replicaSets);
  };
  const push = (resource: string, objects: KubernetesObject[]): void => {
    const run = runs.find((r) => r.plan.resource === resource);
    if (run === undefined) throw new Error(`no ${resource} informer`);
    run.store.clear();
    for (const o of objects) run.store.set(o.metadata?.name ?? '', o);
    run.changed();
  };
  return { runs, reads, runPlan, readPlan, push };
}

function member() {
  const state: TargetState = { workloads: new Map(), replicaSets: new Map(), revisions: new Map(), pods: new Map() };
  const seen: TargetState[] = [];
  const m: Member = {
    scope: { kind: 'deployment', namespace: 'shop', name: 'web', selector: 'app=web' },
    state,
    changed: () => seen.push({ ...state, pods: new Map(state.pods) }),
    failed: () => undefined,
  };
  return { m, seen };
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
const pod = (name: string): KubernetesObject => ({ metadata: { name } });

/** A lean watch of `web` on fakes whose ReplicaSet list is `sets`; a hand-over to the full watch is counted and ends it. */
function watchLean(sets: V1ReplicaSet[], resolveMs?: number) {
  const f = fakes(sets);
  const { m, seen } = member();
  const stop = new AbortController();
  let handedOver = 0;
  const full = (): Promise<void> => (handedOver++, stop.abort(), Promise.resolve());
  const done = leanObserve(m, stop.signal, { runPlan: f.runPlan, readPlan: f.readPlan, full, resolveMs });
  return { f, m, seen, stop, done, handedOver: () => handedOver };
}

describe('leanObserve', () => {
  it('watches the Deployment, lists its ReplicaSets once, then watches only the new one pods', async () => {
    const { f, m, seen, stop, done, handedOver } = watchLean([replicaSet('web-old', '1'), replicaSet('web-abc', '2')]);
    f.push('deployments', [deployment({})]);
    await tick();
    expect(seen).toEqual([]); // nothing before the pods are listed
    f.push('pods', [pod('web-abc-1')]);
    expect(seen).toHaveLength(1);
    expect([...(seen[0]?.pods.keys() ?? [])]).toEqual(['web-abc-1']);
    expect([...m.state.replicaSets.keys()]).toEqual(['web-abc']);
    f.push('deployments', [deployment({})]);
    expect(seen).toHaveLength(2);
    stop.abort();
    await done;
    expect(handedOver()).toBe(0);
    expect(f.runs.map((r) => `${r.plan.resource} ${JSON.stringify(r.plan.query)}`)).toEqual([
      'deployments {"fieldSelector":"metadata.name=web"}',
      'pods {"labelSelector":"app=web,pod-template-hash=abc"}',
    ]);
    expect(f.reads.map((p) => `${p.resource} ${JSON.stringify(p.query)}`)).toEqual([
      'replicasets {"labelSelector":"app=web"}',
    ]);
  });

  it.each([
    ['no ReplicaSet listed is of the current revision', [replicaSet('web-abc', '1')], {}],
    ['the one of the current revision is owned by another Deployment', [replicaSet('web-abc', '2', 'other-uid')], {}],
    ['no ReplicaSet is listed', [], {}],
    ['the Deployment shows ReplicaFailure', [replicaSet('web-abc', '2')], { replicaFailure: true }],
  ])('hands over to the full watch when %s', async (_why, sets, o) => {
    const { f, seen, done, handedOver } = watchLean(sets);
    f.push('deployments', [deployment(o)]);
    await done;
    expect(handedOver()).toBe(1);
    expect(seen).toEqual([]);
  });

  it('hands over when the revision changes during the wait', async () => {
    const { f, done, handedOver } = watchLean([replicaSet('web-abc', '2')]);
    f.push('deployments', [deployment({})]);
    await tick();
    f.push('pods', []);
    f.push('deployments', [deployment({ revision: '3' })]);
    await done;
    expect(handedOver()).toBe(1);
  });

  it('hands over when the controller does not observe the patch in time, without listing anything', async () => {
    const started = Date.now();
    const { f, done, handedOver } = watchLean([], 50);
    await done;
    expect(handedOver()).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(f.reads).toEqual([]);
  });
});
