/**
 * A fake of our own Kube interface with a toy Deployment controller: every patch bumps the generation, applies
 * JSON Patch, and after a tick the "controller" makes a ReplicaSet per template and pods whose status follows the
 * image: an image containing "crash" crash-loops, "late" is ready and then crash-loops after `lateMs`. Objects are
 * keyed by namespace and name, as the API server keys them. For unit tests of the engine; the real thing is the
 * e2e suite.
 */
import type { V1Deployment, V1Ingress, V1Pod, V1ReplicaSet, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import {
  KubeError,
  type AccessCheck,
  type Applied,
  type JobScope,
  type JobState,
  type ProxyReply,
  type ProxyRequest,
  type ApplyOptions,
  type KindInfo,
  type Kube,
  type KubeObject,
  type ObjectRef,
  type LogRequest,
  type TargetState,
  type WatchScope,
  type WorkloadRef,
} from '../../src/cluster/kube.js';
import type { Log } from '../../src/lib/log.js';
import type { JsonPatchOp } from '../../src/cluster/kube.js';
import { canonicalJson } from '../../src/deploy/patch.js';

function applyPatch(target: Record<string, unknown>, ops: JsonPatchOp[]): void {
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop() ?? '';
    let node = target as Record<string, unknown>;
    for (const p of parts) node = node[p] as Record<string, unknown>;
    if (op.op === 'test') {
      if (JSON.stringify(node[last]) !== JSON.stringify(op.value)) throw new KubeError(422, 'test failed');
    } else if (op.op === 'remove') delete node[last];
    else node[last] = structuredClone(op.value);
  }
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

/** The fields an applied configuration sets, as dotted paths to its leaves (maps walked, anything else a leaf). */
function leafPaths(value: unknown, path: string[] = []): string[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...path, k]));
  }
  const identity = ['apiVersion', 'kind', 'metadata.name', 'metadata.namespace', 'metadata.resourceVersion'];
  return identity.includes(path.join('.')) ? [] : [path.join('.')];
}

function removeAt(object: unknown, path: string[]): void {
  const last = path.pop() ?? '';
  const node = path.reduce<unknown>((n, p) => (n as Record<string, unknown> | undefined)?.[p], object);
  if (typeof node === 'object' && node !== null) delete (node as Record<string, unknown>)[last];
}

export class FakeKube implements Kube {
  readonly server = 'https://fake';
  /** Keyed `namespace/name`. */
  deployments = new Map<string, V1Deployment>();
  replicaSets = new Map<string, V1ReplicaSet>();
  pods = new Map<string, V1Pod>();
  patches: { name: string; ops: JsonPatchOp[] }[] = [];
  /** Conflicts to answer before accepting a patch (simulating a concurrent writer). */
  conflicts = 0;
  /** Conflicts to answer before accepting a restore patch (one that sends a template or reverts an image). */
  restoreConflicts = 0;
  /** Reads to answer with "no answer" (status 0) before answering again: an API server restarting. */
  getFailures = 0;
  /** When set, the next deploy patch is applied but its answer is lost (a connection reset after the write). */
  loseNextPatchAnswer = false;
  /** When set, the next apply is stored but its answer is lost (no answer; retried after 1 ms, not a real backoff). */
  loseNextApplyAnswer = false;
  /** Names whose restore patch fails with this error. */
  restoreErrors = new Map<string, KubeError>();
  /** Called after each accepted deploy patch: a teammate's change, another run's deploy, a re-creation. */
  afterPatch: ((namespace: string, name: string) => void) | undefined;
  /** When true, the first state each observe() emits is the Deployment as it was before our patch (a stale cache). */
  staleFirst = false;
  /** How long a "late" image's pods stay ready before they crash. */
  lateMs = 40;
  private listeners = new Set<() => void>();
  private history = new Map<string, V1Deployment>();

