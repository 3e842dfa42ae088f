/**
 * What kube-ship needs from the Kubernetes API, as an interface: the rollout engine takes it as an argument, the
 * real adapter (kube-client.ts) talks to the API server, and unit tests pass a fake.
 */
import type {
  CoreV1Event,
  V1ControllerRevision,
  V1Ingress,
  V1Job,
  V1Pod,
  V1ReplicaSet,
  V1Service,
} from '@kubernetes/client-node';
import type { Workload, WorkloadKind } from './workload.js';

/** One JSON Patch operation (RFC 6902), as the patch builders make them and `patch` sends them. */
export type JsonPatchOp =
  { op: 'test' | 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

/**
 * The objects one target's rollout is decided on, kept current by a watch: the workload itself (by name), and
 * the ReplicaSets (a Deployment's) or ControllerRevisions (a StatefulSet's or DaemonSet's) and pods its selector
 * matches, so the cost of watching does not grow with the namespace (a Deployment watched lean: its new ReplicaSet
 * and that ReplicaSet's pods only, see lean-watch.ts).
 */
export interface TargetState {
  workloads: Map<string, Workload>;
  replicaSets: Map<string, V1ReplicaSet>;
  revisions: Map<string, V1ControllerRevision>;
  pods: Map<string, V1Pod>;
}

/** One workload, by kind, namespace and name. */
export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export interface AccessCheck {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
}

/** What to watch for one target. */
export interface WatchScope extends WorkloadRef {
  /** The workload's label selector, as the `labelSelector` query parameter writes it. */
  selector: string;
}

export interface LogRequest {
  namespace: string;
  pod: string;
  container: string;
  /** The run before the last restart (a crashed container's own last words). */
  previous: boolean;
  tailLines: number;
  /** Read at most this many bytes, however long the lines are. */
  limitBytes: number;
}

/** Any object of the API, as JSON (manifests: applied, recorded, restored). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** One object by API version, kind, namespace (none: cluster-scoped) and name. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** How the API serves a kind (from discovery). */
export interface KindInfo {
  namespaced: boolean;
  /** The resource (plural), for access checks. */
  resource: string;
}

/** What a server-side apply answered. */
export interface Applied {
  /** The object as stored (or as it would be, dry run). */
  object: KubeObject;
  /** Whether this very apply made the object: the API server answered 201 Created rather than 200 OK. */
  created: boolean;
}

export interface ApplyOptions {
  /** Server-side dry run: everything is checked (schema, admission, quota, RBAC), nothing is stored. */
  dryRun: boolean;
  /** Take over fields another field manager owns instead of failing with 409 Conflict. */
  force: boolean;
  /**
   * The field manager (`kube-ship` unless given). One of its own makes an apply that would change values another
   * manager set fail with 409 Conflict (without `force`), so an object someone else made is never changed.
   */
  fieldManager?: string;
}

/** A GET through the API server's proxy to a pod's or a Service's port (`verify`'s http checks, Prometheus). */
export interface ProxyRequest {
  kind: 'pods' | 'services';
  namespace: string;
  name: string;
  port: number;
  /** The path on the app, from `/`, with its query string if any. */
  path: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ProxyReply {
  status: number;
  /** The start of the body (at most 64 KiB), as text. */
  body: string;
  /** The API server answered itself (a Status: refused, no endpoints, pod unreachable), not the app. */
  fromServer: boolean;
}

/** A Job and its pods, kept current like a TargetState. */
export interface JobState {
  job?: V1Job;
  pods: Map<string, V1Pod>;
}

/** Which Job to watch: by name, its pods by the uid the Job controller labels them with. */
export interface JobScope {
  namespace: string;
  name: string;
  uid: string;
}

export interface Kube {
  /** Where requests go (server URL), for messages. */
  readonly server: string;
  getWorkload(ref: WorkloadRef): Promise<Workload>;
  /** JSON Patch; a stale resourceVersion in the ops gives a `KubeError` with status 409. */
  patchWorkload(ref: WorkloadRef, ops: JsonPatchOp[], options?: { dryRun?: boolean }): Promise<Workload>;
  /** The pods a label selector matches. */
  listPods(namespace: string, selector: string): Promise<V1Pod[]>;
  /** Deletes a pod, only if it is still the one with `uid` (a precondition: a replacement is never deleted). */
  deletePod(namespace: string, name: string, uid: string): Promise<void>;
  /**
   * Whether the current identity holds a permission: one SelfSubjectRulesReview per namespace, asked once; a
   * SelfSubjectAccessReview for what an incomplete answer leaves open.
   */
  canI(namespace: string, check: AccessCheck): Promise<boolean>;
  /**
   * Keeps a TargetState current (a streaming list or a list, then a watch; a Deployment watched alone, its new
   * ReplicaSet's pods only while that is enough; re-watch when a watch ends, relist on 410 Gone, retry what a
   * healthy cluster does for a while) and calls `onChange` after every change once every kind is listed,
   * until `signal` aborts. Rejects only on errors that retrying cannot fix (401, 403, 404), status kept.
   */
  observe(scope: WatchScope, onChange: (state: TargetState) => void, signal: AbortSignal): Promise<void>;
  /** How the API serves a kind; a `KubeError` with status 404 when it does not serve it. */
  kindInfo(apiVersion: string, kind: string): Promise<KindInfo>;
  /** One object, or undefined when it does not exist. */
  getObject(ref: ObjectRef): Promise<KubeObject | undefined>;
  /** Server-side apply with field manager `kube-ship`: the object as stored, and whether the apply created it. */
  applyObject(object: KubeObject, options: ApplyOptions): Promise<Applied>;
  /**
   * JSON Patch of any object (a route's weights): a failed `test` op gives a `KubeError` with status 422, so a patch
   * that tests what it read first never overwrites a change made since.
   */
  patchObject(ref: ObjectRef, ops: JsonPatchOp[]): Promise<KubeObject>;
  /** Deletes an object only if it is still the one with `uid`; its dependents are deleted by the garbage collector. */
  deleteObject(ref: ObjectRef, uid: string): Promise<void>;
  /** The Services of a namespace (for where a workload is reachable). */
  listServices(namespace: string): Promise<V1Service[]>;
  /** The Ingresses of a namespace. */
  listIngresses(namespace: string): Promise<V1Ingress[]>;
  /** Events whose involved object is `name`, oldest first. */
  listEvents(namespace: string, name: string): Promise<CoreV1Event[]>;
  /** The end of a container's log; `previous` for the run before the last restart. */
  readLog(request: LogRequest): Promise<string>;
  /** A GET through the API server's pod or service proxy; any HTTP status is a reply, only no answer throws. */
  proxyGet(request: ProxyRequest): Promise<ProxyReply>;
  /** Like `observe`, for one Job and its pods. */
  observeJob(scope: JobScope, onChange: (state: JobState) => void, signal: AbortSignal): Promise<void>;
}

/** An API error reduced to what decisions need: the HTTP status and the Status message (no headers, no body dump). */
export class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string = '',
    /** From a 429's Retry-After header. */
    readonly retryAfterMs?: number,
    /** The field paths the Status's causes name (`.stringData.api-key`): where, without the server's free text. */
    readonly fields: string[] = [],
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof KubeError && error.status === status;
}
