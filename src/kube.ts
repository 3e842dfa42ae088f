/**
 * What kube-ship needs from the Kubernetes API, as an interface: the rollout engine takes it as an argument, the
 * real adapter (kube-client.ts) talks to the API server, and unit tests pass a fake.
 */
import type { CoreV1Event, V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import type { JsonPatchOp } from './patch.js';

/** The objects of one namespace that a rollout is decided on, kept current by list + watch. */
export interface NamespaceState {
  deployments: Map<string, V1Deployment>;
  replicaSets: Map<string, V1ReplicaSet>;
  pods: Map<string, V1Pod>;
}

export interface AccessCheck {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
}

export interface Kube {
  /** Where requests go (server URL), for messages. */
  readonly server: string;
  getDeployment(namespace: string, name: string): Promise<V1Deployment>;
  /** JSON Patch; a stale resourceVersion in the ops gives a `KubeError` with status 409. */
  patchDeployment(namespace: string, name: string, ops: JsonPatchOp[]): Promise<V1Deployment>;
  /** SelfSubjectAccessReview for the current identity. */
  canI(namespace: string, check: AccessCheck): Promise<boolean>;
  /**
   * Keeps a NamespaceState current (list, then watch; re-watch when a watch ends, relist on 410 Gone) and calls
   * `onChange` after every change, until `signal` aborts. Rejects only on errors that retrying cannot fix.
   */
  observe(namespace: string, onChange: (state: NamespaceState) => void, signal: AbortSignal): Promise<void>;
  /** Events whose involved object is `name`, oldest first. */
  listEvents(namespace: string, name: string): Promise<CoreV1Event[]>;
  /** The last `tailLines` lines of a container's log; `previous` for the run before the last restart. */
  readLog(namespace: string, pod: string, container: string, previous: boolean, tailLines: number): Promise<string>;
}

/** An API error reduced to what decisions need: the HTTP status and the Status message (no headers, no body dump). */
export class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string = '',
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof KubeError && error.status === status;
}
