/**
 * The canary's share set by an HTTPRoute (`canary-route`): before the first step, the route is recorded and each
 * stable Service it sends to gets a `<service>-canary` Service; each step then sets the weights (once the step's
 * canary pods are ready); at the end (abort, cancel, promotion) the recorded rules are put back exactly and the
 * canary Services deleted. Every write tests what it expects to find first (JSON Patch `test`), so a change someone
 * else made to the route meanwhile is never overwritten: it is said instead. The route's record goes to the post
 * step (`onRoute`), so a killed step's weights are restored too (`restoreRoute`).
 */
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { isStatus, type JsonPatchOp, type Kube, type KubeObject } from '../cluster/kube.js';
import { logRetry, retryingTransient } from '../cluster/retry.js';
import { messageOf } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import { objectKey } from '../desired/manifests.js';
import { refOf } from './apply.js';
import {
  canaryService,
  canaryShare,
  routeRef,
  routeServices,
  rulesOf,
  selects,
  weighedRules,
  type RouteRule,
  type ServiceName,
} from './canary-route.js';
import { same, type ObjectRecord } from './object-record.js';

/** What the post step needs to put a route's rules back: the rules before the canary and as kube-ship left them. */
export interface RouteRecord {
  /** `HTTPRoute namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  uid: string;
  /** `spec.rules` as read before the canary. */
  before: RouteRule[];
  /** `spec.rules` as stored by kube-ship's last write; undefined until one was answered. */
  written: RouteRule[] | undefined;
  /**
   * The rules of a write sent and not yet answered (saved before it is sent): if the step dies meanwhile, or the
   * answer is lost, the write may have landed, and the route then holds these.
   */
  pending?: RouteRule[];
  /**
   * `metadata.managedFields` as read before the canary: kube-ship's patches make it the owner of `spec.rules`, and
   * putting the rules back leaves it so; the owners are set back too (see `restoreOwners`).
   */
  managedFields?: unknown[];
}

/** What the canary's steps ask of the route. */
export interface CanaryTraffic {
  /** Before the first step: finds each stable Deployment's Service among the route's and makes its canary Service. */
  open(stables: V1Deployment[], run: string): Promise<void>;
  /** At each step, once its canary pods are ready: the canary Services' weights set to `percent`. */
  shift(percent: number, pods: { canary: number; stable: number }): Promise<void>;
  /** The canary Services made so far (created: the post step deletes them). */
  records(): ObjectRecord[];
  /** The recorded rules put back, then the canary Services deleted; returns what could not be done. */
  close(): Promise<string | undefined>;
}

/** How long a write may keep meeting errors that can pass (API server restarting, 429, 5xx). */
const RETRY_MS = 30_000;

const serviceRef = (namespace: string, name: string) => ({ apiVersion: 'v1', kind: 'Service', namespace, name });

/** The route's rules tested (its uid, and the rules `expected`) and replaced by `rules`. */
function rulesPatch(record: RouteRecord, expected: RouteRule[], rules: RouteRule[]): JsonPatchOp[] {
  return [
    { op: 'test', path: '/metadata/uid', value: record.uid },
    { op: 'test', path: '/spec/rules', value: expected },
    { op: 'replace', path: '/spec/rules', value: rules },
  ];
}

/**
 * Writes `rules` over `expected`; a write whose answer was lost and that landed (its test then fails on the retry)
 * is known by the live rules being `rules`. Returns the route as stored. A 422 means someone else changed it.
 */
async function writeRules(kube: Kube, record: RouteRecord, expected: RouteRule[], rules: RouteRule[], log: Log) {
  const ref = routeRef(record);
  let sent = false;
  const attempt = async (): Promise<KubeObject> => {
    try {
      const wasSent = sent;
      sent = true;
      if (wasSent) {
        const live = await kube.getObject(ref);
        if (live?.metadata.uid === record.uid && same(rulesOf(live), rules)) return live;
      }
      return await kube.patchObject(ref, rulesPatch(record, expected, rules));
    } catch (error) {
      if (isStatus(error, 422) || isStatus(error, 404)) {
        throw new Error(`${record.key} was changed or deleted by someone else meanwhile (${messageOf(error)})`);
      }
      throw error;
    }
  };
  return retryingTransient(attempt, Date.now() + RETRY_MS, logRetry(log, record.key));
}

