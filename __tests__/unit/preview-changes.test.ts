import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/cluster/kube.js';
import { changesOf } from '../../src/preview/preview.js';

const deployment = (image: string, extra: Record<string, unknown>[] = [], replicas = 3): KubeObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: {
      replicas,
      template: {
        spec: {
          containers: [
            { name: 'web', image, env: [{ name: 'MODE', value: 'normal' }] },
            { name: 'proxy', image: 'envoy:1' },
            ...extra,
          ],
        },
      },
    },
  }) as unknown as KubeObject;

describe('the changed fields a preview shows', () => {
  it('names the one container whose image changes, not the whole list of containers', () => {
    expect(changesOf(deployment('web:v1'), deployment('web:v2', [], 2))).toEqual([
      { field: 'spec.replicas', before: '3', after: '2' },
      { field: 'spec.template.spec.containers[web].image', before: 'web:v1', after: 'web:v2' },
    ]);
  });

  it('shows a container added as a whole, with (none) before it', () => {
    const changes = changesOf(deployment('web:v1'), deployment('web:v1', [{ name: 'sidecar', image: 'log:1' }]));
    expect(changes).toEqual([
      {
        field: 'spec.template.spec.containers[sidecar]',
        before: '(none)',
        after: '{"name":"sidecar","image":"log:1"}',
      },
    ]);
  });

  it('never shows the values of a Secret', () => {
    const secret = (value: string): KubeObject =>
      ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's' },
        data: { PASSWORD: value },
      }) as unknown as KubeObject;
    expect(changesOf(secret('b2xk'), secret('bmV3'))).toEqual([
      { field: 'data.PASSWORD', before: '(secret value, not shown)', after: '(secret value, not shown)' },
    ]);
  });

  it('clips a long value to 200 characters, the last one …', () => {
    const configMap = (value: string): KubeObject =>
      ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { BIG: value } }) as unknown as KubeObject;
    expect(changesOf(configMap('a'.repeat(200)), configMap('b'.repeat(201)))).toEqual([
      { field: 'data.BIG', before: 'a'.repeat(200), after: `${'b'.repeat(199)}…` },
    ]);
  });
});
