/**
 * Canary first with `manifests`: which Deployments of the files are held back for the canary (those that exist and
 * whose pod template the apply would change) and which objects are applied before it.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/cluster/kube.js';
import type { ManifestObject } from '../../src/desired/manifests.js';
import { holdForCanary } from '../../src/deploy/canary-manifests.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const deployment = (name: string, image: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'ns' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
  },
});
const manifest = (object: KubeObject, document: number): ManifestObject => ({ file: 'k8s.yaml', document, object });

describe('the Deployments of the manifests held back for the canary', () => {
  it('are those that exist and whose pod template would change; everything else is applied first, in order', async () => {
    const kube = new FakeKube();
    for (const [name, image] of [
      ['changed', 'reg/web:v1'],
      ['same', 'reg/web:v2'],
    ]) {
      const live = deployment(name!, image!);
      kube.objects.set(`Deployment ns/${name}`, { ...live, metadata: { ...live.metadata, uid: `uid-${name}` } });
    }
    const config: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web', namespace: 'ns' } };
    const objects = [
      manifest(config, 1),
      manifest(deployment('changed', 'reg/web:v2'), 2),
      manifest(deployment('same', 'reg/web:v2'), 3),
      manifest(deployment('new', 'reg/web:v2'), 4),
    ];
    const uses = [{ key: 'Deployment ns/changed', source: 'k8s.yaml document 2', containers: ['app'], written: {} }];
    const { first, held } = await holdForCanary(kube, objects, { force: false, uses, retryMs: 0 }, recordingLog());
    expect(first.map((m) => m.document)).toEqual([1, 3, 4]);
    expect(held.map((h) => [h.record.key, h.record.uid, h.replicas, h.record.containers])).toEqual([
      ['ns/changed', 'uid-changed', 2, [{ kind: 'containers', index: 0, name: 'app', image: 'reg/web:v1' }]],
    ]);
    expect((held[0]?.desired.spec?.template.spec?.containers ?? [])[0]?.image).toBe('reg/web:v2');
    // Only dry runs: nothing was applied.
    expect(kube.applies.every((a) => a.options.dryRun)).toBe(true);
    expect(kube.objects.has('Deployment ns/new')).toBe(false);
  });
});
