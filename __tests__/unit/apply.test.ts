import { describe, expect, it } from 'vitest';
import { KubeError, type KubeObject } from '../../src/cluster/kube.js';
import { applyAll, applyProblem, restoreObjects } from '../../src/deploy/apply.js';
import type { ManifestObject } from '../../src/desired/manifests.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const configMap = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'shop' },
  data,
});

const manifest = (object: KubeObject, document = 1): ManifestObject => ({ file: 'k8s/app.yaml', document, object });

/** A cluster where ConfigMap shop/web exists, written by another field manager, and the records of applying `data`. */
async function appliedOver(data: Record<string, string>) {
  const kube = new FakeKube();
  kube.objects.set('ConfigMap shop/web', {
    ...configMap('web', { MODE: 'safe', LEVEL: 'info' }),
    metadata: { name: 'web', namespace: 'shop', uid: 'uid-web', resourceVersion: '10', generation: 1 },
  });
  const applied = await applyAll(
    kube,
    [manifest(configMap('web', data))],
    { force: false, retryMs: 1000 },
    recordingLog(),
  );
  return { kube, applied };
}

describe('applyAll', () => {
  it('applies each object for real and records what it was before, created or configured', async () => {
    const { kube, applied } = await appliedOver({ MODE: 'broken', LEVEL: 'info' });
    expect(applied.error).toBeUndefined();
    expect(applied.reports).toEqual([
      {
        key: 'ConfigMap shop/web',
        source: 'k8s/app.yaml document 1',
        outcome: 'configured',
        resourceVersionBefore: '10',
      },
    ]);
    expect(applied.records[0]?.before?.data).toEqual({ MODE: 'safe', LEVEL: 'info' });
    expect(kube.applies.map((a) => a.options)).toEqual([{ dryRun: false, force: false }]);
    expect(kube.objects.get('ConfigMap shop/web')?.data).toEqual({ MODE: 'broken', LEVEL: 'info' });
  });
});

describe("applyAll: created is the apply's own answer, not the read before it", () => {
  const theirs = (): KubeObject => ({
    ...configMap('web', { MODE: 'theirs' }),
    metadata: { name: 'web', namespace: 'shop', uid: 'uid-theirs', resourceVersion: '20', generation: 1 },
  });

  it('an object someone else made between the read and the apply is configured, and the rollback leaves it', async () => {
    const kube = new FakeKube();
    kube.beforeObjectWrite = (key, verb) => {
      if (verb === 'apply' && !kube.objects.has(key)) kube.objects.set(key, theirs());
    };
    const applied = await applyAll(
      kube,
      [manifest(configMap('web', { MODE: 'ours' }))],
      { force: false, retryMs: 1000 },
      recordingLog(),
    );
    expect(applied.reports.map((r) => r.outcome)).toEqual(['configured']);
    const undone = await restoreObjects(kube, applied.records, recordingLog(), 1000);
    expect(kube.deleted).toEqual([]);
    expect(undone.reports.get('ConfigMap shop/web')).toMatchObject({
      outcome: 'not-restored',
      note: 'made by someone else just before this deploy applied it, so what it was before is not known; left as it is',
    });
  });

  it('an object someone else deleted between the read and the apply is created by it, and the rollback deletes it', async () => {
    const kube = new FakeKube();
    kube.objects.set('ConfigMap shop/web', theirs());
    kube.beforeObjectWrite = (key, verb) => {
      if (verb === 'apply') kube.objects.delete(key);
    };
    const applied = await applyAll(
      kube,
      [manifest(configMap('web', { MODE: 'ours' }))],
      { force: false, retryMs: 1000 },
      recordingLog(),
    );
    expect(applied.reports.map((r) => r.outcome)).toEqual(['created']);
    kube.beforeObjectWrite = undefined;
    const undone = await restoreObjects(kube, applied.records, recordingLog(), 1000);
    expect(undone.reports.get('ConfigMap shop/web')).toMatchObject({ outcome: 'deleted' });
    expect(kube.objects.has('ConfigMap shop/web')).toBe(false);
  });
});

describe('applyProblem', () => {
  const quoting = new KubeError(
    400,
    'apply Secret shop/db: .stringData.api-key: expected string, got &value.valueUnstructured{Value:8837465529910342}',
    'BadRequest',
    undefined,
    ['.stringData.api-key'],
  );

  it("says where a Secret was refused, never the server's text that can quote its values", () => {
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'shop' } };
    const problem = applyProblem(manifest(secret, 2), quoting);
    expect(problem).toBe(
      "k8s/app.yaml document 2 (Secret shop/db): the API server refused it (HTTP 400 BadRequest) at .stringData.api-key; its message is not shown, as it can quote the Secret's values",
    );
  });

  it("keeps the server's text for any other kind", () => {
    expect(applyProblem(manifest(configMap('web', {})), quoting)).toContain('8837465529910342');
  });
});

