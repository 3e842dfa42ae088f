/**
 * Canary shares by an HTTPRoute (`canary-route`): the input, the route's rules at a step, the canary's Service, the
 * share that results, and the route's weights set, restored and left alone on the fake Kube.
 */
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseCanary } from '../../src/desired/canary.js';
import { parseCanaryRoute } from '../../src/desired/canary-route.js';
import { canaryService, canaryShare, weighedRules, type RouteRule } from '../../src/deploy/canary-route.js';
import { restoreRoute, routeTraffic, type CanaryTraffic, type RouteRecord } from '../../src/deploy/canary-traffic.js';
import { runCanary, type CanaryWatch } from '../../src/deploy/canary-run.js';
import type { Verdict } from '../../src/deploy/verdict.js';
import type { WaitItem, WaitResult } from '../../src/deploy/wait.js';
import { KubeError, type KubeObject } from '../../src/cluster/kube.js';
import { checkCanaryRoute } from '../../src/steps/check-canary-route.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

describe('the input canary-route', () => {
  it.each([
    ['', '10%', undefined],
    ['web', '10%', { namespace: undefined, name: 'web' }],
    ['gateways/web', '10%, 50%', { namespace: 'gateways', name: 'web' }],
  ])('%j with canary %j is %j', (raw, canary, route) => {
    expect(parseCanaryRoute(raw, parseCanary(canary))).toEqual(route);
  });

  it.each([
    ['a/b/c', '10%', '"a/b/c" is not an HTTPRoute\'s [NAMESPACE/]NAME'],
    ['Web', '10%', '"Web" is not an HTTPRoute\'s [NAMESPACE/]NAME'],
    ['web', '', '`canary` is empty'],
    ['web', '1', 'write its steps as shares'],
  ])('%j with canary %j is refused, naming the input: %s', (raw, canary, message) => {
    const parse = () => parseCanaryRoute(raw, parseCanary(canary));
    expect(parse).toThrow(/^Input "canary-route": /);
    expect(parse).toThrow(message);
  });
});

const web = { namespace: 'ns', name: 'web' };
const ref = (name: string, weight?: number) => ({
  group: '',
  kind: 'Service',
  name,
  port: 80,
  ...(weight ? { weight } : {}),
});

describe("the route's rules at a step", () => {
  it.each<[string, RouteRule[], number, RouteRule[]]>([
    [
      'the Service alone',
      [{ backendRefs: [ref('web')] }],
      10,
      [{ backendRefs: [ref('web', 90), ref('web-canary', 10)] }],
    ],
    [
      'beside another backend, whose part stays',
      [{ backendRefs: [ref('web', 3), ref('old', 1)] }],
      20,
      [{ backendRefs: [ref('web', 240), ref('web-canary', 60), ref('old', 100)] }],
    ],
    [
      'a rule without the Service is left as it is',
      [{ matches: [{ path: { value: '/a' } }], backendRefs: [ref('web')] }, { backendRefs: [ref('other')] }],
      50,
      [
        { matches: [{ path: { value: '/a' } }], backendRefs: [ref('web', 50), ref('web-canary', 50)] },
        { backendRefs: [ref('other')] },
      ],
    ],
    [
      'a Service of another namespace is not it',
      [{ backendRefs: [{ ...ref('web'), namespace: 'other' }] }],
      10,
      [{ backendRefs: [{ ...ref('web'), namespace: 'other' }] }],
    ],
  ])('%s', (_, rules, percent, weighed) => {
    expect(weighedRules(rules, web, 'ns', percent)).toEqual(weighed);
  });

  it("refuses a route that already sends to the canary's Service, and a weight past the limit", () => {
    expect(() => weighedRules([{ backendRefs: [ref('web'), ref('web-canary')] }], web, 'ns', 10)).toThrow(
      'a rule already sends to web-canary',
    );
    expect(() => weighedRules([{ backendRefs: [ref('web', 20_000)] }], web, 'ns', 10)).toThrow(
      "would pass the Gateway API's limit of 1000000",
    );
  });
});

const stableService: V1Service = {
  metadata: { name: 'web', namespace: 'ns', uid: 'uid-svc', labels: { owner: 'me' } },
  spec: {
    type: 'LoadBalancer',
    clusterIP: '10.0.0.1',
    selector: { app: 'web' },
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }],
  },
};

