/**
 * The real Kubernetes adapter, on @kubernetes/client-node. It turns ApiException into KubeError (status and the
 * Status message only: client-node's own message embeds headers and body, which may carry tokens) and implements
 * the list-then-watch loop the way kubectl does: watch from the list's resourceVersion, re-watch from the last
 * seen one when a watch ends, relist on 410 Gone.
 */
import {
  ApiException,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { KubeError, type AccessCheck, type Kube, type NamespaceState } from './kube.js';
import type { JsonPatchOp } from './patch.js';

/** The Status message of an ApiException, or the error's own message for transport errors. */
function toKubeError(error: unknown, what: string): KubeError {
  if (error instanceof ApiException) {
    const status = error.code;
    let message = `HTTP ${status}`;
    let reason = '';
    try {
      const body = (typeof error.body === 'string' ? JSON.parse(error.body) : error.body) as {
        message?: string;
        reason?: string;
      };
      message = body.message ?? message;
      reason = body.reason ?? '';
    } catch {
      // not a Status object: keep the HTTP status only
    }
    return new KubeError(status, `${what}: ${message}`, reason);
  }
  if (error instanceof KubeError) return error;
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return new KubeError(0, `${what}: ${error instanceof Error ? error.message : String(error)}${cause}`);
}

async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toKubeError(error, what);
  }
}

interface ListResult {
  metadata?: { resourceVersion?: string };
  items: KubernetesObject[];
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

export function createKube(config: KubeConfig): Kube {
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const authz = config.makeApiClient(AuthorizationV1Api);
  const watcher = new Watch(config);

  /** One kind's list + watch loop; `store` is replaced on relist and updated on each event. */
  async function listWatch(
    path: string,
    list: () => Promise<ListResult>,
    store: Map<string, KubernetesObject>,
    changed: () => void,
    signal: AbortSignal,
  ): Promise<void> {
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      if (resourceVersion === undefined) {
        const result = await call(`list ${path}`, list);
        store.clear();
        for (const item of result.items) store.set(item.metadata?.name ?? '', item);
        resourceVersion = result.metadata?.resourceVersion;
        changed();
      }
      if (signal.aborted) break;
      const outcome = await new Promise<'closed' | 'gone' | Error>((resolve) => {
        let settled = false;
        const settle = (value: 'closed' | 'gone' | Error): void => {
          if (!settled) {
            settled = true;
            resolve(value);
          }
        };
        const query = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 240 };
        const onEvent = (type: string, object: KubernetesObject & { code?: number; message?: string }): void => {
          if (type === 'ERROR') {
            settle(object.code === 410 ? 'gone' : new KubeError(object.code ?? 0, `watch ${path}: ${object.message}`));
            return;
          }
          resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
          if (type === 'BOOKMARK') return;
          const name = object.metadata?.name ?? '';
          if (type === 'DELETED') store.delete(name);
          else store.set(name, object);
          changed();
        };
        watcher
          .watch(path, query, onEvent, (err: unknown) => settle(err ? toKubeError(err, `watch ${path}`) : 'closed'))
          .then((controller) => {
            if (signal.aborted) controller.abort();
            else signal.addEventListener('abort', () => controller.abort(), { once: true });
          })
          .catch((err: unknown) => settle(toKubeError(err, `watch ${path}`)));
        signal.addEventListener('abort', () => settle('closed'), { once: true });
      });
      if (outcome === 'gone') {
        resourceVersion = undefined;
      } else if (outcome instanceof KubeError && [401, 403, 404].includes(outcome.status)) {
        throw outcome;
      } else if (outcome instanceof Error) {
        failures += 1;
        if (failures > 5) throw outcome;
        await sleep(Math.min(1000 * failures, 5000), signal);
        resourceVersion = undefined;
      } else {
        failures = 0;
      }
    }
  }

  return {
    server: config.getCurrentCluster()?.server ?? '',

    getDeployment: (namespace, name) =>
      call(`get deployment ${namespace}/${name}`, () => apps.readNamespacedDeployment({ name, namespace })),

    patchDeployment: (namespace, name, ops: JsonPatchOp[]) =>
      call(`patch deployment ${namespace}/${name}`, () =>
        apps.patchNamespacedDeployment({ name, namespace, body: ops, fieldManager: 'kube-ship' }),
      ),

    async canI(namespace: string, check: AccessCheck): Promise<boolean> {
      const review = await call('create selfsubjectaccessreview', () =>
        authz.createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { namespace, ...check } },
          },
        }),
      );
      return review.status?.allowed === true;
    },

    async observe(namespace, onChange, signal): Promise<void> {
      const state: NamespaceState = { deployments: new Map(), replicaSets: new Map(), pods: new Map() };
      // Nothing is decided on a partial view: callbacks start once all three kinds have been listed.
      const listed = new Set<string>();
      const changedFor = (kind: string) => (): void => {
        listed.add(kind);
        if (listed.size === 3) onChange(state);
      };
      const local = new AbortController();
      const stop = (): void => local.abort();
      signal.addEventListener('abort', stop, { once: true });
      const loops = [
        listWatch(
          `/apis/apps/v1/namespaces/${namespace}/deployments`,
          () => apps.listNamespacedDeployment({ namespace }),
          state.deployments as Map<string, KubernetesObject>,
          changedFor('deployments'),
          local.signal,
        ),
        listWatch(
          `/apis/apps/v1/namespaces/${namespace}/replicasets`,
          () => apps.listNamespacedReplicaSet({ namespace }),
          state.replicaSets as Map<string, KubernetesObject>,
          changedFor('replicasets'),
          local.signal,
        ),
        listWatch(
          `/api/v1/namespaces/${namespace}/pods`,
          () => core.listNamespacedPod({ namespace }),
          state.pods as Map<string, KubernetesObject>,
          changedFor('pods'),
          local.signal,
        ),
      ];
      try {
        // One loop failing for good ends the others too.
        await Promise.all(loops.map((loop) => loop.catch((error: unknown) => (stop(), Promise.reject(error)))));
      } finally {
        signal.removeEventListener('abort', stop);
      }
    },

    async listEvents(namespace, name) {
      const list = await call(`list events in ${namespace}`, () =>
        core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` }),
      );
      const time = (e: (typeof list.items)[number]): number =>
        new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
      return [...list.items].sort((a, b) => time(a) - time(b));
    },

    readLog: (namespace, pod, container, previous, tailLines) =>
      call(`read log of ${namespace}/${pod}/${container}`, () =>
        core.readNamespacedPodLog({ name: pod, namespace, container, previous, tailLines }),
      ),
  };
}
