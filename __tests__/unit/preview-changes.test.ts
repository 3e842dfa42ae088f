import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/cluster/kube.js';
import { changesOf } from '../../src/preview/preview.js';
import type { ValueView } from '../../src/preview/plan-values.js';

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

  it('shows a list of containers whose order alone changes as a whole', () => {
    const reordered = deployment('web:v1');
    const spec = reordered.spec as { template: { spec: { containers: unknown[] } } };
    spec.template.spec.containers.reverse();
    expect(changesOf(deployment('web:v1'), reordered).map((c) => [c.field, c.before.slice(0, 18)])).toEqual([
      ['spec.template.spec.containers', '[{"name":"web","im'],
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

describe('what a preview never publishes', () => {
  const shown: ValueView = { values: 'shown', salt: 'fixed' };
  const object = (kind: string, annotations: Record<string, string>, rest: Record<string, unknown> = {}): KubeObject =>
    ({ apiVersion: 'v1', kind, metadata: { name: 'o', annotations }, ...rest }) as unknown as KubeObject;
  const LAST = 'kubectl.kubernetes.io/last-applied-configuration';

  it("shows a Secret's field names only, whatever the path", () => {
    const before = object('Secret', { [LAST]: '{"data":{"PASSWORD":"b2xk"}}', team: 'a' }, { type: 'Opaque' });
    const after = object(
      'Secret',
      { [LAST]: '{"data":{"PASSWORD":"bmV3"}}', team: 'b' },
      { type: 'kubernetes.io/tls' },
    );
    const changes = changesOf(before, after, shown);
    expect(changes.map((c) => c.field)).toEqual([`metadata.annotations.${LAST}`, 'metadata.annotations.team', 'type']);
    for (const c of changes)
      expect([c.before, c.after]).toEqual(['(secret value, not shown)', '(secret value, not shown)']);
  });

  it('shows the last-applied annotation, and any annotation holding a serialized object, as changed, for every kind', () => {
    // The last-applied annotation is opaque by its name, even when its value does not parse (cut short here).
    const before = object('ConfigMap', { [LAST]: '{"data":{"DB":"postgres://u:p@db"}', cfg: '{"a":1}', team: 'a' });
    const after = object('ConfigMap', { [LAST]: '{"data":{"DB":"postgres://u:q@db"}', cfg: '{"a":2}', team: 'b' });
    expect(changesOf(before, after, shown)).toEqual([
      { field: 'metadata.annotations.cfg', before: '(not shown)', after: '(changed, not shown)' },
      { field: `metadata.annotations.${LAST}`, before: '(not shown)', after: '(changed, not shown)' },
      { field: 'metadata.annotations.team', before: 'a', after: 'b' },
    ]);
  });

  it('leaves out an opaque annotation inside a value shown whole (a list of objects)', () => {
    const withItems = (items: unknown[]) =>
      ({ apiVersion: 'acme.io/v1', kind: 'Bundle', metadata: { name: 'o' }, spec: { items } }) as unknown as KubeObject;
    const item = { metadata: { annotations: { [LAST]: '{"data":{"DB":"s3cr3t"}}', team: 'b' } } };
    expect(changesOf(withItems([]), withItems([item]), shown)).toEqual([
      {
        field: 'spec.items',
        before: '[]',
        after: `[{"metadata":{"annotations":{"${LAST}":"(changed, not shown)","team":"b"}}}]`,
      },
    ]);
  });

  it('shows an env value named like a credential as changed with a hash, before and after', () => {
    const env = (value: string) => [
      { name: 'MODE', value: `mode-${value}` },
      { name: 'stripe_api_Key', value: `sk_live_${value}` },
      { name: 'DB_PASS', value: `pw-${value}` },
      { name: 'GITHUB_TOKEN', value: `ghp_${value}` },
    ];
    const changes = changesOf(
      deployment('web:v1', [{ name: 'x', env: env('old') }]),
      deployment('web:v1', [{ name: 'x', env: env('new') }]),
      shown,
    );
    expect(
      changes.map((c) => [c.field, c.before.replace(/[0-9a-f]{8}/, 'H'), c.after.replace(/[0-9a-f]{8}/, 'H')]),
    ).toEqual([
      ['spec.template.spec.containers[x].env[MODE].value', 'mode-old', 'mode-new'],
      ['spec.template.spec.containers[x].env[stripe_api_Key].value', '(not shown, hash H)', '(changed, hash H)'],
      ['spec.template.spec.containers[x].env[DB_PASS].value', '(not shown, hash H)', '(changed, hash H)'],
      ['spec.template.spec.containers[x].env[GITHUB_TOKEN].value', '(not shown, hash H)', '(changed, hash H)'],
    ]);
    const [, key] = changes;
    expect(key?.before).not.toBe(key?.after.replace('changed', 'not shown'));
    expect(JSON.stringify(changes)).not.toMatch(/sk_live|pw-|ghp_/);
  });

  it('hashes a credential inside a container that appears whole', () => {
    const changes = changesOf(
      deployment('web:v1'),
      deployment('web:v1', [{ name: 'x', env: [{ name: 'AUTH_HEADER', value: 'Bearer abc123' }] }]),
      shown,
    );
    expect(changes).toHaveLength(1);
    expect(changes[0]?.after).toMatch(
      /^\{"name":"x","env":\[\{"name":"AUTH_HEADER","value":"\(changed, hash [0-9a-f]{8}\)"\}\]\}$/,
    );
  });

  it('with preview-values: hidden, shows no value at all', () => {
    const changes = changesOf(deployment('web:v1'), deployment('web:v2', [], 2), { values: 'hidden', salt: 'x' });
    expect(changes).toEqual([
      { field: 'spec.replicas', before: '(not shown)', after: '(changed, not shown)' },
      { field: 'spec.template.spec.containers[web].image', before: '(not shown)', after: '(changed, not shown)' },
    ]);
  });
});
