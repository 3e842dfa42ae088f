/**
 * The real Kubernetes adapter, on @kubernetes/client-node. It turns ApiException into KubeError (status and the
 * Status message only: client-node's own message embeds headers and body, which may carry tokens) and watches each
 * target's own objects with the informer of kube-watch.ts: the workload by name, its ReplicaSets (a Deployment) or
 * ControllerRevisions (a StatefulSet, a DaemonSet) and its pods by its label selector; targets watched at once in one
 * namespace share one informer per kind (shared-watch.ts). Every request goes on one connection (connection.ts).
 */
import {
  AppsV1Api,
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  Observable,
  type KubernetesObject,
  type ObservableMiddleware,
  type V1Job,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { sleep } from '../lib/deadline.js';
import { shareConnection } from './connection.js';
import { objectClient } from './kube-objects.js';
import { inform, toKubeError, type InformerOptions, type ListResult, type Source } from './kube-watch.js';
import { sharedObserve, sourceOf, type Plan } from './shared-watch.js';
import type { AccessCheck, JobState, JsonPatchOp, Kube, WorkloadRef } from './kube.js';
import type { Workload } from './workload.js';
import { ruleGrants, type ResourceRule } from './access.js';

/** How long one request may take before it is abandoned (an API server that accepts and never answers). */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Lists may be large: a little longer. */
export const LIST_TIMEOUT_MS = 30_000;

/** Per-request options that abort the request after `ms`, or when `signal` aborts. */
function bounded(ms: number, signal?: AbortSignal) {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      const timeout = AbortSignal.timeout(ms);
      context.setSignal(signal ? AbortSignal.any([signal, timeout]) : timeout);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' as const };
}

/** A 429 means the API server did not process the request: it is sent again, as Retry-After asks, this often. */
const THROTTLED_ATTEMPTS = 6;

/** How a request is sent: its time limit, the wait before a 429 is sent again, what to do when nobody answered. */
interface Sending {
  ms: number;
  pause: (ms: number) => Promise<void>;
  /** The request got no answer in time: the connection may be dead, the next request dials anew. */
  unanswered: () => void;
}

async function call<T>(
  what: string,
  request: (options: ReturnType<typeof bounded>) => Promise<T>,
  { ms, pause, unanswered }: Sending,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await request(bounded(ms));
    } catch (error) {
      if ((error as { name?: string } | null)?.name === 'TimeoutError') {
        unanswered();
        throw toKubeError(new Error(`no answer within ${ms / 1000}s`), what);
      }
      const failure = toKubeError(error, what);
      if (failure.status !== 429 || attempt >= THROTTLED_ATTEMPTS) throw failure;
      await pause(Math.min(failure.retryAfterMs ?? 1000, 5000) || 250);
    }
  }
}

