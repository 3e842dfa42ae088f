/**
 * The real adapter's list-then-watch loop against a small API server on loopback that plays a scripted sequence:
 * a watch that closes (re-watch from the last resourceVersion), a 410 Gone (relist), and Status errors.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKube, type KubeOptions } from '../../src/cluster/kube-client.js';
import { loadCluster } from '../../src/cluster/kubeconfig.js';
import { loopbackApi, type Handler } from '../fakes/loopback-api.js';
import { KubeError, type TargetState, type WatchScope } from '../../src/cluster/kube.js';

/** The loopback API server of these tests: it lists, then watches (no streaming lists), and records each request. */
async function apiServer(handler: Handler, options: KubeOptions = {}) {
  const requests: string[] = [];
  const api = await loopbackApi((req, res, url) => {
    const watch = url.searchParams.get('watch') ? ` watch rv=${url.searchParams.get('resourceVersion')}` : '';
    requests.push(`${req.method} ${url.pathname}${watch}`);
    handler(req, res, url);
  }, options);
  return { ...api, requests };
}

const deployment = (rv: string, replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'ns', resourceVersion: rv },
  spec: { replicas, selector: {}, template: {} },
});
const list = (kind: string, rv: string, items: unknown[]) =>
  JSON.stringify({ apiVersion: 'v1', kind, metadata: { resourceVersion: rv }, items });

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** Resolves once `condition` holds: what a test waits for, instead of a fixed time. */
async function until(condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition();) {
    if (Date.now() - started > 5000) throw new Error('the condition never held');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const scope: WatchScope = { kind: 'deployment', namespace: 'ns', name: 'web', selector: 'app=web' };

describe('createKube().observe', () => {
  it('re-watches from the last resourceVersion when a watch closes, and relists on 410 Gone', async () => {
    let deploymentLists = 0;
    let othersListed = 0;
    const server = await apiServer((_req, res, url) => {
      const watching = url.searchParams.get('watch') === 'true';
      const rv = url.searchParams.get('resourceVersion');
      if (!url.pathname.endsWith('/deployments')) {
        if (watching) return; // replicasets and pods: watches that stay open and quiet
        othersListed += 1;
        res.end(list('List', '1', []));
        return;
      }
      if (!watching) {
        deploymentLists += 1;
        res.end(
          deploymentLists === 1
            ? list('DeploymentList', '10', [deployment('10', 1)])
            : list('DeploymentList', '20', [deployment('20', 3)]),
        );
      } else if (rv === '10') {
        // The change comes once the target's first state (every kind listed) has been seen.
        void until(() => othersListed === 2).then(() =>
          setTimeout(() => res.end(`${JSON.stringify({ type: 'MODIFIED', object: deployment('11', 2) })}\n`), 20),
        );
      } else if (rv === '11') {
        res.end(
          `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } })}\n`,
        );
      }
    });
    close = server.close;
    const seen: number[] = [];
    const stop = new AbortController();
    const done = server.kube.observe(
      scope,
      (state: TargetState) => {
        seen.push((state.workloads.get('web') as V1Deployment | undefined)?.spec?.replicas ?? -1);
        if ((state.workloads.get('web') as V1Deployment | undefined)?.metadata?.resourceVersion === '20') stop.abort();
      },
      stop.signal,
    );
    await done;
    expect(seen[0]).toBe(1);
    expect(seen).toContain(2);
    expect(seen.at(-1)).toBe(3);
    expect(server.requests.filter((r) => r.includes('/deployments'))).toEqual([
      'GET /apis/apps/v1/namespaces/ns/deployments',
      'GET /apis/apps/v1/namespaces/ns/deployments watch rv=10',
      'GET /apis/apps/v1/namespaces/ns/deployments watch rv=11',
      'GET /apis/apps/v1/namespaces/ns/deployments',
    ]);
  });

  it("lists and watches only the target's own objects: the Deployment by name, the rest by its selector", async () => {
    const queries: string[] = [];
    const server = await apiServer((_req, res, url) => {
      queries.push(
        `${url.pathname.split('/').at(-1)} ${url.searchParams.get('fieldSelector') ?? ''}${url.searchParams.get('labelSelector') ?? ''}`,
      );
      if (url.searchParams.get('watch') === 'true') return;
      res.end(list('List', '1', []));
    });
    close = server.close;
    const stop = new AbortController();
    await server.kube.observe(scope, () => stop.abort(), stop.signal);
    expect(new Set(queries)).toEqual(new Set(['deployments metadata.name=web', 'replicasets app=web', 'pods app=web']));
  });

  it('keeps watching through quiet watches that the client ends for inactivity, however many', async () => {
    const server = await apiServer(
      (_req, res, url) => {
        if (url.searchParams.get('watch') === 'true') return; // never a byte: the client's inactivity limit ends it
        res.end(list('List', '5', url.pathname.endsWith('/deployments') ? [deployment('5', 1)] : []));
      },
      { inactivityMs: 10 },
    );
    close = server.close;
    const stop = new AbortController();
    let changes = 0;
    const done = server.kube.observe(scope, () => (changes += 1), stop.signal);
    const quietWatches = () => server.requests.filter((r) => r.includes('/deployments watch')).length;
    await until(() => quietWatches() > 8);
    const quiet = quietWatches();
    stop.abort();
    await expect(done).resolves.toBeUndefined();
    expect(quiet).toBeGreaterThan(8);
    // Re-watched from the same resourceVersion, never relisted.
    expect(server.requests.filter((r) => r === 'GET /apis/apps/v1/namespaces/ns/deployments')).toHaveLength(1);
    expect(changes).toBeGreaterThan(0);
  });

  it('retries a list refused with 429 or 500 or a dropped connection until it succeeds, backing off', async () => {
    let deploymentLists = 0;
    const waits: number[] = [];
    // As the real one, a wait asked for after the informer stopped ends at once.
    const sleep = async (ms: number, signal?: AbortSignal) => void (signal?.aborted ? 0 : waits.push(ms));
    const server = await apiServer(
      (req, res, url) => {
        if (url.searchParams.get('watch') === 'true') return;
        if (url.pathname.endsWith('/deployments')) {
          deploymentLists += 1;
          if (deploymentLists === 1) {
            res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
            res.end(JSON.stringify({ kind: 'Status', code: 429, message: 'too many requests' }));
            return;
          }
          if (deploymentLists === 2) {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ kind: 'Status', code: 500, message: 'etcdserver: leader changed' }));
            return;
          }
          if (deploymentLists === 3) {
            req.socket.destroy();
            return;
          }
        }
        res.end(list('List', '1', url.pathname.endsWith('/deployments') ? [deployment('1', 2)] : []));
      },
      { sleep },
    );
    close = server.close;
    const stop = new AbortController();
    let replicas = -1;
    await server.kube.observe(
      scope,
      (state) => {
        replicas = (state.workloads.get('web') as V1Deployment | undefined)?.spec?.replicas ?? -1;
        stop.abort();
      },
      stop.signal,
    );
    expect(deploymentLists).toBe(4);
    expect(replicas).toBe(2);
    // Retry-After: 0 at once, then the backoff doubling from 250 ms.
    expect(waits).toEqual([0, 500, 1000]);
  });

  it('gives up at once on a watch refused with 403, keeping the status', async () => {
    const server = await apiServer((_req, res, url) => {
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'forbidden' }));
        return;
      }
      res.end(list('List', '1', []));
    });
    close = server.close;
    const error = await server.kube
      .observe(scope, () => undefined, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeError);
    expect((error as KubeError).status).toBe(403);
    expect(server.requests.filter((r) => r.includes('watch')).length).toBeLessThanOrEqual(3);
  });

  it('gives up on 403 with the Status message, without the token', async () => {
    const server = await apiServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          code: 403,
          reason: 'Forbidden',
          message: 'pods is forbidden: User "ci" cannot list resource "pods"',
        }),
      );
    });
    close = server.close;
    const error = await server.kube
      .observe(scope, () => undefined, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeError);
    expect((error as KubeError).status).toBe(403);
    expect((error as KubeError).message).toMatch(/forbidden: User "ci" cannot list/);
    expect((error as KubeError).message).not.toContain('secret-token');
  });
});

