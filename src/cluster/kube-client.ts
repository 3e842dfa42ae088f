/**
 * The real Kubernetes adapter: requests as plain JSON (api.ts) on one connection to the API server (transport.ts),
 * every failure a KubeError (status and the Status message only: headers and bodies may carry tokens). It watches
 * each target's own objects with the informer of kube-watch.ts: the workload by name, its ReplicaSets (a Deployment)
 * or ControllerRevisions (a StatefulSet, a DaemonSet) and its pods by its label selector; targets watched at once in
 * one namespace share one informer per kind (shared-watch.ts); a Deployment watched alone, only its new ReplicaSet's
 * pods while that is enough (lean-watch.ts).
 */
import type { CoreV1Event, KubernetesObject, V1Ingress, V1Job, V1Pod, V1Service } from '@kubernetes/client-node';
import { Api, HttpError, LIST_TIMEOUT_MS, REQUEST_TIMEOUT_MS, resourcePath, toKubeError, withQuery } from './api.js';
import type { ClientConfig } from './client-config.js';
import { objectClient } from './kube-objects.js';
import { inform, type InformerOptions, type Source } from './kube-watch.js';
import { onceByKey } from '../lib/once.js';
import type { ReadPlan } from './lean-watch.js';
import { sharedObserve, sourceOf } from './shared-watch.js';
import type { AccessCheck, JobState, JsonPatchOp, Kube, WorkloadRef } from './kube.js';
import { resourceOf, type Workload } from './workload.js';
import { ruleGrants, type ResourceRule } from './access.js';
import { openTransport } from './transport.js';

export { LIST_TIMEOUT_MS, REQUEST_TIMEOUT_MS };

export interface KubeOptions extends InformerOptions {
  /** Limit of one request (lists get twice as long). */
  requestTimeoutMs?: number;
  /** Waits before a request is sent again (a 429) or a watch retried; tests pass one that records the wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** false: every kind is listed, then watched (no streaming lists: a server known not to have them). */
  streamingLists?: boolean;
  /** false: a Deployment waited on alone gets the full watch too (see lean-watch.ts). */
  leanWatch?: boolean;
}

interface List<T> {
  items: T[];
}

const core = (namespace: string, resource: string): string => resourcePath('v1', resource, namespace);

/** A plan's objects, listed once (lean-watch.ts lists a Deployment's ReplicaSets so). */
function readPlanWith(api: Api): ReadPlan {
  return async (plan, signal) => {
    const source = sourceOf(plan);
    const call = { path: source.path, query: source.query };
    return (await api.read<List<KubernetesObject>>(`list ${source.what}`, call, { ms: api.listMs, signal })).items;
  };
}

export function createKube(config: ClientConfig, options: KubeOptions = {}): Kube {
  const transport = openTransport(config);
  const api = new Api(transport, {
    requestMs: options.requestTimeoutMs,
    listMs: options.requestTimeoutMs === undefined ? LIST_TIMEOUT_MS : 2 * options.requestTimeoutMs,
    sleep: options.sleep,
    streamingLists: options.streamingLists,
  });
  const informing: KubeOptions = { unanswered: () => transport.redial(), ...options };

  return {
    server: transport.server,
    ...objectClient(api),

    ...workloadClient(api),

    listPods: async (namespace, selector) =>
      (
        await api.read<List<V1Pod>>(
          `list pods in ${namespace} (${selector})`,
          { path: core(namespace, 'pods'), query: { labelSelector: selector } },
          { ms: api.listMs },
        )
      ).items,

    deletePod: async (namespace, name, uid) => {
      await api.json(`delete pod ${namespace}/${name}`, {
        method: 'DELETE',
        path: resourcePath('v1', 'pods', namespace, name),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } },
      });
    },

    canI: accessReviews(api),

    observe: sharedObserve(
      (plan, store, changed, signal) => inform(api, sourceOf(plan), store, changed, signal, informing),
      options.leanWatch === false ? undefined : readPlanWith(api),
    ),

    observeJob: observeJobWith(api, informing),

    listServices: async (namespace) =>
      (await api.read<List<V1Service>>(`list services in ${namespace}`, { path: core(namespace, 'services') })).items,

    listIngresses: async (namespace) =>
      (
        await api.read<List<V1Ingress>>(`list ingresses in ${namespace}`, {
          path: resourcePath('networking.k8s.io/v1', 'ingresses', namespace),
        })
      ).items,

    async listEvents(namespace, name) {
      const list = await api.read<List<CoreV1Event>>(`list events in ${namespace}`, {
        path: core(namespace, 'events'),
        query: { fieldSelector: `involvedObject.name=${name}` },
      });
      const time = (e: CoreV1Event): number =>
        new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
      return [...list.items].sort((a, b) => time(a) - time(b));
    },

    async readLog({ namespace, pod, container, previous, tailLines, limitBytes }) {
      const path = withQuery(`${resourcePath('v1', 'pods', namespace, pod)}/log`, {
        container,
        previous: previous || undefined,
        tailLines,
        limitBytes,
      });
      const reply = await api.raw(`read log of ${namespace}/${pod}/${container}`, path, {
        ms: api.requestMs,
        limit: Infinity,
      });
      if (reply.status >= 200 && reply.status <= 299) return reply.body;
      throw toKubeError(
        new HttpError(reply.status, reply.body, reply.headers),
        `read log of ${namespace}/${pod}/${container}`,
      );
    },
  };
}

