/**
 * Streaming lists (a watch that starts with the current state): one request per kind instead of a list and a watch,
 * against a small API server on loopback that streams them as Kubernetes 1.34 does, or refuses them as 1.33 does.
 */
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { streamingList } from '../../src/cluster/kube-watch.js';
import type { KubeOptions } from '../../src/cluster/kube-client.js';
import type { TargetState, WatchScope } from '../../src/cluster/kube.js';
import { loopbackApi, type Handler } from '../fakes/loopback-api.js';

/** The loopback API server, recording each request as `list`, `stream` (a streaming list) or `watch`. */
async function apiServer(handler: Handler, options: KubeOptions = {}) {
  const requests: string[] = [];
  const api = await loopbackApi(
    (req, res, url) => {
      const kind = url.pathname.split('/').at(-1) ?? '';
      const q = url.searchParams;
      requests.push(
        q.get('watch') !== 'true'
          ? `list ${kind}`
          : q.get('sendInitialEvents') === 'true'
            ? `stream ${kind} ${q.get('resourceVersionMatch') ?? ''}`
            : `watch ${kind} rv=${q.get('resourceVersion') ?? ''}`,
      );
      handler(req, res, url);
    },
    { streamingLists: undefined, ...options }, // found out from the server's answer, as in a run
  );
  return { ...api, requests };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

const scope: WatchScope = { kind: 'deployment', namespace: 'ns', name: 'web', selector: 'app=web' };
const deployment = (rv: string, replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'ns', resourceVersion: rv },
  spec: { replicas, selector: {}, template: {} },
});
const event = (type: string, object: unknown): string => `${JSON.stringify({ type, object })}\n`;
const end = (rv: string): string =>
  event('BOOKMARK', { metadata: { resourceVersion: rv, annotations: { 'k8s.io/initial-events-end': 'true' } } });
const replicas = (state: TargetState): number =>
  (state.workloads.get('web') as V1Deployment | undefined)?.spec?.replicas ?? -1;

describe('streaming lists', () => {
  it('one request per kind: the initial events, then the changes, with no list', async () => {
    const server = await apiServer((_req, res, url) => {
      if (url.searchParams.get('sendInitialEvents') !== 'true') return void res.writeHead(500).end();
      res.writeHead(200);
      if (url.pathname.endsWith('/deployments')) {
        res.write(event('ADDED', deployment('10', 1)));
        res.write(end('10'));
        setTimeout(() => res.write(event('MODIFIED', deployment('11', 2))), 30);
      } else res.write(end('10'));
    });
    close = server.close;
    const seen: number[] = [];
    const stop = new AbortController();
    await server.kube.observe(
      scope,
      (state) => {
        seen.push(replicas(state));
        if (replicas(state) === 2) stop.abort();
      },
      stop.signal,
    );
    expect(seen[0]).toBe(1);
    expect(seen.at(-1)).toBe(2);
    expect([...server.requests].sort()).toEqual([
      'stream deployments NotOlderThan',
      'stream pods NotOlderThan',
      'stream replicasets NotOlderThan',
    ]);
  });

  it('a server that refuses them (422, as 1.33 does) gets a list and a watch, and is not asked again', async () => {
    const server = await apiServer((_req, res, url) => {
      const q = url.searchParams;
      if (q.get('sendInitialEvents') === 'true') {
        res.writeHead(422).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', code: 422, message: 'forbidden' }));
      } else if (q.get('watch') === 'true') res.writeHead(200).write('');
      else {
        const items = url.pathname.endsWith('/deployments') ? [deployment('5', 3)] : [];
        res.end(JSON.stringify({ metadata: { resourceVersion: '5' }, items }));
      }
    });
    close = server.close;
    const watchOnce = async (): Promise<number> => {
      const stop = new AbortController();
      let seen = -1;
      await server.kube.observe(scope, (state) => ((seen = replicas(state)), stop.abort()), stop.signal);
      return seen;
    };
    expect(await watchOnce()).toBe(3);
    const first = server.requests.length;
    expect(server.requests.filter((r) => r.startsWith('stream')).length).toBeGreaterThan(0);
    expect(server.requests).toContain('list deployments');
    expect(await watchOnce()).toBe(3);
    expect(server.requests.slice(first).filter((r) => r.startsWith('stream'))).toEqual([]);
  });

  it('a stream whose initial events never end gets a list and a watch once a list would have timed out', async () => {
    const server = await apiServer(
      (_req, res, url) => {
        const q = url.searchParams;
        if (q.get('sendInitialEvents') === 'true') {
          res.writeHead(200);
          res.write(event('ADDED', deployment('9', 7))); // and no bookmark (a proxy that drops the parameters)
        } else if (q.get('watch') === 'true') res.writeHead(200).write('');
        else {
          const items = url.pathname.endsWith('/deployments') ? [deployment('5', 3)] : [];
          res.end(JSON.stringify({ metadata: { resourceVersion: '5' }, items }));
        }
      },
      { requestTimeoutMs: 100 }, // a list's limit: 200 ms
    );
    close = server.close;
    const stop = new AbortController();
    const seen: number[] = [];
    const started = Date.now();
    await server.kube.observe(scope, (state) => (seen.push(replicas(state)), stop.abort()), stop.signal);
    expect(seen).toEqual([3]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(server.requests).toContain('list deployments');
  });

  it('a stream cut before its initial events end shows nothing of them, and is asked again from the start', async () => {
    let streams = 0;
    const server = await apiServer((_req, res, url) => {
      res.writeHead(200);
      if (!url.pathname.endsWith('/deployments')) return void res.write(end('10'));
      streams += 1;
      res.write(event('ADDED', deployment('9', streams === 1 ? 7 : 1)));
      if (streams === 1)
        res.end(); // cut before the bookmark
      else res.write(end('10'));
    });
    close = server.close;
    const seen: number[] = [];
    const stop = new AbortController();
    await server.kube.observe(scope, (state) => (seen.push(replicas(state)), stop.abort()), stop.signal);
    expect(seen).toEqual([1]);
    expect(server.requests.filter((r) => r.includes('deployments'))).toEqual([
      'stream deployments NotOlderThan',
      'stream deployments NotOlderThan',
    ]);
  });
});

describe('streamingList', () => {
  it('hands over the initial state whole at the bookmark that ends it, deletions included; then each event', () => {
    const handed: [string[], string][] = [];
    const after: string[] = [];
    const list = streamingList(
      (items, rv) => handed.push([[...items].map((o: KubernetesObject) => o.metadata?.name ?? ''), rv]),
      (type, o) => after.push(`${type} ${o.metadata?.name ?? ''}`),
    );
    const obj = (name: string) => ({ metadata: { name, resourceVersion: '3' } });
    list.event('ADDED', obj('a'));
    list.event('ADDED', obj('b'));
    list.event('BOOKMARK', { metadata: { resourceVersion: '4' } }); // a plain bookmark does not end them
    list.event('DELETED', obj('a'));
    expect(list.synced()).toBe(false);
    expect(handed).toEqual([]);
    list.event('BOOKMARK', {
      metadata: { resourceVersion: '5', annotations: { 'k8s.io/initial-events-end': 'true' } },
    });
    list.event('MODIFIED', obj('b'));
    expect(list.synced()).toBe(true);
    expect(handed).toEqual([[['b'], '5']]);
    expect(after).toEqual(['MODIFIED b']);
  });
});