  addDeployment(name: string, image: string, replicas = 2, namespace = 'ns'): void {
    const d: V1Deployment = {
      metadata: { name, namespace, uid: `uid-${name}`, generation: 1, resourceVersion: '1', annotations: {} },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      },
      status: {},
    };
    this.deployments.set(keyOf(namespace, name), d);
    this.reconcile(namespace, name);
  }

  deployment(name: string, namespace = 'ns'): V1Deployment | undefined {
    return this.deployments.get(keyOf(namespace, name));
  }

  /** Changes a Deployment as someone else would (bumps generation and resourceVersion), and reconciles. */
  edit(namespace: string, name: string, change: (d: V1Deployment) => void): void {
    const d = this.deployments.get(keyOf(namespace, name));
    if (!d?.metadata) return;
    change(d);
    d.metadata.generation = (d.metadata.generation ?? 0) + 1;
    d.metadata.resourceVersion = String(Number(d.metadata.resourceVersion) + 1);
    this.reconcile(namespace, name);
    this.notify();
  }

  private notify(): void {
    this.listeners.forEach((l) => l());
  }

  private podStatus(image: string, crashing: boolean): V1Pod['status'] {
    const crash = crashing || image.includes('crash');
    return {
      podIP: '10.244.0.9',
      containerStatuses: [
        {
          name: 'app',
          image,
          imageID: '',
          ready: !crash,
          restartCount: crash ? 3 : 0,
          state: crash
            ? { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } }
            : { running: { startedAt: new Date() } },
          lastState: crash ? { terminated: { exitCode: 1, reason: 'Error', message: 'boom' } } : {},
        },
      ],
    };
  }

  private reconcile(namespace: string, name: string): void {
    const d = this.deployments.get(keyOf(namespace, name));
    if (!d?.metadata || !d.spec) return;
    const owner = keyOf(namespace, name);
    const template = canonicalJson(d.spec.template);
    let rs = [...this.replicaSets.values()].find(
      (r) => r.metadata?.labels?.owner === owner && canonicalJson(r.spec?.template) === template,
    );
    const revisions = [...this.replicaSets.values()]
      .filter((r) => r.metadata?.labels?.owner === owner)
      .map((r) => Number(r.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0));
    const revision = String(Math.max(0, ...revisions) + 1);
    if (rs === undefined) {
      const rsName = `${name}-${this.replicaSets.size + 1}`;
      rs = {
        metadata: {
          name: rsName,
          namespace,
          uid: `${namespace}-${rsName}`,
          labels: { owner },
          annotations: {},
          ownerReferences: [
            { apiVersion: 'apps/v1', kind: 'Deployment', name, uid: d.metadata.uid ?? '', controller: true },
          ],
        },
        spec: { selector: {}, template: structuredClone(d.spec.template) },
      };
      this.replicaSets.set(keyOf(namespace, rsName), rs);
    }
    rs.metadata!.annotations!['deployment.kubernetes.io/revision'] = revision;
    d.metadata.annotations!['deployment.kubernetes.io/revision'] = revision;
    const image = d.spec.template.spec?.containers[0]?.image ?? '';
    for (const [key, pod] of this.pods) if (pod.metadata?.labels?.owner === owner) this.pods.delete(key);
    const replicas = d.spec.replicas ?? 1;
    for (let i = 0; i < replicas; i += 1) {
      const podName = `${rs.metadata!.name}-${i}`;
      this.pods.set(keyOf(namespace, podName), {
        metadata: {
          name: podName,
          namespace,
          labels: { owner },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: rs.metadata!.name!,
              uid: rs.metadata!.uid!,
              controller: true,
            },
          ],
        },
        status: this.podStatus(image, false),
      });
    }
    if (image.includes('late')) {
      const uid = rs.metadata!.uid;
      setTimeout(() => {
        for (const pod of this.pods.values()) {
          if (pod.metadata?.ownerReferences?.[0]?.uid === uid) pod.status = this.podStatus(image, true);
        }
        this.notify();
      }, this.lateMs);
    }
    const crash = image.includes('crash');
    d.status = {
      observedGeneration: d.metadata.generation,
      replicas: crash ? replicas + 1 : replicas,
      updatedReplicas: crash ? 1 : replicas,
      availableReplicas: replicas,
      readyReplicas: replicas,
    };
  }

  /** StatefulSets, keyed `namespace/name`: only read (no controller); a test sets their status and pods itself. */
  statefulSets = new Map<string, V1StatefulSet>();

  /** The fake's controller knows Deployments only; StatefulSets can be read; any other kind is not found. */
  async getWorkload({ kind, namespace, name }: WorkloadRef): Promise<V1Deployment | V1StatefulSet> {
    const statefulSet = kind === 'statefulset' ? this.statefulSets.get(keyOf(namespace, name)) : undefined;
    if (statefulSet) return structuredClone(statefulSet);
    if (kind !== 'deployment') throw new KubeError(404, `${kind}s.apps "${name}" not found`);
    if (this.getFailures > 0) {
      this.getFailures -= 1;
      throw new KubeError(0, `get deployment ${namespace}/${name}: fetch failed (connect ECONNREFUSED)`);
    }
    const d = this.deployments.get(keyOf(namespace, name));
    if (!d) throw new KubeError(404, `deployments.apps "${name}" not found`);
    return structuredClone(d);
  }

  /** Every patch a StatefulSet got, in order (no controller acts on them). */
  statefulSetPatches: { name: string; ops: JsonPatchOp[] }[] = [];

  /** A StatefulSet patched as the API server would: resourceVersion checked, generation bumped. */
  private patchStatefulSet(namespace: string, name: string, ops: JsonPatchOp[]): V1StatefulSet {
    const live = this.statefulSets.get(keyOf(namespace, name));
    if (!live) throw new KubeError(404, `statefulsets.apps "${name}" not found`);
    const copy = structuredClone(live) as unknown as Record<string, unknown>;
    applyPatch(copy, ops);
    const next = copy as V1StatefulSet;
    if (next.metadata!.resourceVersion !== live.metadata!.resourceVersion) throw new KubeError(409, 'conflict');
    this.statefulSetPatches.push({ name, ops });
    next.metadata!.resourceVersion = String(Number(live.metadata!.resourceVersion ?? '0') + 1);
    next.metadata!.generation = (live.metadata!.generation ?? 0) + 1;
    this.statefulSets.set(keyOf(namespace, name), next);
    return structuredClone(next);
  }

  async patchWorkload(
    { kind, namespace, name }: WorkloadRef,
    ops: JsonPatchOp[],
  ): Promise<V1Deployment | V1StatefulSet> {
    if (kind === 'statefulset') return this.patchStatefulSet(namespace, name, ops);
    if (kind !== 'deployment') throw new KubeError(404, `${kind}s.apps "${name}" not found`);
    const key = keyOf(namespace, name);
    const d = this.deployments.get(key);
    if (!d) throw new KubeError(404, `deployments.apps "${name}" not found`);
    const restore =
      this.patches.length > 0 &&
      ops.some((op) => op.path === '/spec/template' || (op.op === 'test' && op.path.endsWith('/image')));
    const error = restore ? this.restoreErrors.get(name) : undefined;
    if (error) throw error;
    if (this.conflicts > 0 || (restore && this.restoreConflicts > 0)) {
      if (restore && this.restoreConflicts > 0) this.restoreConflicts -= 1;
      else this.conflicts -= 1;
      d.metadata!.resourceVersion = String(Number(d.metadata!.resourceVersion) + 1);
      throw new KubeError(409, 'the object has been modified');
    }
    const copy = structuredClone(d) as unknown as Record<string, unknown>;
    applyPatch(copy, ops);
    const next = copy as V1Deployment;
    if (next.metadata!.resourceVersion !== d.metadata!.resourceVersion) throw new KubeError(409, 'conflict');
    this.patches.push({ name, ops });
    this.history.set(key, structuredClone(d));
    next.metadata!.resourceVersion = String(Number(d.metadata!.resourceVersion) + 1);
    next.metadata!.generation = (d.metadata!.generation ?? 0) + 1;
    this.deployments.set(key, next);
    const answer = structuredClone(next);
    const lost = !restore && this.loseNextPatchAnswer;
    this.loseNextPatchAnswer = false;
    setTimeout(() => {
      this.reconcile(namespace, name);
      if (!restore) this.afterPatch?.(namespace, name);
      this.notify();
    }, 5);
    if (lost) throw new KubeError(0, `patch deployment ${namespace}/${name}: other side closed`);
    return answer;
  }

  /** Access checks answered "no", as `verb resource` (e.g. `get pods/log`). */
  denied = new Set<string>();

  async canI(_namespace: string, check: AccessCheck): Promise<boolean> {
    const resource = check.subresource ? `${check.resource}/${check.subresource}` : check.resource;
    return !this.denied.has(`${check.verb} ${resource}`);
  }

  /** When set, observe() fails with it once the rollout is under way (a watch refused for good). */
  observeError: KubeError | undefined;
  /** Every scope observe() was asked for. */
  observed: WatchScope[] = [];

  async observe(scope: WatchScope, onChange: (state: TargetState) => void, signal: AbortSignal): Promise<void> {
    this.observed.push(scope);
    if (this.observeError && this.patches.length > 0 && !this.restoring()) throw this.observeError;
    const owner = keyOf(scope.namespace, scope.name);
    const inScope = <T extends { metadata?: { namespace?: string; name?: string } }>(
      objects: Map<string, T>,
      keep: (o: T) => boolean,
    ) =>
      new Map(
        [...objects.values()]
          .filter((o) => o.metadata?.namespace === scope.namespace && keep(o))
          .map((o) => [o.metadata?.name ?? '', structuredClone(o)] as const),
      );
    const owned = (o: { metadata?: { labels?: Record<string, string> } }) => o.metadata?.labels?.owner === owner;
    let stale = this.staleFirst ? this.history.get(owner) : undefined;
    const emit = (): void => {
      const deployments = inScope(this.deployments, (d) => d.metadata?.name === scope.name);
      if (stale) {
        deployments.set(scope.name, structuredClone(stale));
        stale = undefined;
      }
      onChange({
        workloads: deployments,
        replicaSets: inScope(this.replicaSets, owned),
        revisions: new Map(),
        pods: inScope(this.pods, owned),
      });
    };
    this.listeners.add(emit);
    emit();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.listeners.delete(emit);
  }

  /** Pods deleted through deletePod, as `namespace/name`. */
  deletedPods: string[] = [];

  async listPods(namespace: string, selector: string): Promise<V1Pod[]> {
    const [key = '', value = ''] = selector.split('=');
    return [...this.pods.values()]
      .filter((p) => p.metadata?.namespace === namespace && p.metadata.labels?.[key] === value)
      .map((p) => structuredClone(p));
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<void> {
    const pod = this.pods.get(keyOf(namespace, name));
    if (!pod || pod.metadata?.uid !== uid) throw new KubeError(409, `precondition failed for pod ${name}`);
    this.deletedPods.push(keyOf(namespace, name));
    this.pods.delete(keyOf(namespace, name));
    this.notify();
  }

  /** True once a rollback patch was sent. */
  private restoring(): boolean {
    return this.patches.some((p) =>
      p.ops.some((op) => op.path === '/spec/template' || (op.op === 'test' && op.path.endsWith('/image'))),
    );
  }

  /**
   * Objects of any kind (manifests), keyed `Kind namespace/name`. A toy server-side apply: the applied fields
   * replace the stored ones (a map merged key by key); a field kube-ship applied before and leaves out now is
   * removed, unless someone else changed it since (`editObject`: it is theirs then); the resourceVersion moves only
   * when something changed, and `refuse` makes an apply of that key fail.
   */
  objects = new Map<string, KubeObject>();
  /** Called before every apply (not a dry run) or delete of an object reaches it: someone else acting in between. */
  beforeObjectWrite: ((key: string, verb: 'apply' | 'delete') => void) | undefined;
  /** The fields (dotted leaf paths) kube-ship's last apply of each object set: the ones it owns. */
  private owned = new Map<string, Set<string>>();
  refuse = new Map<string, KubeError>();
  applies: { object: KubeObject; options: ApplyOptions }[] = [];
  deleted: string[] = [];
  private nextVersion = 1000;

  async kindInfo(_apiVersion: string, kind: string): Promise<KindInfo> {
    return { namespaced: !['Namespace', 'ClusterRole'].includes(kind), resource: `${kind.toLowerCase()}s` };
  }

  private objectKeyOf(ref: ObjectRef): string {
    return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
  }

  /** The field manager of each object's last apply (`kube-ship` when not told). */
  managers = new Map<string, string>();

  async getObject(ref: ObjectRef): Promise<KubeObject | undefined> {
    const found = this.objects.get(this.objectKeyOf(ref));
    return found && structuredClone(found);
  }

  async applyObject(object: KubeObject, options: ApplyOptions): Promise<Applied> {
    this.applies.push({ object: structuredClone(object), options });
    const key = this.objectKeyOf({ ...object, ...object.metadata });
    if (!options.dryRun) this.beforeObjectWrite?.(key, 'apply');
    const refusal = this.refuse.get(key);
    if (refusal) throw refusal;
    const live = this.objects.get(key);
    const wanted = object.metadata.resourceVersion;
    if (wanted !== undefined && live?.metadata.resourceVersion !== wanted)
      throw new KubeError(409, 'the object has been modified');
    const manager = options.fieldManager ?? 'kube-ship';
    const owner = this.managers.get(key) ?? 'kube-ship';
    // As the API server does for a field another manager set to another value (the fake: any field).
    if (live !== undefined && owner !== manager && !options.force) {
      throw new KubeError(409, `Apply failed with 1 conflict: conflict with "${owner}"`, 'Conflict');
    }
    const merge = (a: unknown, b: unknown): unknown => {
      if (
        typeof a !== 'object' ||
        a === null ||
        Array.isArray(a) ||
        typeof b !== 'object' ||
        b === null ||
        Array.isArray(b)
      )
        return structuredClone(b);
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
      return out;
    };
    const next = merge(live ?? {}, object) as KubeObject;
    const applying = new Set(leafPaths(object));
    for (const path of this.owned.get(key) ?? []) if (!applying.has(path)) removeAt(next, path.split('.'));
    const versionless = (o: KubeObject): string =>
      canonicalJson({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
    const changed = live === undefined || versionless(live) !== versionless(next);
    next.metadata = {
      ...next.metadata,
      uid: live?.metadata.uid ?? `uid-${key}`,
      resourceVersion: changed ? String((this.nextVersion += 1)) : (live?.metadata.resourceVersion ?? ''),
      generation: (live?.metadata.generation ?? 0) + (changed ? 1 : 0),
    };
    if (!options.dryRun) {
      this.objects.set(key, next);
      this.owned.set(key, applying);
      this.managers.set(key, manager);
      if (this.loseNextApplyAnswer) {
        this.loseNextApplyAnswer = false;
        throw new KubeError(0, `apply ${key}: fetch failed (socket hang up)`, '', 1);
      }
    }
    return { object: structuredClone(next), created: live === undefined };
  }

  /** Changes an object as another field manager would: the fields it changes become its own. */
  editObject(key: string, change: (o: KubeObject) => void): void {
    const live = this.objects.get(key);
    if (live === undefined) throw new Error(`no object ${key}`);
    const before = structuredClone(live);
    change(live);
    live.metadata.resourceVersion = String((this.nextVersion += 1));
    const owned = this.owned.get(key) ?? new Set();
    for (const path of owned) {
      const at = (o: unknown) => path.split('.').reduce<unknown>((n, p) => (n as Record<string, unknown>)?.[p], o);
      if (canonicalJson(at(before)) !== canonicalJson(at(live))) owned.delete(path);
    }
  }

  /** Every JSON Patch of an object, in order. */
  objectPatches: { key: string; ops: JsonPatchOp[] }[] = [];

  async patchObject(ref: ObjectRef, ops: JsonPatchOp[]): Promise<KubeObject> {
    const key = this.objectKeyOf(ref);
    this.beforeObjectWrite?.(key, 'apply');
    const live = this.objects.get(key);
    if (live === undefined) throw new KubeError(404, 'not found');
    const next = structuredClone(live) as unknown as Record<string, unknown>;
    applyPatch(next, ops);
    const patched = next as unknown as KubeObject;
    patched.metadata.resourceVersion = String((this.nextVersion += 1));
    this.objects.set(key, patched);
    this.objectPatches.push({ key, ops });
    return structuredClone(patched);
  }

  async deleteObject(ref: ObjectRef, uid: string): Promise<void> {
    const key = this.objectKeyOf(ref);
    this.beforeObjectWrite?.(key, 'delete');
    const live = this.objects.get(key);
    if (live === undefined) throw new KubeError(404, 'not found');
    if (live.metadata.uid !== uid) throw new KubeError(409, 'precondition failed: uid');
    this.objects.delete(key);
    this.deleted.push(key);
  }

  /** What listServices and listIngresses answer (every namespace alike), or an error to throw. */
  services: V1Service[] | KubeError = [];
  ingresses: V1Ingress[] | KubeError = [];

  async listServices(): Promise<V1Service[]> {
    if (this.services instanceof KubeError) throw this.services;
    return structuredClone(this.services);
  }

  async listIngresses(): Promise<V1Ingress[]> {
    if (this.ingresses instanceof KubeError) throw this.ingresses;
    return structuredClone(this.ingresses);
  }

  async listEvents() {
    return [
      {
        metadata: {},
        involvedObject: {},
        type: 'Warning',
        reason: 'BackOff',
        message: 'Back-off restarting failed container',
        count: 4,
      },
    ];
  }

  logRequests: LogRequest[] = [];

  async readLog(request: LogRequest): Promise<string> {
    this.logRequests.push(request);
    return 'starting\npanic: cannot connect to database\n';
  }

  /** Every proxied GET, and how the "app" answers one (default: 200 ok). */
  proxyRequests: ProxyRequest[] = [];
  proxyAnswer: (request: ProxyRequest) => ProxyReply | Promise<ProxyReply> = () => ({
    status: 200,
    body: 'ok',
    fromServer: false,
  });

  async proxyGet(request: ProxyRequest): Promise<ProxyReply> {
    this.proxyRequests.push(request);
    return this.proxyAnswer(request);
  }

  /** The states a Job's watch shows, one after another (a toy Job controller); then it stays on the last. */
  jobStates: (scope: JobScope) => JobState[] = () => [];
  observedJobs: JobScope[] = [];

  async observeJob(scope: JobScope, onChange: (state: JobState) => void, signal: AbortSignal): Promise<void> {
    this.observedJobs.push(scope);
    for (const state of this.jobStates(scope)) {
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 1));
      onChange(state);
    }
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }
}

export function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    debug: () => undefined,
    group: async (name, fn) => {
      lines.push(`[${name}]`);
      return fn();
    },
  };
}