describe("the canary's Service", () => {
  it("selects the stable Service's pods that carry the canary's track, on the same ports, and nothing else", () => {
    expect(canaryService(stableService, 'r1')).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'web-canary',
        namespace: 'ns',
        labels: { 'kube-ship.dev/track': 'canary' },
        annotations: { 'kube-ship.dev/canary-of': 'web', 'kube-ship.dev/canary-run': 'r1' },
      },
      spec: {
        type: 'ClusterIP',
        selector: { app: 'web', 'kube-ship.dev/track': 'canary' },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    });
  });

  it.each([
    [10, 1, 4, 28], // 10 + 90 x 1/5
    [50, 4, 4, 75],
    [10, 0, 4, 10],
  ])('a step of %i percent with %i canary pods beside %i stable ones gives the canary %i percent', (p, c, n, share) => {
    expect(canaryShare(p, c, n)).toBe(share);
  });
});

const OWNERS = [
  { manager: 'kubectl-client-side-apply', operation: 'Update', fieldsV1: { 'f:spec': { 'f:rules': {} } } },
];
const RULES: RouteRule[] = [{ backendRefs: [ref('web', 1)] }, { backendRefs: [ref('elsewhere', 1)] }];

/** The fake holding the route `ns/web` sending to the Service `ns/web`, and the stable Deployment it selects. */
function routed(): FakeKube {
  const kube = new FakeKube();
  const route: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: 'ns', uid: 'uid-route', resourceVersion: '1', managedFields: OWNERS },
    spec: { rules: structuredClone(RULES) },
  };
  kube.objects.set('HTTPRoute ns/web', route);
  kube.objects.set('Service ns/web', { apiVersion: 'v1', kind: 'Service', ...stableService } as KubeObject);
  return kube;
}

const deployment: V1Deployment = {
  metadata: { name: 'web', namespace: 'ns' },
  spec: { selector: {}, template: { metadata: { labels: { app: 'web', tier: 'fe' } } } },
};

const rulesOf = (kube: FakeKube) => (kube.objects.get('HTTPRoute ns/web')?.spec as { rules: RouteRule[] }).rules;
const weights = (kube: FakeKube) => rulesOf(kube)[0]?.backendRefs?.map((b) => `${b.name}=${b.weight}`);

