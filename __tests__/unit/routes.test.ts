import type { V1Ingress, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeError } from '../../src/cluster/kube.js';
import { renderReport } from '../../src/report/markdown.js';
import { gatherRoutes, routesOf } from '../../src/report/routes.js';
import { successReport } from '../fixtures/reports.js';
import { FakeKube } from '../fakes/fake-kube.js';

const service = (name: string, selector: Record<string, string> | undefined, extra: Partial<V1Service['spec']> = {}) =>
  ({
    metadata: { name },
    spec: { selector, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }], ...extra },
  }) as V1Service;

const ingress = (name: string, host: string | undefined, backend: string, tls = false): V1Ingress => ({
  metadata: { name },
  spec: {
    ...(tls && host ? { tls: [{ hosts: [host] }] } : {}),
    rules: [
      {
        ...(host ? { host } : {}),
        http: {
          paths: [{ path: '/shop', pathType: 'Prefix', backend: { service: { name: backend, port: { number: 80 } } } }],
        },
      },
    ],
  },
});

describe('routesOf: the Services that select the pods and the Ingress paths to them', () => {
  const labels = { app: 'web', tier: 'front' };

  it('keeps a Service whose whole selector is on the pods, and no other', () => {
    const routes = routesOf(
      labels,
      [
        service('web', { app: 'web' }),
        service(
          'web-front',
          { app: 'web', tier: 'front' },
          { type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] },
        ),
        service('api', { app: 'api' }),
        service('wider', { app: 'web', tier: 'back' }),
        service('headless-external', undefined),
        service('empty', {}),
      ],
      [],
    );
    expect(routes.services).toEqual([
      { name: 'web', type: 'ClusterIP', ports: ['80→8080/TCP'] },
      { name: 'web-front', type: 'NodePort', ports: ['80→8080/TCP :30080'] },
    ]);
  });

  it('lists the Ingress paths whose backend is one of those Services, https where the host has TLS', () => {
    const routes = routesOf(
      labels,
      [service('web', { app: 'web' }), service('api', { app: 'api' })],
      [
        ingress('shop', 'shop.example', 'web', true),
        ingress('any', undefined, 'web'),
        ingress('api', 'api.example', 'api'),
      ],
    );
    expect(routes.ingresses).toEqual([
      { ingress: 'shop', url: 'https://shop.example/shop', service: 'web', port: '80' },
      { ingress: 'any', url: 'http://*/shop', service: 'web', port: '80' },
    ]);
  });
});

describe('gatherRoutes', () => {
  const target = { kind: 'deployment' as const, namespace: 'ns', name: 'web', key: 'ns/web' };

  it("reads the live pod template's labels and the namespace's Services and Ingresses", async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'ghcr.io/acme/web:1');
    kube.services = [service('web', { app: 'web' })];
    kube.ingresses = [ingress('shop', 'shop.example', 'web')];
    const routes = await gatherRoutes(kube, [target]);
    expect(routes.get('ns/web')?.services.map((s) => s.name)).toEqual(['web']);
    expect(routes.get('ns/web')?.ingresses.map((i) => i.url)).toEqual(['http://shop.example/shop']);
  });

  it('asks no Ingresses where no Service selects the pods, and reads no workload whose labels are known', async () => {
    const kube = new FakeKube();
    const asked: string[] = [];
    kube.services = [service('api', { app: 'api' })];
    kube.listIngresses = () => (asked.push('ingresses'), Promise.resolve([ingress('shop', 'shop.example', 'api')]));
    kube.getWorkload = () => (asked.push('workload'), Promise.reject(new Error('not read')));
    const routes = await gatherRoutes(kube, [{ ...target, podLabels: { app: 'web' } }]);
    expect(routes.get('ns/web')).toEqual({ services: [], ingresses: [] });
    expect(asked).toEqual([]);
  });

  it('says so when the identity may not list them, and never throws', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'ghcr.io/acme/web:1');
    kube.services = new KubeError(403, 'services is forbidden');
    const routes = await gatherRoutes(kube, [target]);
    expect(routes.get('ns/web')).toEqual({
      services: [],
      ingresses: [],
      note: 'services and ingresses not shown: the identity may not list them in ns',
    });
  });

  it('keeps the Services when only the Ingresses may not be listed', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'ghcr.io/acme/web:1');
    kube.services = [service('web', { app: 'web' })];
    kube.ingresses = new KubeError(403, 'ingresses.networking.k8s.io is forbidden');
    const routes = await gatherRoutes(kube, [target]);
    expect(routes.get('ns/web')?.services.map((s) => s.name)).toEqual(['web']);
    expect(routes.get('ns/web')?.note).toBe('ingresses not shown: the identity may not list them in ns');
  });
});

describe('the report says where each target is reachable', () => {
  it('as code, never as a link, with cluster text escaped', () => {
    const report = successReport();
    const [first] = report.targets;
    if (first === undefined) throw new Error('fixture has targets');
    first.routes = {
      services: [{ name: 'web', type: 'LoadBalancer', ports: ['443→8443/TCP'] }],
      ingresses: [{ ingress: 'shop', url: 'https://evil.example/<img src=x>', service: 'web', port: '443' }],
    };
    const body = renderReport(report, { limit: 1_000_000, logLines: 50 });
    expect(body).toContain('**Where it is reachable**');
    expect(body).toContain(
      '- <code>web/frontend</code>: Service <code>web</code> (LoadBalancer <code>443→8443/TCP</code>); Ingress <code>shop</code> <code>https://evil.example/&lt;img src=x&gt;</code> → <code>web:443</code>',
    );
    expect(body).not.toContain('<img');
    expect(body).not.toContain('href="https://evil.example');
  });

  it('leaves the section out when nothing was read', () => {
    expect(renderReport(successReport(), { limit: 1_000_000, logLines: 50 })).not.toContain('Where it is reachable');
  });
});