/**
 * Puts a route's recorded rules back, if kube-ship's last write is still what it holds; returns a problem to report,
 * or undefined when the rules are as they were before the canary (restored now, or already).
 */
export async function restoreRoute(kube: Kube, record: RouteRecord, log: Log): Promise<string | undefined> {
  const fix = 'set its weights back by hand';
  // What kube-ship may have left: a write whose answer it never saw, else its last answered one.
  const left = [record.pending, record.written].filter(
    (rules): rules is RouteRule[] => rules !== undefined && !same(rules, record.before),
  );
  for (const expected of left) {
    try {
      const restored = await writeRules(kube, record, expected, record.before, log);
      log.info(`${record.key}: its recorded weights restored`);
      await restoreOwners(kube, record, restored, log);
      return undefined;
    } catch {
      // Not this: the next one, or said below from what the route holds now.
    }
  }
  const live = await retryingTransient(() => kube.getObject(routeRef(record)), Date.now() + RETRY_MS, logRetry(log));
  if (live === undefined || live.metadata.uid !== record.uid) return `${record.key}: deleted or replaced meanwhile`;
  if (same(rulesOf(live), record.before)) return undefined;
  return `${record.key}: its rules were changed by someone else since kube-ship set its weights; left as they are: ${fix}`;
}

/**
 * Sets the route's field owners back as recorded, in a patch of `managedFields` alone (the API server takes them as
 * sent only when nothing else changes), and only while the route is as kube-ship's restore left it: a write by
 * anyone since keeps its own ownership. A failure leaves kube-ship the owner of `spec.rules`, which is said.
 */
async function restoreOwners(kube: Kube, record: RouteRecord, restored: KubeObject, log: Log): Promise<void> {
  const owners = record.managedFields;
  if (owners === undefined) return;
  const ops: JsonPatchOp[] = [
    { op: 'test', path: '/metadata/uid', value: record.uid },
    { op: 'test', path: '/metadata/resourceVersion', value: restored.metadata.resourceVersion },
    { op: 'replace', path: '/metadata/managedFields', value: owners },
  ];
  try {
    await kube.patchObject(routeRef(record), ops);
  } catch (error) {
    log.info(`${record.key}: its field owners not set back (${messageOf(error)}); kube-ship stays owner of spec.rules`);
  }
}

/** A Service the route sends to that selects the stable Deployment's pods, and the canary Service made from it. */
interface Backend {
  stable: ServiceName;
  /** The stable Service as read when the route was opened: the canary's Service is made from it. */
  service: V1Service;
  made?: ObjectRecord;
}

/** The route's Services in `namespace` that select the pods of `deployment`. */
async function servicesOf(kube: Kube, route: KubeObject, deployment: V1Deployment, key: string): Promise<V1Service[]> {
  const namespace = deployment.metadata?.namespace ?? '';
  const names = routeServices(route, namespace);
  const labels = deployment.spec?.template.metadata?.labels ?? {};
  const found: V1Service[] = [];
  for (const name of names) {
    const service = (await kube.getObject(serviceRef(namespace, name))) as V1Service | undefined;
    if (service && selects(service, labels)) found.push(service);
  }
  if (found.length === 0) {
    const named = names.length > 0 ? `it sends to ${names.join(', ')}` : `it sends to no Service in ${namespace}`;
    throw new Error(
      `${key} sends to no Service that selects the pods of ${namespace}/${deployment.metadata?.name ?? ''} ` +
        `(${named}); name the route that carries its traffic`,
    );
  }
  return found;
}