describe('bounded requests', () => {
  it('abandons a request the API server accepts and never answers, naming the limit', async () => {
    const server = await apiServer(() => undefined, { requestTimeoutMs: 50 });
    close = server.close;
    const started = Date.now();
    const error = await server.kube
      .getWorkload({ kind: 'deployment', namespace: 'ns', name: 'web' })
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toMatchObject({ status: 0, message: 'get deployment ns/web: no answer within 0.05s' });
  });

  it('ends the watch loops promptly when the wait stops, even with a list in flight', async () => {
    const server = await apiServer(() => undefined, { requestTimeoutMs: 60_000 });
    close = server.close;
    const stop = new AbortController();
    const done = server.kube.observe(scope, () => undefined, stop.signal);
    await until(() => server.requests.length === 3); // the three lists, in flight
    const stopped = Date.now();
    stop.abort();
    await done;
    expect(Date.now() - stopped).toBeLessThan(500);
  });
});

describe('throttling', () => {
  it('sends a request the API server refused with 429 again, as Retry-After asks', async () => {
    let calls = 0;
    const waits: number[] = [];
    const server = await apiServer(
      (_req, res) => {
        calls += 1;
        if (calls <= 2) {
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
          res.end(JSON.stringify({ kind: 'Status', code: 429, message: 'Too many requests' }));
          return;
        }
        res.end(JSON.stringify(deployment('7', 2)));
      },
      { sleep: async (ms) => void waits.push(ms) },
    );
    close = server.close;
    const got = await server.kube.getWorkload({ kind: 'deployment', namespace: 'ns', name: 'web' });
    expect(got.metadata?.resourceVersion).toBe('7');
    expect(calls).toBe(3);
    // Retry-After: 0 is taken as a short pause, not a busy loop.
    expect(waits).toEqual([250, 250]);
  });
});