describe('the canary traffic through the route', () => {
  it('makes the Service, sets each step over what it wrote, then puts the rules back and deletes the Service', async () => {
    const kube = routed();
    const saved: RouteRecord[] = [];
    const traffic = routeTraffic(kube, web, recordingLog(), (r) => saved.push(structuredClone(r)));
    await traffic.open([deployment], 'r1');
    expect(kube.objects.has('Service ns/web-canary')).toBe(true);
    expect(traffic.records().map((r) => [r.key, r.created])).toEqual([['Service ns/web-canary', true]]);
    expect(saved).toEqual([
      { key: 'HTTPRoute ns/web', ...web, uid: 'uid-route', before: RULES, written: undefined, managedFields: OWNERS },
    ]);

    await traffic.shift(10, { canary: 1, stable: 4 });
    expect(weights(kube)).toEqual(['web=90', 'web-canary=10']);
    await traffic.shift(50, { canary: 4, stable: 4 });
    expect(weights(kube)).toEqual(['web=50', 'web-canary=50']);
    // Each write tests the uid and the rules it last wrote: never over someone else's change.
    expect(kube.objectPatches[1]?.ops.slice(0, 2)).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'uid-route' },
      { op: 'test', path: '/spec/rules', value: saved[2]?.written },
    ]);
    // Each write's rules are saved before it is sent (a write whose answer is lost may have landed), then answered.
    expect(saved[1]).toMatchObject({ written: undefined, pending: saved[2]?.written });
    expect(saved[2]?.pending).toBeUndefined();
    expect(saved.at(-1)?.written).toEqual(rulesOf(kube));

    kube.objects.get('HTTPRoute ns/web')!.metadata.managedFields = [{ manager: 'kube-ship', operation: 'Update' }];
    expect(await traffic.close()).toBeUndefined();
    expect(rulesOf(kube)).toEqual(RULES);
    // Then the field owners, alone, and only over the route as the restore left it.
    const restored = kube.objectPatches[2];
    expect(kube.objectPatches[3]?.ops).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'uid-route' },
      // The version the rules' restore left (the fake counts one per write).
      {
        op: 'test',
        path: '/metadata/resourceVersion',
        value: String(Number(kube.objects.get('HTTPRoute ns/web')?.metadata.resourceVersion) - 1),
      },
      { op: 'replace', path: '/metadata/managedFields', value: OWNERS },
    ]);
    expect(restored?.ops.at(-1)).toEqual({ op: 'replace', path: '/spec/rules', value: RULES });
    expect(kube.objects.get('HTTPRoute ns/web')?.metadata.managedFields).toEqual(OWNERS);
    expect(kube.deleted).toEqual(['Service ns/web-canary']);
    expect(await traffic.close()).toBeUndefined();
    expect(kube.objectPatches).toHaveLength(4);
  });

  it('puts the rules back after a write that landed but whose answer never came (the step killed meanwhile)', async () => {
    const kube = routed();
    const landed = weighedRules(RULES, web, 'ns', 10);
    kube.editObject('HTTPRoute ns/web', (o) => ((o.spec as { rules: RouteRule[] }).rules = structuredClone(landed)));
    const record: RouteRecord = {
      key: 'HTTPRoute ns/web',
      ...web,
      uid: 'uid-route',
      before: RULES,
      written: undefined,
      pending: landed,
    };
    expect(await restoreRoute(kube, record, recordingLog())).toBeUndefined();
    expect(rulesOf(kube)).toEqual(RULES);
  });

  it("leaves rules someone else changed meanwhile, says so, and deletes the canary's Service all the same", async () => {
    const kube = routed();
    const traffic = routeTraffic(kube, web, recordingLog());
    await traffic.open([deployment], 'r1');
    await traffic.shift(10, { canary: 1, stable: 4 });
    kube.editObject('HTTPRoute ns/web', (o) => {
      (o.spec as { rules: RouteRule[] }).rules[0]!.backendRefs![0]!.weight = 70;
    });
    expect(await traffic.close()).toBe(
      'HTTPRoute ns/web: its rules were changed by someone else since kube-ship set its weights; left as they are: ' +
        'set its weights back by hand',
    );
    expect(weights(kube)).toEqual(['web=70', 'web-canary=10']);
    expect(kube.deleted).toEqual(['Service ns/web-canary']);
  });

  it('refuses a route that sends to no Service selecting the pods, and a canary Service it did not make', async () => {
    const kube = routed();
    const other = { ...deployment, spec: { selector: {}, template: { metadata: { labels: { app: 'api' } } } } };
    await expect(routeTraffic(kube, web, recordingLog()).open([other], 'r1')).rejects.toThrow(
      'HTTPRoute ns/web sends to no Service that selects the pods of ns/web (it sends to web, elsewhere)',
    );
    kube.objects.set('Service ns/web-canary', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-canary' } });
    await expect(routeTraffic(kube, web, recordingLog()).open([deployment], 'r1')).rejects.toThrow(
      'Service ns/web-canary already exists and this run did not make it',
    );
    expect(kube.objectPatches).toEqual([]);
  });
});

describe('the post step on a route', () => {
  const record = (written: RouteRule[] | undefined): RouteRecord => ({
    key: 'HTTPRoute ns/web',
    ...web,
    uid: 'uid-route',
    before: RULES,
    written,
  });

  it('puts back the rules kube-ship wrote, and has nothing to do when they are as before', async () => {
    const kube = routed();
    const traffic = routeTraffic(kube, web, recordingLog());
    await traffic.open([deployment], 'r1');
    await traffic.shift(10, { canary: 1, stable: 4 });
    const log = recordingLog();
    expect(await restoreRoute(kube, record(rulesOf(kube)), log)).toBeUndefined();
    expect(rulesOf(kube)).toEqual(RULES);
    expect(await restoreRoute(kube, record(undefined), log)).toBeUndefined();
    expect(kube.objectPatches).toHaveLength(2);
  });

  it('says a route deleted or replaced since', async () => {
    const kube = routed();
    kube.objects.get('HTTPRoute ns/web')!.metadata.uid = 'uid-new';
    expect(await restoreRoute(kube, record(RULES), recordingLog())).toBe(
      'HTTPRoute ns/web: deleted or replaced meanwhile',
    );
  });
});

