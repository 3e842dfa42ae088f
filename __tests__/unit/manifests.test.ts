import { describe, expect, it } from 'vitest';
import {
  MANIFEST_ALIAS_LIMIT,
  applyOrder,
  parseManifests,
  placeObjects,
  requireQuotedSecretValues,
  secretValues,
  withImage,
  workloadKindOf,
} from '../../src/desired/manifests.js';

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      initContainers: [{ name: migrate, image: registry.local/acme/web:v1 }]
      containers:
      - { name: app, image: registry.local/acme/web:v1 }
      - { name: proxy, image: envoyproxy/envoy:v1.30 }
`;
const rest = `# comment only
---
apiVersion: v1
kind: Service
metadata: { name: web }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: web-config, namespace: other }
data: { GREETING: hello }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web }
`;

describe('parseManifests', () => {
  it('keeps each object with its file and document, skipping empty documents', () => {
    const objects = parseManifests([
      { file: 'k8s/deploy.yaml', text: deployment },
      { file: 'k8s/rest.yaml', text: rest },
    ]);
    expect(objects.map((m) => [m.file, m.document, m.object.kind])).toEqual([
      ['k8s/deploy.yaml', 1, 'Deployment'],
      ['k8s/rest.yaml', 2, 'Service'],
      ['k8s/rest.yaml', 3, 'ConfigMap'],
      ['k8s/rest.yaml', 4, 'Ingress'],
    ]);
  });

  it.each([
    ['kind: ConfigMap\nmetadata: { name: a }\n', 'a.yaml document 1 has no apiVersion or kind'],
    [
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { generateName: a- }\n',
      'a.yaml document 1 (ConfigMap) has no valid metadata.name',
    ],
    ['- a\n- b\n', 'a.yaml document 1 is not a Kubernetes object'],
    ['a: [\n', 'a.yaml is not valid YAML'],
    ['# nothing\n', 'the files hold no Kubernetes objects'],
  ])('names the file and document of a bad one: %j', (text, message) => {
    expect(() => parseManifests([{ file: 'a.yaml', text }])).toThrow(message);
  });

  /** Levels of aliases, each level the previous one `width` times: nine of nine are 9^9 strings from under 600 bytes. */
  function aliasBomb(levels: number, width: number): string {
    const names = 'abcdefghijklmnop';
    const lines = [`  a: &a [${Array<string>(width).fill('"lol"').join(', ')}]`];
    for (let i = 1; i < levels; i++) {
      lines.push(
        `  ${names[i]}: &${names[i]} [${Array<string>(width)
          .fill(`*${names[i - 1]}`)
          .join(', ')}]`,
      );
    }
    return `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: lol }\ndata:\n${lines.join('\n')}\n`;
  }

  it('refuses an alias bomb of about 550 bytes at once, naming the limit', () => {
    const text = aliasBomb(9, 9);
    expect(text.length).toBeLessThan(600);
    const started = Date.now();
    expect(() => parseManifests([{ file: 'bomb.yaml', text }])).toThrow(
      `bomb.yaml is not valid YAML: aliases exceeded maxAliases (${MANIFEST_ALIAS_LIMIT})`,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses objects whose aliases, under the alias limit, expand past the total limit', () => {
    // 7 levels of 9: 54 aliases, 9^6 * 9 strings of 5 bytes = about 24 MB once expanded.
    const text = aliasBomb(7, 9);
    const started = Date.now();
    expect(() => parseManifests([{ file: 'wide.yaml', text }])).toThrow(
      'wide.yaml brings the objects, once their YAML aliases are expanded, to more than 8 MiB',
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('still reads a few aliases, and an alias that refers to itself stops at the limit', () => {
    const few = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a, labels: &l { app: a } }\ndata: *l\n';
    expect(parseManifests([{ file: 'a.yaml', text: few }])[0]?.object).toMatchObject({ data: { app: 'a' } });
    const loop = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\ndata: &d { self: [*d] }\n';
    expect(() => parseManifests([{ file: 'loop.yaml', text: loop }])).toThrow('more than 8 MiB');
  });

  it('opens a v1 List into its items', () => {
    const text = 'apiVersion: v1\nkind: List\nitems:\n- { apiVersion: v1, kind: ConfigMap, metadata: { name: a } }\n';
    expect(parseManifests([{ file: 'l.yaml', text }]).map((m) => m.object.metadata.name)).toEqual(['a']);
  });
});

describe('placeObjects and applyOrder', () => {
  const objects = parseManifests([
    { file: 'k8s/deploy.yaml', text: deployment },
    { file: 'k8s/rest.yaml', text: rest },
  ]);

  it('gives namespaced objects the default namespace and keeps an explicit one', () => {
    const placed = placeObjects(objects, () => true, 'shop');
    expect(placed.map((m) => m.object.metadata.namespace)).toEqual(['shop', 'shop', 'other', 'shop']);
    expect(objects[0]?.object.metadata.namespace).toBeUndefined();
  });

  it('refuses one object listed twice, naming both places', () => {
    const twice = parseManifests([
      { file: 'a.yaml', text: deployment },
      { file: 'b.yaml', text: deployment },
    ]);
    expect(() => placeObjects(twice, () => true, 'shop')).toThrow(
      'Deployment shop/web is in a.yaml document 1 and in b.yaml document 1',
    );
  });

  it('applies configuration and Services before workloads and Ingresses after', () => {
    expect(applyOrder(placeObjects(objects, () => true, 'shop')).map((m) => m.object.kind)).toEqual([
      'ConfigMap',
      'Service',
      'Deployment',
      'Ingress',
    ]);
  });
});

describe('withImage', () => {
  const objects = parseManifests([{ file: 'k8s/deploy.yaml', text: deployment }]);

  it('gives the reference to every container and initContainer of that repository, and only those', () => {
    const { objects: out, uses } = withImage(
      objects,
      'registry.local/acme/web',
      'registry.local/acme/web:v2@sha256:ab',
    );
    const spec = (out[0]?.object.spec as { template: { spec: Record<string, { name: string; image: string }[]> } })
      .template.spec;
    expect(spec.containers?.map((c) => c.image)).toEqual([
      'registry.local/acme/web:v2@sha256:ab',
      'envoyproxy/envoy:v1.30',
    ]);
    expect(spec.initContainers?.[0]?.image).toBe('registry.local/acme/web:v2@sha256:ab');
    expect(uses).toEqual([
      {
        key: 'Deployment web',
        source: 'k8s/deploy.yaml document 1',
        containers: ['app', 'migrate'],
        written: { app: 'registry.local/acme/web:v1', migrate: 'registry.local/acme/web:v1' },
      },
    ]);
    // The input is not changed.
    expect(JSON.stringify(objects)).toContain('registry.local/acme/web:v1');
    expect(JSON.stringify(objects)).not.toContain('sha256:ab');
  });

  it('is an error naming the files when no container runs the image', () => {
    expect(() => withImage(objects, 'registry.local/acme/api', 'x')).toThrow(
      'no container in k8s/deploy.yaml runs an image from registry.local/acme/api',
    );
  });
});

describe('workloadKindOf and secretValues', () => {
  it('knows only apps/v1 workloads', () => {
    expect(workloadKindOf({ apiVersion: 'apps/v1', kind: 'StatefulSet' })).toBe('statefulset');
    expect(workloadKindOf({ apiVersion: 'apps/v1', kind: 'ReplicaSet' })).toBeUndefined();
    expect(workloadKindOf({ apiVersion: 'extensions/v1beta1', kind: 'Deployment' })).toBeUndefined();
  });

  it('finds every Secret value, decoded and as written', () => {
    const text =
      'apiVersion: v1\nkind: Secret\nmetadata: { name: s }\ndata: { a: aHVudGVyMg== }\nstringData: { b: swordfish }\n';
    expect(secretValues(parseManifests([{ file: 's.yaml', text }]))).toEqual(['hunter2', 'aHVudGVyMg==', 'swordfish']);
  });

  it('finds the values YAML reads as numbers or booleans, as the API server would print them', () => {
    const text =
      'apiVersion: v1\nkind: Secret\nmetadata: { name: s }\nstringData: { api-key: 8837465529910342, on: true, pin: 0042 }\n';
    expect(secretValues(parseManifests([{ file: 's.yaml', text }]))).toEqual(['8837465529910342', 'true']);
  });
});

describe('requireQuotedSecretValues', () => {
  const secret = (values: string) =>
    parseManifests([
      { file: 'k8s/db.yaml', text: `kind: ConfigMap\napiVersion: v1\nmetadata: { name: c }\ndata: { n: 1 }\n---\n` },
      { file: 'k8s/s.yaml', text: `---\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: db }\n${values}\n` },
    ]);

  it.each([
    ['stringData: { api-key: 8837465529910342 }', 'stringData.api-key is not a string (YAML read it as a number)'],
    ['data: { enabled: true }', 'data.enabled is not a string (YAML read it as a boolean)'],
    ['stringData: { nested: { a: hunter22 } }', 'stringData.nested is not a string (YAML read it as a mapping)'],
  ])('refuses %s, naming the file, document and key, never the value', (values, says) => {
    expect(() => requireQuotedSecretValues(secret(values))).toThrow(`k8s/s.yaml document 2 (Secret db): ${says}`);
    expect(() => requireQuotedSecretValues(secret(values))).not.toThrow(/8837465529910342|true\)|hunter22/);
    expect(() => requireQuotedSecretValues(secret(values))).toThrow('quote the value');
  });

  it('accepts strings, and leaves other kinds alone', () => {
    expect(() => requireQuotedSecretValues(secret('stringData: { pin: "0042" }\ndata: { a: aGk= }'))).not.toThrow();
  });
});
