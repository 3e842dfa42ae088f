import { describe, expect, it } from 'vitest';
import { applyAll, restoreObjects } from '../../src/deploy/apply.js';
import { KubeError, type Applied, type ApplyOptions, type KubeObject, type ObjectRef } from '../../src/cluster/kube.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const KEY = 'ConfigMap ns/settings';

const configMap = (data: Record<string, string>): KubeObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'ns' }, data }) as KubeObject;

/** A cluster where something happens to the ConfigMap just before the restore's apply (one with a resourceVersion) or delete. */
class RestoreRaceKube extends FakeKube {
  beforeRestore: (() => void) | undefined;

  override async applyObject(object: KubeObject, options: ApplyOptions): Promise<Applied> {
    if (object.metadata.resourceVersion !== undefined && this.beforeRestore) {
      const happen = this.beforeRestore;
      this.beforeRestore = undefined;
      happen();
    }
    return super.applyObject(object, options);
  }

  override async deleteObject(ref: ObjectRef, uid: string): Promise<void> {
    const happen = this.beforeRestore;
    this.beforeRestore = undefined;
    happen?.();
    return super.deleteObject(ref, uid);
  }

  /** Someone else's write (another field manager): `data.b` set, the resourceVersion moved. */
  teammateSets(b: string): void {
    this.editObject(KEY, (o) => {
      (o as { data?: Record<string, string> }).data = { ...(o as { data?: Record<string, string> }).data, b };
    });
  }
}

/** A ConfigMap {a: 1, b: 1} that the deploy applied as {a: 2, b: 2}, and its record. */
async function deployed(kube: RestoreRaceKube) {
  await kube.applyObject(configMap({ a: '1', b: '1' }), { dryRun: false, force: false });
  const manifests = [{ file: 'k8s/settings.yaml', document: 1, object: configMap({ a: '2', b: '2' }) }];
  const applied = await applyAll(kube, manifests, { force: false, retryMs: 1000 }, recordingLog());
  expect(applied.reports.map((r) => r.outcome)).toEqual(['configured']);
  return applied.records;
}

describe('restoreObjects', () => {
  it('re-reads and decides again after a 409: a field changed meanwhile keeps its new value', async () => {
    const kube = new RestoreRaceKube();
    const records = await deployed(kube);
    kube.beforeRestore = () => kube.teammateSets('3');
    const log = recordingLog();
    const undone = await restoreObjects(kube, records, log, 1000);
    expect(log.lines).toContain(`${KEY} changed while being restored (409 Conflict); reading it again`);
    expect(undone.errors).toEqual([]);
    expect(undone.reports.get(KEY)).toMatchObject({
      outcome: 'restored',
      note: "kept someone else's later change to data.b",
    });
    expect((kube.objects.get(KEY) as { data?: unknown }).data).toEqual({ a: '1', b: '3' });
  });

  it('rides out an error that can pass on the restore, as the read and the delete do', async () => {
    const kube = new RestoreRaceKube();
    const records = await deployed(kube);
    kube.beforeRestore = () => {
      throw new KubeError(503, 'apply ConfigMap ns/settings: service unavailable', '', 0);
    };
    const log = recordingLog();
    const undone = await restoreObjects(kube, records, log, 1000);
    expect(log.lines).toContain(`${KEY}: apply ConfigMap ns/settings: service unavailable; trying again`);
    expect(undone.errors).toEqual([]);
    expect(undone.reports.get(KEY)).toMatchObject({ outcome: 'restored' });
    expect((kube.objects.get(KEY) as { data?: unknown }).data).toEqual({ a: '1', b: '1' });
  });

  it('a created object already gone when the rollback deletes it (404) is deleted, not an error', async () => {
    const kube = new RestoreRaceKube();
    const manifests = [{ file: 'k8s/settings.yaml', document: 1, object: configMap({ a: '2' }) }];
    const { records } = await applyAll(kube, manifests, { force: false, retryMs: 1000 }, recordingLog());
    kube.beforeRestore = () => kube.objects.delete(KEY);
    const undone = await restoreObjects(kube, records, recordingLog(), 1000);
    expect(undone.errors).toEqual([]);
    expect(undone.reports.get(KEY)).toMatchObject({ outcome: 'deleted' });
  });

  it('keeps a scale and a label someone else made after the deploy; sets back only the image', async () => {
    const kube = new FakeKube();
    const key = 'Deployment ns/web';
    const web = (image: string): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'ns', labels: { app: 'web' } },
      spec: { replicas: 3, template: { spec: { containers: [{ name: 'web', image }] } } },
    });
    await kube.applyObject(web('web:1'), { dryRun: false, force: false });
    const manifests = [{ file: 'k8s/web.yaml', document: 1, object: web('web:2') }];
    const { records } = await applyAll(kube, manifests, { force: false, retryMs: 1000 }, recordingLog());
    kube.editObject(key, (o) => {
      (o.spec as { replicas: number }).replicas = 10;
      o.metadata.labels = { ...o.metadata.labels, team: 'pay' };
    });
    const undone = await restoreObjects(kube, records, recordingLog(), 1000);
    expect(undone.errors).toEqual([]);
    expect(undone.reports.get(key)).toMatchObject({ outcome: 'restored' });
    const live = kube.objects.get(key) as KubeObject & { spec: unknown };
    expect(live.spec).toEqual({ replicas: 10, template: { spec: { containers: [{ name: 'web', image: 'web:1' }] } } });
    expect(live.metadata.labels).toEqual({ app: 'web', team: 'pay' });
  });

  it('deletes a ConfigMap the deploy created but leaves the Namespace it created, and reports it', async () => {
    const kube = new FakeKube();
    const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } };
    const manifests = [
      { file: 'k8s/ns.yaml', document: 1, object: namespace },
      { file: 'k8s/settings.yaml', document: 1, object: configMap({ a: '1' }) },
    ];
    const { records } = await applyAll(kube, manifests, { force: false, retryMs: 1000 }, recordingLog());
    const log = recordingLog();
    const undone = await restoreObjects(kube, records, log, 1000);
    expect(undone.errors).toEqual([]);
    expect(kube.deleted).toEqual([KEY]);
    expect(kube.objects.has('Namespace ns')).toBe(true);
    expect(undone.reports.get('Namespace ns')).toMatchObject({
      outcome: 'not-restored',
      note: expect.stringMatching(/^created by this deploy and left in place: deleting it would delete everything/),
    });
    expect(log.lines).toContain(`${KEY}: deleted (this deploy created it)`);
  });
});