/** `observeJob` on the real API: the Job by name and its pods by the controller's uid label, listed and watched. */
function observeJobWith(api: Api, options: KubeOptions): Kube['observeJob'] {
  return async ({ namespace, name, uid }, onChange, signal) => {
    const state: JobState = { pods: new Map() };
    const jobs = new Map<string, KubernetesObject>();
    const sources: [Source, Map<string, KubernetesObject>][] = [
      [
        {
          what: `job ${namespace}/${name}`,
          path: resourcePath('batch/v1', 'jobs', namespace),
          query: { fieldSelector: `metadata.name=${name}` },
        },
        jobs,
      ],
      [
        {
          what: `pods of job ${namespace}/${name}`,
          path: core(namespace, 'pods'),
          query: { labelSelector: `batch.kubernetes.io/controller-uid=${uid}` },
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
          inform(api, source, store, changed(source.what), local.signal, options).catch(
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

/** What a namespace's SelfSubjectRulesReview said: the rules, and whether they are all the identity may do. */
interface Rules {
  rules: ResourceRule[];
  complete: boolean;
}

interface RulesReview {
  status?: { resourceRules?: ResourceRule[]; incomplete?: boolean; evaluationError?: string };
}

const AUTHORIZATION = '/apis/authorization.k8s.io/v1';

/**
 * `canI` with one SelfSubjectRulesReview per namespace, asked once (at the first check of that namespace) and shared
 * by every check there: a permission its rules grant is granted. Where the answer is incomplete (an authorizer that
 * cannot list rules, such as a webhook, may grant more), or the review itself failed, what the rules do not grant
 * is asked with a SelfSubjectAccessReview, as is every cluster-wide check (no namespace).
 */
function accessReviews(api: Api): Kube['canI'] {
  const rulesIn = onceByKey((namespace): Promise<Rules> =>
    api
      .read<RulesReview>('create selfsubjectrulesreview', {
        method: 'POST',
        path: `${AUTHORIZATION}/selfsubjectrulesreviews`,
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
      })
      .then(
        ({ status }) => ({
          rules: status?.resourceRules ?? [],
          complete: status !== undefined && !status.incomplete && !status.evaluationError,
        }),
        () => ({ rules: [], complete: false }),
      ),
  );
  const accessReview = async (namespace: string, check: AccessCheck): Promise<boolean> => {
    const review = await api.read<{ status?: { allowed?: boolean } }>('create selfsubjectaccessreview', {
      method: 'POST',
      path: `${AUTHORIZATION}/selfsubjectaccessreviews`,
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { namespace, ...check } },
      },
    });
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
function workloadClient(api: Api): Pick<Kube, 'getWorkload' | 'patchWorkload'> {
  const pathOf = ({ kind, namespace, name }: WorkloadRef): string =>
    resourcePath('apps/v1', resourceOf(kind), namespace, name);
  return {
    getWorkload: (ref) => api.read<Workload>(`get ${ref.kind} ${ref.namespace}/${ref.name}`, { path: pathOf(ref) }),

    patchWorkload: (ref: WorkloadRef, ops: JsonPatchOp[], options = {}) =>
      api.read<Workload>(`patch ${ref.kind} ${ref.namespace}/${ref.name}`, {
        method: 'PATCH',
        path: pathOf(ref),
        body: ops,
        contentType: 'application/json-patch+json',
        query: { fieldManager: 'kube-ship', dryRun: options.dryRun ? 'All' : undefined },
      }),
  };
}
