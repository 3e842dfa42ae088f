import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/cluster/kube.js';
import { applyAll } from '../../src/deploy/apply.js';
import type { ObjectRecord } from '../../src/deploy/object-record.js';
import {
  loadObjectRecords,
  loadRecords,
  loadRouteRecords,
  objectRecordsFile,
  postRecords,
  saveRecords,
  writeObjectRecords,
} from '../../src/deploy/records-file.js';
import type { TargetRecord } from '../../src/deploy/target-record.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const temps: string[] = [];
const runnerTemp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'runner-temp-'));
  temps.push(dir);
  return { RUNNER_TEMP: dir };
};
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const privateToUser = (file: string) => statSync(file).mode & 0o777;

const targetRecord = (over: Partial<TargetRecord> = {}): TargetRecord =>
  ({
    key: 'ns/web',
    kind: 'deployment',
    namespace: 'ns',
    name: 'web',
    uid: 'uid-web',
    template: { spec: { containers: [] } },
    containers: [],
    ...over,
  }) as unknown as TargetRecord;

const configMap = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns' },
  data,
});
const secret = (name: string, data: Record<string, string>, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'ns', ...(annotations ? { annotations } : {}) },
  data,
});

/** Applies the objects to a fake cluster and returns the records the apply made. */
async function applied(kube: FakeKube, objects: KubeObject[]): Promise<ObjectRecord[]> {
  const result = await applyAll(
    kube,
    objects.map((object, i) => ({ file: 'k8s/app.yaml', document: i + 1, object })),
    { force: false, retryMs: 1000 },
    recordingLog(),
  );
  return result.records;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('records files', () => {
  it("keeps the targets' records under RUNNER_TEMP, each deploy in a new directory, readable by the user only", () => {
    const env = runnerTemp();
    const records = [targetRecord()];
    const file = saveRecords(records, env);
    expect(dirname(dirname(file))).toBe(env.RUNNER_TEMP);
    expect(saveRecords(records, env)).not.toBe(file);
    expect(privateToUser(file)).toBe(0o600);
    expect(loadRecords(file)).toEqual(records);
  });

  it("keeps the objects' records the same way, written again as they grow", async () => {
    const env = runnerTemp();
    const file = objectRecordsFile(env);
    expect(dirname(dirname(file))).toBe(env.RUNNER_TEMP);
    const records = await applied(new FakeKube(), [configMap('a', { A: '1' }), configMap('b', { B: '2' })]);
    writeObjectRecords(file, records.slice(0, 1));
    writeObjectRecords(file, records);
    expect(privateToUser(file)).toBe(0o600);
    expect(loadObjectRecords(file)).toEqual(records);
  });

  it("keeps a Secret's values only where the post step sets them back: a Secret this deploy changed", async () => {
    const kube = new FakeKube();
    const lastApplied = JSON.stringify({ data: { PASSWORD: b64('hunter2-old') } });
    kube.objects.set('Secret ns/changed', {
      ...secret('changed', { PASSWORD: b64('hunter2-old'), THEIRS: b64('theirs-value') }),
      metadata: {
        name: 'changed',
        namespace: 'ns',
        uid: 'uid-changed',
        resourceVersion: '3',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied },
      },
    });
    kube.objects.set('Secret ns/same', {
      ...secret('same', { TOKEN: b64('same-token') }),
      metadata: { name: 'same', namespace: 'ns', uid: 'uid-same', resourceVersion: '4' },
    });
    const records = await applied(kube, [
      secret('changed', { PASSWORD: b64('hunter2-new') }),
      secret('same', { TOKEN: b64('same-token') }),
      secret('created', { KEY: b64('created-key') }),
      configMap('settings', { MODE: 'visible' }),
    ]);
    const file = objectRecordsFile(runnerTemp());
    writeObjectRecords(file, records);
    const text = readFileSync(file, 'utf8');

    // Needed to set the changed Secret back: the configuration applied again and the old value of the changed key.
    expect(text).toContain(b64('hunter2-new'));
    expect(text).toContain(b64('hunter2-old'));
    // Not needed: another manager's key, the last-applied copy, an unchanged Secret, a created one (deleted by uid).
    for (const value of [b64('theirs-value'), b64('same-token'), b64('created-key')]) {
      expect(text).not.toContain(value);
    }
    expect(text).not.toContain(JSON.stringify(lastApplied).slice(1, -1));
    expect(text).toContain('sha256:');
    // A ConfigMap is kept as it is.
    expect(text).toContain('"MODE":"visible"');

    // Read back, the hashed copies still tell the same changed fields.
    const [changed] = loadObjectRecords(file);
    expect(changed?.before?.data).toEqual({
      PASSWORD: b64('hunter2-old'),
      THEIRS: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    const theirs = (object: KubeObject | undefined) => (object?.data as Record<string, string> | undefined)?.THEIRS;
    expect(theirs(changed?.after)).toBe(theirs(changed?.before));
  });

  it('are removed with their directory once nothing is left for the post step', async () => {
    const env = runnerTemp();
    const saved: Record<string, string> = {};
    const records = postRecords(env, (fact, path) => (saved[fact] = path));
    records.saveTargets([targetRecord()]);
    records.saveObjects(await applied(new FakeKube(), [configMap('a', { A: '1' })]));
    expect(existsSync(saved.recordsFile!) && existsSync(saved.objectsFile!)).toBe(true);
    records.remove();
    expect([saved.recordsFile, saved.objectsFile].map((f) => existsSync(dirname(f!)))).toEqual([false, false]);
  });
});

describe('the post step reads only records that name their object', () => {
  const targetsFile = (records: unknown[]) => {
    const file = join(runnerTemp().RUNNER_TEMP, 'records.json');
    writeFileSync(file, JSON.stringify(records));
    return file;
  };

  it.each([
    ['an empty uid', { uid: '' }, 'record 1 (ns/web) has no uid'],
    ['no uid', { uid: undefined }, 'record 1 (ns/web) has no uid'],
    ['a key for another workload', { key: 'ns/api' }, 'record 1 (ns/api) names ns/web'],
    ['a kind that is not a workload', { kind: 'constructor' }, 'record 1 (ns/web) has no workload kind'],
    ['no namespace', { namespace: '' }, 'record 1 (ns/web) has no namespace or name'],
    ['no template', { template: undefined }, 'record 1 (ns/web) has no template'],
  ])('refuses a target record with %s', (_, over, message) => {
    const file = targetsFile([targetRecord(over as Partial<TargetRecord>)]);
    expect(() => loadRecords(file)).toThrow(`the records file ${file} holds a record that does not match`);
    expect(() => loadRecords(file)).toThrow(message);
  });

  it.each<[string, (r: ObjectRecord) => void, string]>([
    ['an after without uid', (r) => (r.after.metadata.uid = ''), 'has no uid'],
    ['a before of another uid', (r) => (r.before!.metadata.uid = 'uid-other'), 'holds two objects with different uids'],
    [
      'an applied object in another namespace',
      (r) => (r.applied.metadata.namespace = 'kube-system'),
      'holds another object than ConfigMap ns/settings',
    ],
    ['an applied object of another kind', (r) => (r.applied.kind = 'Secret'), 'holds another object'],
    ['a key for another object', (r) => (r.key = 'ConfigMap ns/other'), 'names ConfigMap ns/settings'],
    ['a ref without name', (r) => (r.ref.name = ''), 'names no object'],
    [
      'no word on whether the deploy created it',
      (r) => delete (r as Partial<ObjectRecord>).created,
      'does not say whether the deploy created it',
    ],
  ])('refuses an object record with %s', async (_, spoil, message) => {
    const kube = new FakeKube();
    kube.objects.set('ConfigMap ns/settings', {
      ...configMap('settings', { MODE: 'safe' }),
      metadata: { name: 'settings', namespace: 'ns', uid: 'uid-settings', resourceVersion: '3' },
    });
    const [record] = await applied(kube, [configMap('settings', { MODE: 'broken' })]);
    const file = objectRecordsFile(runnerTemp());
    writeObjectRecords(file, [record!]);
    expect(loadObjectRecords(file)).toHaveLength(1);
    spoil(record!);
    writeObjectRecords(file, [record!]);
    expect(() => loadObjectRecords(file)).toThrow(message);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a key for another route', { key: 'HTTPRoute ns/api' }, 'record 1 (HTTPRoute ns/api) names HTTPRoute ns/web'],
    ['no uid', { uid: '' }, 'has no namespace, name or uid'],
    ['no rules to put back', { before: undefined }, 'holds no rules to put back'],
    ['written rules that are no list', { written: {} }, 'holds no rules to put back'],
  ])("refuses a route's record with %s", (_, over, message) => {
    const route = { key: 'HTTPRoute ns/web', namespace: 'ns', name: 'web', uid: 'uid-route', before: [], written: [] };
    let file = '';
    postRecords(runnerTemp(), (_fact, path) => (file = path)).saveRoute(route);
    expect(loadRouteRecords(file)).toEqual([route]);
    writeFileSync(file, JSON.stringify([{ ...route, ...over }]));
    expect(() => loadRouteRecords(file)).toThrow(message);
  });
});