describe('the preflight of canary-route', () => {
  it('resolves the namespace from the Deployments, and passes with the route, its Service and the access', async () => {
    expect(await checkCanaryRoute(routed(), { namespace: undefined, name: 'web' }, ['ns'], 'default')).toEqual(web);
  });

  it('names every problem at once: the access missing, and a route that sends to no Service of the namespace', async () => {
    const kube = routed();
    kube.denied.add('create services');
    kube.denied.add('delete services');
    const check = checkCanaryRoute(kube, { namespace: 'ns', name: 'web' }, ['ns', 'other'], 'default');
    await expect(check).rejects.toThrow(
      'Preflight failed:\n' +
        "- canary-route: the kubeconfig's identity may not create services, delete services in namespace ns; " +
        `grant them with a Role bound to it (see the README's "Permissions")\n` +
        "- canary-route: the kubeconfig's identity may not create services, delete services in namespace other; " +
        `grant them with a Role bound to it (see the README's "Permissions")\n` +
        '- canary-route: HTTPRoute ns/web sends to no Service in namespace other, where the canaried Deployment is; ' +
        'name the route that carries its traffic',
    );
  });

  it('says a route that does not exist, and a cluster that serves no HTTPRoute', async () => {
    const kube = routed();
    await expect(checkCanaryRoute(kube, { namespace: 'ns', name: 'api' }, ['ns'], 'default')).rejects.toThrow(
      'canary-route: HTTPRoute ns/api does not exist; check its name and namespace',
    );
    kube.kindInfo = async () => {
      throw new KubeError(404, 'the cluster serves no HTTPRoute in gateway.networking.k8s.io/v1', 'NotFound');
    };
    await expect(checkCanaryRoute(kube, { namespace: 'ns', name: 'web' }, ['ns'], 'default')).rejects.toThrow(
      "canary-route: the cluster serves no HTTPRoute (gateway.networking.k8s.io/v1); install the Gateway API's CRDs",
    );
  });
});

/** What each wait of the steps was, in order (`ready` or `wait`), with the verdict `verdicts` gives its number. */
function orderedWatch(verdicts: (n: number) => Verdict, events: string[]): CanaryWatch {
  const answer = (what: string) => async (items: WaitItem[]) => {
    events.push(what);
    const verdict = verdicts(events.filter((e) => e === 'ready' || e === 'wait').length);
    const result: WaitResult = {
      verdicts: new Map(items.map((i) => [i.key, verdict])),
      workloads: new Map(),
      rolledOutAt: new Map(),
      finishedAt: new Map(),
      restarts: new Map(),
      states: new Map(),
      checks: [],
    };
    return result;
  };
  return { wait: answer('wait'), ready: answer('ready'), evidence: async () => [] };
}

describe('the canary steps with a route', () => {
  const request = (kube: FakeKube, events: string[]) => {
    kube.addDeployment('web', 'reg/web:v1', 4);
    const traffic: CanaryTraffic = {
      open: async () => void events.push('open'),
      shift: async (percent, pods) => void events.push(`shift ${percent} ${pods.canary}/${pods.stable}`),
      records: () => [],
      close: async () => void events.push('close'),
    };
    return {
      steps: parseCanary('10%, 50%'),
      targets: [
        { kind: 'deployment' as const, namespace: 'ns', name: 'web', containers: [], input: 'deployments' as const },
      ],
      image: 'reg/web',
      digest: 'sha256:b',
      reference: 'reg/web:v2@sha256:b',
      changeCause: 'why',
      traffic,
    };
  };
  const done: Verdict = { state: 'done', message: 'rolled out' };
  const crashed: Verdict = { state: 'failed', reason: 'CrashLoopBackOff', message: 'pod web-canary-x crashed' };

  it("set the weights only once a step's canary pods are ready, then bake and check; the route is closed first", async () => {
    const kube = new FakeKube();
    const events: string[] = [];
    const run = await runCanary(
      kube,
      request(kube, events),
      orderedWatch(() => done, events),
      recordingLog(),
    );
    expect(run.failure).toBeUndefined();
    expect(events).toEqual(['open', 'ready', 'shift 10 1/4', 'wait', 'ready', 'shift 50 4/4', 'wait']);
    await run.remove();
    expect(events.at(-1)).toBe('close');
    expect(kube.deleted).toEqual(['Deployment ns/web-canary']);
  });

  it('never send requests to a canary whose pods never became ready', async () => {
    const kube = new FakeKube();
    const events: string[] = [];
    const watch = orderedWatch((n) => (n === 1 ? crashed : done), events);
    const run = await runCanary(kube, request(kube, events), watch, recordingLog());
    expect(run.failure).toBe('canary 10%: ns/web-canary: CrashLoopBackOff: pod web-canary-x crashed');
    expect(events).toEqual(['open', 'ready']);
  });
});