export interface KubeOptions extends InformerOptions {
  /** Limit of one request (lists get twice as long). */
  requestTimeoutMs?: number;
  /** Waits before a request is sent again (a 429) or a watch retried; tests pass one that records the wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function createKube(config: KubeConfig, options: KubeOptions = {}): Kube {
  const requestMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const listMs = options.requestTimeoutMs === undefined ? LIST_TIMEOUT_MS : 2 * options.requestTimeoutMs;
  const pause = options.sleep ?? sleep;
  const connection = shareConnection(config);
  const unanswered = (): void => connection.redial();
  const request = <T>(what: string, fn: (o: ReturnType<typeof bounded>) => Promise<T>): Promise<T> =>
    call(what, fn, { ms: requestMs, pause, unanswered });
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const authz = config.makeApiClient(AuthorizationV1Api);
  const networking = config.makeApiClient(NetworkingV1Api);

  return {
    server: config.getCurrentCluster()?.server ?? '',
    ...objectClient(config, requestMs, unanswered),

    ...workloadClient(apps, request),

    listPods: async (namespace, selector) =>
      (
        await call(
          `list pods in ${namespace} (${selector})`,
          (o) => core.listNamespacedPod({ namespace, labelSelector: selector }, o),
          { ms: listMs, pause, unanswered },
        )
      ).items,

    deletePod: async (namespace, name, uid) => {
      await request(`delete pod ${namespace}/${name}`, (o) =>
        core.deleteNamespacedPod({ name, namespace, body: { preconditions: { uid } } }, o),
      );
    },

    canI: accessReviews(authz, request),

    observe: observeWith({ config, apps, core, listMs, options: { unanswered, ...options } }),

    observeJob: observeJobWith(config, config.makeApiClient(BatchV1Api), core, listMs, { unanswered, ...options }),

    listServices: async (namespace) =>
      (await request(`list services in ${namespace}`, (o) => core.listNamespacedService({ namespace }, o))).items,

    listIngresses: async (namespace) =>
      (await request(`list ingresses in ${namespace}`, (o) => networking.listNamespacedIngress({ namespace }, o)))
        .items,

    async listEvents(namespace, name) {
      const list = await request(`list events in ${namespace}`, (o) =>
        core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` }, o),
      );
      const time = (e: (typeof list.items)[number]): number =>
        new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
      return [...list.items].sort((a, b) => time(a) - time(b));
    },

    readLog: ({ namespace, pod, container, previous, tailLines, limitBytes }) =>
      request(`read log of ${namespace}/${pod}/${container}`, (o) =>
        core.readNamespacedPodLog({ name: pod, namespace, container, previous, tailLines, limitBytes }, o),
      ),
  };
}

/** What watching needs of the client: the kubeconfig (for watches), the API groups (for lists), the limits. */
interface WatchClient {
  config: KubeConfig;
  apps: AppsV1Api;
  core: CoreV1Api;
  listMs: number;
  options: KubeOptions;
}

/**
 * `observe` on the real API: list + watch every kind the targets need, one informer per kind per namespace shared by
 * the targets watched there at once (shared-watch.ts), each target's state kept current from them.
 */
function observeWith({ config, apps, core, listMs, options }: WatchClient): Kube['observe'] {
  const list = (plan: Plan, signal: AbortSignal): Promise<ListResult> => {
    const { namespace, query } = plan;
    const o = bounded(listMs, signal);
    if (plan.resource === 'pods') return core.listNamespacedPod({ namespace, ...query }, o);
    if (plan.resource === 'replicasets') return apps.listNamespacedReplicaSet({ namespace, ...query }, o);
    if (plan.resource === 'controllerrevisions')
      return apps.listNamespacedControllerRevision({ namespace, ...query }, o);
    if (plan.resource === 'statefulsets') return apps.listNamespacedStatefulSet({ namespace, ...query }, o);
    if (plan.resource === 'daemonsets') return apps.listNamespacedDaemonSet({ namespace, ...query }, o);
    return apps.listNamespacedDeployment({ namespace, ...query }, o);
  };
  return sharedObserve((plan, store, changed, signal) =>
    inform(
      config,
      sourceOf(plan, (s) => list(plan, s)),
      store,
      changed,
      signal,
      options,
    ),
  );
}

/** `observeJob` on the real API: the Job by name and its pods by the controller's uid label, listed and watched. */
function observeJobWith(
  config: KubeConfig,
  batch: BatchV1Api,
  core: CoreV1Api,
  listMs: number,
  options: KubeOptions,
): Kube['observeJob'] {
  return async ({ namespace, name, uid }, onChange, signal) => {
    const state: JobState = { pods: new Map() };
    const jobs = new Map<string, KubernetesObject>();
    const byName = { fieldSelector: `metadata.name=${name}` };
    const byUid = { labelSelector: `batch.kubernetes.io/controller-uid=${uid}` };
    const sources: [Source, Map<string, KubernetesObject>][] = [
      [
        {
          what: `job ${namespace}/${name}`,
          path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
          query: byName,
          list: (s) => batch.listNamespacedJob({ namespace, ...byName }, bounded(listMs, s)),
        },
        jobs,
      ],
      [
        {
          what: `pods of job ${namespace}/${name}`,
          path: `/api/v1/namespaces/${namespace}/pods`,
          query: byUid,
          list: (s) => core.listNamespacedPod({ namespace, ...byUid }, bounded(listMs, s)),
        },
        state.pods as Map<string, KubernetesObject>,
      ],
    ];
    const listed = new Set<string>();
    const local = new AbortController();
    const stop = (): void => local.abort();
    signal.addEventListener('abort', stop, { once: true });
    const changed = (path: string) => (): void => {
      listed.add(path);
      state.job = jobs.get(name) as V1Job | undefined;
      if (listed.size === sources.length) onChange(state);
    };
    try {
      await Promise.all(
        sources.map(([source, store]) =>
          inform(config, source, store, changed(source.what), local.signal, options).catch(
            (error: unknown) => (stop(), Promise.reject(error)),
          ),
        ),
      );
    } finally {
      signal.removeEventListener('abort', stop);
      stop();
    }
  };
}

/** A request bounded by the client's timeout and retried on 429 (`call`). */
type Requester = <T>(what: string, fn: (o: ReturnType<typeof bounded>) => Promise<T>) => Promise<T>;

/** What a namespace's SelfSubjectRulesReview said: the rules, and whether they are all the identity may do. */
interface Rules {
  rules: ResourceRule[];
  complete: boolean;
}

/**
 * `canI` with one SelfSubjectRulesReview per namespace, asked once (at the first check of that namespace) and shared
 * by every check there: a permission its rules grant is granted. Where the answer is incomplete (an authorizer that
 * cannot list rules, such as a webhook, may grant more), or the review itself failed, what the rules do not grant
 * is asked with a SelfSubjectAccessReview, as is every cluster-wide check (no namespace).
 */
function accessReviews(authz: AuthorizationV1Api, request: Requester): Kube['canI'] {
  const reviews = new Map<string, Promise<Rules>>();
  const rulesIn = (namespace: string): Promise<Rules> => {
    let review = reviews.get(namespace);
    if (review === undefined) {
      review = request('create selfsubjectrulesreview', (o) =>
        authz.createSelfSubjectRulesReview(
          {
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectRulesReview',
              spec: { namespace },
            },
          },
          o,
        ),
      ).then(
        ({ status }) => ({
          rules: status?.resourceRules ?? [],
          complete: status !== undefined && !status.incomplete && !status.evaluationError,
        }),
        () => ({ rules: [], complete: false }),
      );
      reviews.set(namespace, review);
    }
    return review;
  };
  const accessReview = async (namespace: string, check: AccessCheck): Promise<boolean> => {
    const review = await request('create selfsubjectaccessreview', (o) =>
      authz.createSelfSubjectAccessReview(
        {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { namespace, ...check } },
          },
        },
        o,
      ),
    );
    return review.status?.allowed === true;
  };
  return async (namespace, check) => {
    if (namespace === '') return accessReview(namespace, check);
    const { rules, complete } = await rulesIn(namespace);
    if (rules.some((rule) => ruleGrants(rule, check))) return true;
    return complete ? false : accessReview(namespace, check);
  };
}

/** Reading and patching the three workload kinds. */
function workloadClient(apps: AppsV1Api, request: Requester): Pick<Kube, 'getWorkload' | 'patchWorkload'> {
  return {
    getWorkload: ({ kind, namespace, name }) =>
      request(`get ${kind} ${namespace}/${name}`, (o): Promise<Workload> => {
        if (kind === 'statefulset') return apps.readNamespacedStatefulSet({ name, namespace }, o);
        if (kind === 'daemonset') return apps.readNamespacedDaemonSet({ name, namespace }, o);
        return apps.readNamespacedDeployment({ name, namespace }, o);
      }),

    patchWorkload: ({ kind, namespace, name }: WorkloadRef, ops: JsonPatchOp[], options = {}) =>
      request(`patch ${kind} ${namespace}/${name}`, (o): Promise<Workload> => {
        const dryRun = options.dryRun ? { dryRun: 'All' } : {};
        const body = { name, namespace, body: ops, fieldManager: 'kube-ship', ...dryRun };
        if (kind === 'statefulset') return apps.patchNamespacedStatefulSet(body, o);
        if (kind === 'daemonset') return apps.patchNamespacedDaemonSet(body, o);
        return apps.patchNamespacedDeployment(body, o);
      }),
  };
}
