/**
 * One list and watch per kind per namespace: which informers the targets of one wait share (`planWatches`, a table),
 * and the real adapter's watching of two targets against a small API server counting its lists and watches.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TargetState, WatchScope } from '../../src/cluster/kube.js';
import { planWatches, sharedObserve, type Member, type Plan } from '../../src/cluster/shared-watch.js';
import { loopbackApi } from '../fakes/loopback-api.js';

const member = (scope: Partial<WatchScope> & { name: string }): Member => ({
  scope: { kind: 'deployment', namespace: 'shop', selector: `app=${scope.name}`, ...scope },
  state: { workloads: new Map(), replicaSets: new Map(), revisions: new Map(), pods: new Map() },
  changed: () => undefined,
  failed: () => undefined,
});
/** Each informer as `resource ns query -> targets`. */
const plan = (members: Member[]): string[] =>
  planWatches(members).map(
    (p) =>
      `${p.resource} ${p.namespace} ${Object.entries(p.query)
        .map(([k, v]) => `${k}=${v}`)
        .join('&')} -> ${p.members.map((m) => m.member.scope.name).join(',')}`,
  );

describe('planWatches', () => {
  it.each([
    [
      'one target: its workload by name, the rest by its selector',
      [member({ name: 'web' })],
      [
        'deployments shop fieldSelector=metadata.name=web -> web',
        'replicasets shop labelSelector=app=web -> web',
        'pods shop labelSelector=app=web -> web',
      ],
    ],
    [
      'two targets of one namespace on one label key: one informer per kind',
      [member({ name: 'web' }), member({ name: 'api' })],
      [
        'deployments shop  -> web,api',
        'replicasets shop labelSelector=app in (web,api) -> web,api',
        'pods shop labelSelector=app in (web,api) -> web,api',
      ],
    ],
    [
      'two namespaces: nothing shared',
      [member({ name: 'web' }), member({ name: 'web', namespace: 'blog' })],
      [
        'deployments shop fieldSelector=metadata.name=web -> web',
        'replicasets shop labelSelector=app=web -> web',
        'pods shop labelSelector=app=web -> web',
        'deployments blog fieldSelector=metadata.name=web -> web',
        'replicasets blog labelSelector=app=web -> web',
        'pods blog labelSelector=app=web -> web',
      ],
    ],
    [
      'selectors that cannot be joined keep their own informers; the workloads are still shared',
      [member({ name: 'web', selector: 'app=web,tier=front' }), member({ name: 'api', selector: 'run=api' })],
      [
        'deployments shop  -> web,api',
        'replicasets shop labelSelector=app=web,tier=front -> web',
        'replicasets shop labelSelector=run=api -> api',
        'pods shop labelSelector=app=web,tier=front -> web',
        'pods shop labelSelector=run=api -> api',
      ],
    ],
    [
      'a StatefulSet beside a Deployment: pods shared, revisions of its own kind',
      [member({ name: 'web' }), member({ name: 'db', kind: 'statefulset' })],
      [
        'deployments shop fieldSelector=metadata.name=web -> web',
        'replicasets shop labelSelector=app=web -> web',
        'pods shop labelSelector=app in (web,db) -> web,db',
        'statefulsets shop fieldSelector=metadata.name=db -> db',
        'controllerrevisions shop labelSelector=app=db -> db',
      ],
    ],
  ])('%s', (_name, members, expected) => {
    expect(plan(members)).toEqual(expected);
  });
});