describe('createKube().getWorkload', () => {
  it("keeps every field of the server's JSON, one no client model knows included (a rollback restores it)", async () => {
    const future = {
      ...deployment('7', 1),
      spec: { replicas: 1, selector: {}, template: { spec: { futureField: 'x' } } },
    };
    const server = await apiServer((_req, res) => res.end(JSON.stringify(future)));
    close = server.close;
    const live = await server.kube.getWorkload({ kind: 'deployment', namespace: 'ns', name: 'web' });
    expect(live).toEqual(future);
  });
});

describe('a cluster on plain http:// (allow-http)', () => {
  it('is reached over plain HTTP with the kubeconfig as it is', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.headers.authorization ?? ''} ${req.url ?? ''}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(deployment('3', 1)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    close = () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));
    const kubeconfig = [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: 'http://127.0.0.1:${(server.address() as AddressInfo).port}'}}]`,
      'users: [{name: u, user: {token: plain-token}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n');
    const { config } = loadCluster(kubeconfig, '', {}, () => undefined, { allowHttp: true });
    const live = await createKube(config).getWorkload({ kind: 'deployment', namespace: 'ns', name: 'web' });
    expect(live.metadata?.name).toBe('web');
    expect(seen).toEqual(['Bearer plain-token /apis/apps/v1/namespaces/ns/deployments/web']);
  });
});

describe('createKube().patchDeployment', () => {
  it('sends JSON Patch and turns a 409 into a KubeError with status 409', async () => {
    let contentType = '';
    let body = '';
    const server = await apiServer((req, res) => {
      contentType = req.headers['content-type'] ?? '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        res.writeHead(409, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' }),
        );
      });
    });
    close = server.close;
    const ops = [{ op: 'replace' as const, path: '/metadata/resourceVersion', value: '7' }];
    const error = await server.kube
      .patchWorkload({ kind: 'deployment', namespace: 'ns', name: 'web' }, ops)
      .catch((e: unknown) => e);
    expect(contentType).toBe('application/json-patch+json');
    expect(JSON.parse(body)).toEqual(ops);
    expect(error).toMatchObject({
      status: 409,
      reason: 'Conflict',
      message: 'patch deployment ns/web: the object has been modified',
    });
  });
});

describe('createKube().applyObject', () => {
  it("tells a created object from an updated one by the API server's answer: 201 Created, 200 OK", async () => {
    const stored = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web', namespace: 'shop', uid: 'u1' } };
    let answers = 0;
    const server = await apiServer((_req, res, url) => {
      if (url.pathname === '/api/v1') {
        const resources = [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['patch'] }];
        res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources }));
        return;
      }
      answers += 1;
      res.statusCode = answers === 1 ? 201 : 200;
      res.end(JSON.stringify(stored));
    });
    close = server.close;
    const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web', namespace: 'shop' } };
    const first = await server.kube.applyObject(object, { dryRun: false, force: false });
    const second = await server.kube.applyObject(object, { dryRun: false, force: false });
    expect(first).toEqual({ object: stored, created: true });
    expect(second).toEqual({ object: stored, created: false });
    expect(server.requests).toContain('PATCH /api/v1/namespaces/shop/configmaps/web');
  });
});
