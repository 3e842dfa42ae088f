import { describe, expect, it, test } from 'vitest';
import type { KubeObject } from '../../src/cluster/kube.js';
import {
  appliedOutcome,
  at,
  changedFields,
  differences,
  planObjectRestore,
  type ObjectRecord,
} from '../../src/deploy/object-record.js';

const config = (data: Record<string, string>, rv: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: rv, labels, managedFields: [] },
  data,
});

const record = (before: KubeObject | undefined, after: KubeObject): ObjectRecord => ({
  key: 'ConfigMap shop/web',
  source: 'k8s/config.yaml document 1',
  ref: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'web' },
  created: before === undefined,
  before,
  applied: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'web', namespace: 'shop', labels: after.metadata.labels ?? {} },
    data: after.data,
  },
  after,
});

describe('appliedOutcome', () => {
  it('tells created, configured and unchanged apart', () => {
    expect(appliedOutcome(true, undefined, config({}, '2'))).toBe('created');
    expect(appliedOutcome(false, config({}, '2'), config({ a: '1' }, '3'))).toBe('configured');
    expect(appliedOutcome(false, config({}, '2'), config({}, '2'))).toBe('unchanged');
    // Made by someone else between the read and the apply: not created by this deploy.
    expect(appliedOutcome(false, undefined, config({}, '2'))).toBe('configured');
  });
});

describe('changedFields', () => {
  it('lists the leaves the apply changed, not the server bookkeeping', () => {
    const before = config({ MODE: 'safe', KEEP: 'x' }, '2', { app: 'web' });
    const after = { ...config({ MODE: 'broken', KEEP: 'x', NEW: 'y' }, '3', { app: 'web', tier: 'front' }) };
    after.metadata.generation = 5;
    expect(changedFields(before, after)).toEqual([
      ['data', 'MODE'],
      ['data', 'NEW'],
      ['metadata', 'labels', 'tier'],
    ]);
  });
});

describe('differences, with and without named lists', () => {
  const web = (image: string, env: unknown[] = []) => ({ name: 'web', image, env });
  const proxy = { name: 'proxy', image: 'envoy:1' };
  // Each row: a, b, the paths (dotted) plain, the paths with named lists compared item by item.
  test.each([
    ['equal values', { a: [web('v1')] }, { a: [web('v1')] }, [], []],
    ['maps key by key, keys sorted', { c: 1, b: 1 }, { b: 2, a: 3, c: 2 }, ['a', 'b', 'c'], ['a', 'b', 'c']],
    ['a named item changed', [web('v1'), proxy], [web('v2'), proxy], [''], ['[web].image']],
    ['a named item added', [web('v1')], [web('v1'), proxy], [''], ['[proxy]']],
    ['a named item removed', [web('v1'), proxy], [proxy], [''], ['[web]']],
    ['named items reordered only', [web('v1'), proxy], [proxy, web('v1')], [''], []],
    [
      'names in the order they first appear, a then b',
      [web('v1')],
      [proxy, web('v2')],
      [''],
      ['[web].image', '[proxy]'],
    ],
    [
      'a named list inside a named item',
      [web('v1', [{ name: 'MODE', value: 'a' }])],
      [web('v1', [{ name: 'MODE', value: 'b' }])],
      [''],
      ['[web].env.[MODE].value'],
    ],
    ['an empty list is not a named list', [], [proxy], [''], ['']],
    ['a list of strings', ['a'], ['b'], [''], ['']],
    ['a list with an item without a name', [proxy, { port: 80 }], [proxy, { port: 81 }], [''], ['']],
    ['a list against a map', [proxy], { name: 'proxy' }, [''], ['']],
  ])('%s', (_name, a, b, plain, named) => {
    const fields = (namedLists: boolean) => differences(a, b, { namedLists }).map((d) => d.path.join('.'));
    expect(fields(false)).toEqual(plain);
    expect(fields(true)).toEqual(named);
  });

  it('gives both values of each difference, under the path it is given', () => {
    expect(differences([web('v1')], [web('v2'), proxy], { namedLists: true, path: ['spec', 'containers'] })).toEqual([
      { path: ['spec', 'containers', '[web]', 'image'], before: 'v1', after: 'v2' },
      { path: ['spec', 'containers', '[proxy]'], before: undefined, after: proxy },
    ]);
    expect(differences({ x: [web('v1')] }, { x: [web('v2')] }, { path: ['spec'] })).toEqual([
      { path: ['spec', 'x'], before: [web('v1')], after: [web('v2')] },
    ]);
  });
});