describe('restoreObjects', () => {
  it('sets back a changed ConfigMap for real, keeping a field another manager changed since, and says so', async () => {
    const { kube, applied } = await appliedOver({ MODE: 'broken', LEVEL: 'debug', NEW: 'y' });
    kube.editObject('ConfigMap shop/web', (o) => ((o.data as Record<string, string>).LEVEL = 'warn'));
    const log = recordingLog();
    const restored = await restoreObjects(kube, applied.records, log, 1000);
    expect(restored.errors).toEqual([]);
    expect(restored.reports.get('ConfigMap shop/web')).toEqual({
      key: 'ConfigMap shop/web',
      source: 'k8s/app.yaml document 1',
      outcome: 'restored',
      note: "kept someone else's later change to data.LEVEL",
    });
    expect(kube.objects.get('ConfigMap shop/web')?.data).toEqual({ MODE: 'safe', LEVEL: 'warn' });
    expect(kube.applies.at(-1)?.options).toEqual({ dryRun: false, force: true });
    expect(log.lines).toContain(
      "ConfigMap shop/web: restored data.MODE, data.NEW; kept someone else's later change to data.LEVEL",
    );
  });

  it("says where a Secret's restore was refused, never the server's text that can quote the recorded values", async () => {
    const kube = new FakeKube();
    const secret = (password: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: 'shop' },
      data: { password },
    });
    kube.objects.set('Secret shop/db', {
      ...secret('aHVudGVyMjI='),
      metadata: { name: 'db', namespace: 'shop', uid: 'uid-db', resourceVersion: '3', generation: 1 },
    });
    const applied = await applyAll(kube, [manifest(secret('bmV3'))], { force: false, retryMs: 1000 }, recordingLog());
    expect(applied.error).toBeUndefined();
    kube.refuse.set(
      'Secret shop/db',
      new KubeError(422, 'Secret "db" is invalid: data[password]: aHVudGVyMjI= is refused', 'Invalid', undefined, [
        'data[password]',
      ]),
    );
    const restored = await restoreObjects(kube, applied.records, recordingLog(), 1000);
    expect(restored.errors).toEqual([
      {
        key: 'Secret shop/db',
        message:
          "the API server refused it (HTTP 422 Invalid) at data[password]; its message is not shown, as it can quote the Secret's values",
      },
    ]);
    expect(JSON.stringify([...restored.reports.values()])).not.toContain('aHVudGVyMjI=');
  });

  it('deletes an object the deploy created, with its uid as the precondition', async () => {
    const kube = new FakeKube();
    const applied = await applyAll(
      kube,
      [manifest(configMap('new', { A: '1' }))],
      { force: false, retryMs: 1000 },
      recordingLog(),
    );
    expect(applied.reports[0]?.outcome).toBe('created');
    const restored = await restoreObjects(kube, applied.records, recordingLog(), 1000);
    expect(restored.reports.get('ConfigMap shop/new')?.outcome).toBe('deleted');
    expect(kube.deleted).toEqual(['ConfigMap shop/new']);
    expect(kube.objects.has('ConfigMap shop/new')).toBe(false);
  });

  it('leaves an object made again by someone else between the read and the delete (uid precondition, 409)', async () => {
    const kube = new FakeKube();
    const applied = await applyAll(
      kube,
      [manifest(configMap('new', { A: '1' }))],
      { force: false, retryMs: 1000 },
      recordingLog(),
    );
    kube.beforeObjectWrite = (key, verb) => {
      kube.beforeObjectWrite = undefined;
      if (verb === 'delete') kube.objects.get(key)!.metadata.uid = 'uid-theirs';
    };
    const log = recordingLog();
    const restored = await restoreObjects(kube, applied.records, log, 1000);
    expect(restored.errors).toEqual([]);
    expect(restored.reports.get('ConfigMap shop/new')).toMatchObject({
      outcome: 'not-restored',
      note: 'deleted and made again since the deploy by someone else; left as it is',
    });
    expect(kube.objects.get('ConfigMap shop/new')?.metadata.uid).toBe('uid-theirs');
    expect(log.lines).toContain('ConfigMap shop/new changed while being restored (409 Conflict); reading it again');
  });

  it('takes a 404 on deleting a created object as done: it is gone already', async () => {
    const kube = new FakeKube();
    const applied = await applyAll(
      kube,
      [manifest(configMap('new', { A: '1' }))],
      { force: false, retryMs: 1000 },
      recordingLog(),
    );
    kube.beforeObjectWrite = (key) => kube.objects.delete(key);
    const restored = await restoreObjects(kube, applied.records, recordingLog(), 1000);
    expect(restored.errors).toEqual([]);
    expect(restored.reports.get('ConfigMap shop/new')?.outcome).toBe('deleted');
  });

  it('undoes the newest first', async () => {
    const kube = new FakeKube();
    const objects = [manifest(configMap('first', { A: '1' }), 1), manifest(configMap('second', { B: '2' }), 2)];
    const applied = await applyAll(kube, objects, { force: false, retryMs: 1000 }, recordingLog());
    await restoreObjects(kube, applied.records, recordingLog(), 1000);
    expect(kube.deleted).toEqual(['ConfigMap shop/second', 'ConfigMap shop/first']);
  });

  it('on 409 Conflict reads the object again and decides again: a change made in between is kept', async () => {
    const { kube, applied } = await appliedOver({ MODE: 'broken', LEVEL: 'debug' });
    kube.beforeObjectWrite = (key) => {
      kube.beforeObjectWrite = undefined;
      kube.editObject(key, (o) => ((o.data as Record<string, string>).LEVEL = 'warn'));
    };
    const log = recordingLog();
    const restored = await restoreObjects(kube, applied.records, log, 1000);
    expect(restored.errors).toEqual([]);
    expect(log.lines).toContain('ConfigMap shop/web changed while being restored (409 Conflict); reading it again');
    expect(restored.reports.get('ConfigMap shop/web')).toMatchObject({ outcome: 'restored' });
    expect(kube.objects.get('ConfigMap shop/web')?.data).toEqual({ MODE: 'safe', LEVEL: 'warn' });
  });
});