/** A server whose lists hold two Deployments' objects, and whose watches stay open. */
async function apiServer() {
  const requests: string[] = [];
  const object = (kind: string, name: string, app: string) => ({
    kind,
    metadata: { name, namespace: 'shop', resourceVersion: '3', labels: { app } },
    spec: { replicas: 1, selector: {}, template: {} },
  });
  const api = await loopbackApi((_req, res, url) => {
    const resource = url.pathname.split('/').at(-1) ?? '';
    const query = [...url.searchParams].filter(([k]) => /Selector$/.test(k)).map(([k, v]) => `${k}=${v}`);
    requests.push(`${url.searchParams.get('watch') ? 'watch' : 'list'} ${resource} ${query.join('&')}`);
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200);
      res.write('');
      return;
    }
    const items =
      resource === 'deployments'
        ? [object('Deployment', 'web', 'web'), object('Deployment', 'api', 'api')]
        : resource === 'replicasets'
          ? [object('ReplicaSet', 'web-1', 'web'), object('ReplicaSet', 'api-1', 'api')]
          : [object('Pod', 'web-1-a', 'web'), object('Pod', 'api-1-a', 'api'), object('Pod', 'api-1-b', 'api')];
    res.end(JSON.stringify({ metadata: { resourceVersion: '3' }, items }));
  });
  return { ...api, requests };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('createKube().observe of targets watched at once', () => {
  it('shares one list and watch per kind, and gives each target only its own objects', async () => {
    const server = await apiServer();
    close = server.close;
    const stop = new AbortController();
    const seen = new Map<string, TargetState>();
    const watch = (name: string) =>
      server.kube.observe(
        { kind: 'deployment', namespace: 'shop', name, selector: `app=${name}` },
        (state) => seen.set(name, state),
        stop.signal,
      );
    const both = Promise.all([watch('web'), watch('api')]);
    for (let i = 0; i < 300 && (seen.size < 2 || server.requests.length < 6); i += 1) {
      await new Promise((r) => setTimeout(r, 10));
    }
    stop.abort();
    await both;
    expect([...server.requests].sort()).toEqual([
      'list deployments ',
      'list pods labelSelector=app in (web,api)',
      'list replicasets labelSelector=app in (web,api)',
      'watch deployments ',
      'watch pods labelSelector=app in (web,api)',
      'watch replicasets labelSelector=app in (web,api)',
    ]);
    const names = (state: TargetState | undefined) => ({
      workloads: [...(state?.workloads.keys() ?? [])],
      replicaSets: [...(state?.replicaSets.keys() ?? [])],
      pods: [...(state?.pods.keys() ?? [])],
    });
    expect(names(seen.get('web'))).toEqual({ workloads: ['web'], replicaSets: ['web-1'], pods: ['web-1-a'] });
    expect(names(seen.get('api'))).toEqual({
      workloads: ['api'],
      replicaSets: ['api-1'],
      pods: ['api-1-a', 'api-1-b'],
    });
  });
});

describe('sharedObserve: when a shared informer stops', () => {
  /** A runPlan that lists nothing, reports once, and runs until stopped; `fail` makes one plan fail for good. */
  function informers() {
    const stopped: string[] = [];
    const fail = new Map<string, (error: unknown) => void>();
    const key = (plan: Plan) => `${plan.resource} ${Object.values(plan.query).join('')}`;
    const runPlan = (plan: Plan, _store: unknown, changed: () => void, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        fail.set(key(plan), reject);
        queueMicrotask(changed);
        signal.addEventListener('abort', () => {
          stopped.push(key(plan));
          resolve();
        });
      });
    return { observe: sharedObserve(runPlan), stopped, fail };
  }
  const scope = (name: string): WatchScope => ({
    kind: 'deployment',
    namespace: 'shop',
    name,
    selector: `app=${name}`,
  });
  const tick = () => new Promise((r) => setTimeout(r, 0));

  it('keeps an informer while one target still uses it, and stops it when the last leaves', async () => {
    const { observe, stopped } = informers();
    const web = new AbortController();
    const api = new AbortController();
    const watching = [
      observe(scope('web'), () => undefined, web.signal),
      observe(scope('api'), () => undefined, api.signal),
    ];
    await tick();
    web.abort();
    await watching[0];
    expect(stopped).toEqual([]);
    api.abort();
    await watching[1];
    expect(stopped.sort()).toEqual(['deployments ', 'pods app in (web,api)', 'replicasets app in (web,api)']);
  });

  it('fails every target of an informer that fails for good, and stops their other informers', async () => {
    const { observe, stopped, fail } = informers();
    const errors: string[] = [];
    const stop = new AbortController();
    const watching = ['web', 'api'].map((name) =>
      observe(scope(name), () => undefined, stop.signal).catch((e: unknown) => errors.push(`${name}: ${String(e)}`)),
    );
    await tick();
    fail.get('pods app in (web,api)')?.(new Error('forbidden'));
    await Promise.all(watching);
    await tick();
    expect(errors.sort()).toEqual(['api: Error: forbidden', 'web: Error: forbidden']);
    // the targets' other informers stop without waiting for their signal
    expect(stopped.sort()).toEqual(['deployments ', 'pods app in (web,api)', 'replicasets app in (web,api)']);
    stop.abort();
  });
});