/** Makes the canary Service of `stable`; throws when one exists that this run did not make. */
async function makeCanaryService(kube: Kube, stable: V1Service, run: string, log: Log): Promise<ObjectRecord> {
  const object = canaryService(stable, run);
  const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
  const foreign = (why: string) =>
    new Error(
      `Service ${key} ${why}: another deploy's canary is running, or a killed one left it; once no deploy runs ` +
        `on this route, delete it (kubectl delete service ${object.metadata.name} -n ${object.metadata.namespace ?? ''}) ` +
        'and deploy again',
    );
  if ((await kube.getObject(refOf(object))) !== undefined) throw foreign('already exists and this run did not make it');
  const apply = () => kube.applyObject(object, { dryRun: false, force: false });
  const { object: after, created } = await retryingTransient(apply, Date.now() + RETRY_MS, logRetry(log, key));
  if (!created) throw foreign('was made by someone else meanwhile');
  log.info(`Service ${key}: made for the canary (selects ${stable.metadata?.name ?? ''}'s selector and its track)`);
  return {
    key: objectKey(object),
    source: `canary of Service ${stable.metadata?.namespace ?? ''}/${stable.metadata?.name ?? ''}`,
    ref: refOf(object),
    created: true,
    before: undefined,
    applied: object,
    after,
  };
}

/** The canary's traffic through the HTTPRoute `route`; `onRoute` is told the route's record at each change. */
export function routeTraffic(
  kube: Kube,
  route: { namespace: string; name: string },
  log: Log,
  onRoute: (record: RouteRecord) => void = () => undefined,
): CanaryTraffic {
  const key = `HTTPRoute ${route.namespace}/${route.name}`;
  const backends: Backend[] = [];
  let record: RouteRecord | undefined;
  let closed: Promise<string | undefined> | undefined;

  return {
    async open(stables, run) {
      const live = await kube.getObject(routeRef(route));
      if (live === undefined) throw new Error(`${key} does not exist (canary-route)`);
      for (const deployment of stables) {
        for (const service of await servicesOf(kube, live, deployment, key)) {
          const stable = { namespace: service.metadata?.namespace ?? '', name: service.metadata?.name ?? '' };
          if (!backends.some((b) => b.stable.namespace === stable.namespace && b.stable.name === stable.name)) {
            backends.push({ stable, service });
          }
        }
      }
      const before = rulesOf(live);
      // Refused before anything is made: the route already names a canary Service, or a weight would not fit.
      backends.reduce((rules, b) => weighedRules(rules, b.stable, route.namespace, 99), before);
      record = {
        key,
        namespace: route.namespace,
        name: route.name,
        uid: live.metadata.uid ?? '',
        before,
        written: undefined,
        ...(Array.isArray(live.metadata.managedFields) ? { managedFields: live.metadata.managedFields } : {}),
      };
      onRoute(record);
      for (const backend of backends) backend.made = await makeCanaryService(kube, backend.service, run, log);
    },

    async shift(percent, pods) {
      if (record === undefined) throw new Error(`${key}: not recorded before its weights were set`);
      const current = record;
      const rules = backends.reduce((r, b) => weighedRules(r, b.stable, route.namespace, percent), current.before);
      current.pending = rules;
      onRoute(current);
      current.written = rulesOf(await writeRules(kube, current, current.written ?? current.before, rules, log));
      delete current.pending;
      onRoute(current);
      const share = Math.round(canaryShare(percent, pods.canary, pods.stable));
      for (const { stable } of backends) {
        log.info(
          `${key}: ${stable.name} weighs ${100 - percent}, ${stable.name}-canary ${percent}; ${stable.name} also ` +
            `selects the canary's ${pods.canary} pod(s), so they get about ${share}% of what the route sent to ${stable.name}`,
        );
      }
    },

    records: () => backends.flatMap((b) => (b.made ? [b.made] : [])),

    close() {
      closed ??= (async () => {
        const problems: string[] = [];
        if (record !== undefined) {
          const left = await restoreRoute(kube, record, log).catch((error: unknown) => `${key}: ${messageOf(error)}`);
          if (left !== undefined) problems.push(left);
        }
        for (const { made } of backends) {
          if (made === undefined) continue;
          try {
            const uid = made.after.metadata.uid ?? '';
            await retryingTransient(() => kube.deleteObject(made.ref, uid), Date.now() + RETRY_MS, logRetry(log));
            log.info(`${made.key}: deleted (the canary's Service)`);
          } catch (error) {
            if (!isStatus(error, 404) && !isStatus(error, 409)) problems.push(`${made.key}: ${messageOf(error)}`);
          }
        }
        return problems.length > 0 ? problems.join('; ') : undefined;
      })();
      return closed;
    },
  };
}
