/**
 * The real Kubernetes adapter, on @kubernetes/client-node. It turns ApiException into KubeError (status and the
 * Status message only: client-node's own message embeds headers and body, which may carry tokens) and watches each
 * target's own objects with the informer of kube-watch.ts: the Deployment by name, its ReplicaSets and pods by its
 * label selector.
 */
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  Observable,
  type KubernetesObject,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { sleep } from './deadline.js';
import { inform, toKubeError, type InformerOptions, type Source } from './kube-watch.js';
import type { AccessCheck, Kube, TargetState } from './kube.js';
import type { JsonPatchOp } from './patch.js';

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

async function call<T>(
  what: string,
  request: (options: ReturnType<typeof bounded>) => Promise<T>,
  ms: number,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await request(bounded(ms));
    } catch (error) {
      if ((error as { name?: string } | null)?.name === 'TimeoutError') {
        throw toKubeError(new Error(`no answer within ${ms / 1000}s`), what);
      }
      const failure = toKubeError(error, what);
      if (failure.status !== 429 || attempt >= THROTTLED_ATTEMPTS) throw failure;
      await sleep(Math.min(failure.retryAfterMs ?? 1000, 5000) || 250);
    }
  }
}

export interface KubeOptions extends InformerOptions {
  /** Limit of one request (lists get twice as long). */
  requestTimeoutMs?: number;
}

export function createKube(config: KubeConfig, options: KubeOptions = {}): Kube {
  const requestMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const listMs = options.requestTimeoutMs === undefined ? LIST_TIMEOUT_MS : 2 * options.requestTimeoutMs;
  const request = <T>(what: string, fn: (o: ReturnType<typeof bounded>) => Promise<T>): Promise<T> =>
    call(what, fn, requestMs);
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const authz = config.makeApiClient(AuthorizationV1Api);

  return {
    server: config.getCurrentCluster()?.server ?? '',

    getDeployment: (namespace, name) =>
      request(`get deployment ${namespace}/${name}`, (o) => apps.readNamespacedDeployment({ name, namespace }, o)),

    patchDeployment: (namespace, name, ops: JsonPatchOp[]) =>
      request(`patch deployment ${namespace}/${name}`, (o) =>
        apps.patchNamespacedDeployment({ name, namespace, body: ops, fieldManager: 'kube-ship' }, o),
      ),

    async canI(namespace: string, check: AccessCheck): Promise<boolean> {
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
    },

    async observe({ namespace, name, selector }, onChange, signal): Promise<void> {
      const state: TargetState = { deployments: new Map(), replicaSets: new Map(), pods: new Map() };
      const byName = { fieldSelector: `metadata.name=${name}` };
      const bySelector = { labelSelector: selector };
      const sources: [Source, Map<string, KubernetesObject>][] = [
        [
          {
            what: `deployment ${namespace}/${name}`,
            path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
            query: byName,
            list: (signal) => apps.listNamespacedDeployment({ namespace, ...byName }, bounded(listMs, signal)),
          },
          state.deployments as Map<string, KubernetesObject>,
        ],
        [
          {
            what: `replicasets in ${namespace} (${selector})`,
            path: `/apis/apps/v1/namespaces/${namespace}/replicasets`,
            query: bySelector,
            list: (signal) => apps.listNamespacedReplicaSet({ namespace, ...bySelector }, bounded(listMs, signal)),
          },
          state.replicaSets as Map<string, KubernetesObject>,
        ],
        [
          {
            what: `pods in ${namespace} (${selector})`,
            path: `/api/v1/namespaces/${namespace}/pods`,
            query: bySelector,
            list: (signal) => core.listNamespacedPod({ namespace, ...bySelector }, bounded(listMs, signal)),
          },
          state.pods as Map<string, KubernetesObject>,
        ],
      ];
      // Nothing is decided on a partial view: callbacks start once all three kinds have been listed.
      const listed = new Set<string>();
      const local = new AbortController();
      const stop = (): void => local.abort();
      signal.addEventListener('abort', stop, { once: true });
      const loops = sources.map(([source, store]) =>
        inform(
          config,
          source,
          store,
          () => {
            listed.add(source.path);
            if (listed.size === sources.length) onChange(state);
          },
          local.signal,
          options,
        ),
      );
      try {
        // One loop failing for good ends the others too.
        await Promise.all(loops.map((loop) => loop.catch((error: unknown) => (stop(), Promise.reject(error)))));
      } finally {
        signal.removeEventListener('abort', stop);
        stop();
      }
    },

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