describe('planObjectRestore', () => {
  const before = config({ MODE: 'safe' }, '2');
  const after = config({ MODE: 'broken', NEW: 'y' }, '3');

  it('sets back every changed field and drops the added one, guarded by the live resourceVersion', () => {
    const plan = planObjectRestore(record(before, after), config({ MODE: 'broken', NEW: 'y' }, '7'));
    expect(plan).toMatchObject({ kind: 'apply', restored: ['data.MODE', 'data.NEW'], kept: [] });
    if (plan.kind !== 'apply') throw new Error(plan.kind);
    expect(plan.object.data).toEqual({ MODE: 'safe' });
    expect(plan.object.metadata.resourceVersion).toBe('7');
  });

  it('keeps a field someone else changed after the deploy, and says so', () => {
    const plan = planObjectRestore(record(before, after), config({ MODE: 'theirs', NEW: 'y' }, '8'));
    expect(plan).toMatchObject({ kind: 'apply', restored: ['data.NEW'], kept: ['data.MODE'] });
    if (plan.kind !== 'apply') throw new Error(plan.kind);
    expect(plan.object.data).toEqual({});
  });

  it('leaves an object whose every change someone else has since replaced', () => {
    const plan = planObjectRestore(record(before, after), config({ MODE: 'theirs', NEW: 'z' }, '8'));
    expect(plan).toEqual({
      kind: 'leave',
      note: 'changed since the deploy by someone else (data.MODE, data.NEW); left as it is',
    });
  });

  it('does nothing to an object already as it was', () => {
    expect(planObjectRestore(record(before, after), config({ MODE: 'safe' }, '9')).kind).toBe('nothing');
  });

  it('deletes what the deploy created, only that very object', () => {
    expect(planObjectRestore(record(undefined, after), after)).toEqual({ kind: 'delete', uid: 'u1' });
    const replaced = { ...after, metadata: { ...after.metadata, uid: 'u2' } };
    expect(planObjectRestore(record(undefined, after), replaced).kind).toBe('leave');
    expect(planObjectRestore(record(undefined, after), undefined)).toEqual({ kind: 'nothing', note: 'already gone' });
  });

  it('does not make again an object someone deleted after the deploy', () => {
    expect(planObjectRestore(record(before, after), undefined).kind).toBe('leave');
  });
});

describe('planObjectRestore, field by field', () => {
  const deployment = (image: string, note: string, rv: string): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      uid: 'u1',
      resourceVersion: rv,
      labels: { app: 'web' },
      annotations: { note },
    },
    spec: { replicas: 3, template: { spec: { containers: [{ name: 'web', image }] } } },
  });
  const before = deployment('web:old', 'old', '2');
  const after = deployment('web:new', 'new', '3');
  const applied = deployment('web:new', 'new', '');
  delete applied.metadata.uid;
  delete applied.metadata.resourceVersion;
  const deployRecord: ObjectRecord = {
    key: 'Deployment shop/web',
    source: 'k8s/web.yaml document 1',
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    created: false,
    before,
    applied,
    after,
  };
  const live = (change: (o: KubeObject & { spec: { replicas: number } }) => void): KubeObject => {
    const object = deployment('web:new', 'new', '9') as KubeObject & { spec: { replicas: number } };
    change(object);
    return object;
  };

  it.each([
    {
      case: 'changed by us, untouched since: set back',
      live: live(() => undefined),
      path: ['metadata', 'annotations', 'note'],
      sent: 'old',
      kept: [],
    },
    {
      case: 'changed by us, changed again by someone: kept, and named',
      live: live((o) => (o.metadata.annotations = { note: 'theirs' })),
      path: ['metadata', 'annotations', 'note'],
      sent: undefined,
      kept: ['metadata.annotations.note'],
    },
    {
      case: 'changed by us, set back by someone: left out',
      live: live((o) => (o.metadata.annotations = { note: 'old' })),
      path: ['metadata', 'annotations', 'note'],
      sent: undefined,
      kept: [],
    },
    {
      case: 'not changed by us, untouched since: sent as it is (left out, the apply would remove it)',
      live: live(() => undefined),
      path: ['spec', 'replicas'],
      sent: 3,
      kept: [],
    },
    {
      case: 'not changed by us, scaled since by someone: never sent',
      live: live((o) => (o.spec.replicas = 10)),
      path: ['spec', 'replicas'],
      sent: undefined,
      kept: [],
    },
    {
      case: 'not in the manifest, a label someone added: never sent',
      live: live((o) => (o.metadata.labels = { app: 'web', team: 'pay' })),
      path: ['metadata', 'labels', 'team'],
      sent: undefined,
      kept: [],
    },
  ])('$case', ({ live: now, path, sent, kept }) => {
    const plan = planObjectRestore(deployRecord, now);
    if (plan.kind !== 'apply') throw new Error(plan.kind);
    expect(at(plan.object, path)).toEqual(sent);
    expect(plan.kept).toEqual(kept);
    expect(plan.restored).toContain('spec.template.spec.containers');
    expect(at(plan.object, ['spec', 'template', 'spec', 'containers'])).toEqual([{ name: 'web', image: 'web:old' }]);
    expect(plan.object.metadata.resourceVersion).toBe('9');
  });
});

describe('planObjectRestore of what holds other objects', () => {
  const created = (apiVersion: string, kind: string): ObjectRecord => {
    const object: KubeObject = { apiVersion, kind, metadata: { name: 'shop', uid: 'u1', resourceVersion: '3' } };
    const ref = { apiVersion, kind, name: 'shop' };
    return {
      key: `${kind} shop`,
      source: 'k8s/a.yaml document 1',
      ref,
      created: true,
      before: undefined,
      applied: object,
      after: object,
    };
  };

  it.each([
    ['v1', 'Namespace', 'everything in the namespace'],
    ['apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'every object of its kind'],
  ])('never deletes a %s %s the deploy created: left in place, and why', (apiVersion, kind, holds) => {
    const record = created(apiVersion, kind);
    expect(planObjectRestore(record, record.after)).toEqual({
      kind: 'leave',
      note:
        `created by this deploy and left in place: deleting it would delete ${holds}, ` +
        'including what others made there since; delete it by hand if nothing needs it',
    });
  });

  it.each([
    ['v1', 'ConfigMap'],
    ['example.com/v1', 'Namespace'],
    ['v1', 'CustomResourceDefinition'],
  ])('still deletes a created %s %s', (apiVersion, kind) => {
    const record = created(apiVersion, kind);
    expect(planObjectRestore(record, record.after)).toEqual({ kind: 'delete', uid: 'u1' });
  });
});
