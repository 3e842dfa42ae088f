/**
 * The real Kubernetes adapter, on @kubernetes/client-node. It turns ApiException into KubeError (status and the
 * Status message only: client-node's own message embeds headers and body, which may carry tokens) and watches each
 * target's own objects with the informer of kube-watch.ts: the Deployment by name, its ReplicaSets and pods by its
 * label selector.
 */
import { AppsV1Api, AuthorizationV1Api, CoreV1Api, KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { inform, toKubeError, type InformerOptions, type Source } from './kube-watch.js';
import type { AccessCheck, Kube, TargetState } from './kube.js';
import type { JsonPatchOp } from './patch.js';

async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toKubeError(error, what);
  }
}

export function createKube(config: KubeConfig, options: InformerOptions = {}): Kube {
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const authz = config.makeApiClient(AuthorizationV1Api);

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
            list: () => apps.listNamespacedDeployment({ namespace, ...byName }),
          },
          state.deployments as Map<string, KubernetesObject>,
        ],
        [
          {
            what: `replicasets in ${namespace} (${selector})`,
            path: `/apis/apps/v1/namespaces/${namespace}/replicasets`,
            query: bySelector,
            list: () => apps.listNamespacedReplicaSet({ namespace, ...bySelector }),
          },
          state.replicaSets as Map<string, KubernetesObject>,
        ],
        [
          {
            what: `pods in ${namespace} (${selector})`,
            path: `/api/v1/namespaces/${namespace}/pods`,
            query: bySelector,
            list: () => core.listNamespacedPod({ namespace, ...bySelector }),
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
      const list = await call(`list events in ${namespace}`, () =>
        core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` }),
      );
      const time = (e: (typeof list.items)[number]): number =>
        new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
      return [...list.items].sort((a, b) => time(a) - time(b));
    },

    readLog: ({ namespace, pod, container, previous, tailLines, limitBytes }) =>
      call(`read log of ${namespace}/${pod}/${container}`, () =>
        core.readNamespacedPodLog({ name: pod, namespace, container, previous, tailLines, limitBytes }),
      ),
  };
}
