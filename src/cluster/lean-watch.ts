/**
 * The watch of a Deployment waited on alone: its own stream, and only its new ReplicaSet's pods, while the Deployment
 * says nothing that needs more. Once the controller has observed the Deployment's generation, its ReplicaSets are
 * listed once and the new one taken (the Deployment's revision, controlled by it); its pods are then watched by its
 * `pod-template-hash`. The old ReplicaSets and the old pods, most of a rollout's watch traffic, are not watched.
 *
 * Whenever that view could be short of what the verdict reads, the target goes over to the full watch (every
 * ReplicaSet and pod of its selector, shared-watch.ts) for the rest of its wait: no ReplicaSet listed is the new one,
 * the Deployment shows `ReplicaFailure` (whose verdict reads the ReplicaSet's own condition and the old pods still
 * terminating), its revision changes during the wait, the controller has not observed the patch within
 * LEAN_RESOLVE_MS, or the list fails. The target hears of changes only once its pods are listed, as with the full
 * watch, so its first view of them is whole (restart counts start from it).
 */
import type { KubernetesObject, V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import type { Member, Plan, RunPlan } from './watch-plan.js';
import { carriesRevision, observed, REVISION_ANNOTATION } from './workload.js';

/** The label a Deployment's ReplicaSet and its pods carry: the hash of their template. */
export const TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** How long the controller may take to observe the patch before the full watch takes over. */
export const LEAN_RESOLVE_MS = 5000;

/** Lists the objects of a plan once (no watch), abandoned when `signal` aborts. */
export type ReadPlan = (plan: Plan, signal: AbortSignal) => Promise<KubernetesObject[]>;

/** Why the full watch must take over from the Deployment as it is now, if it must. */
export function needsFullWatch(deployment: V1Deployment, resolved?: V1ReplicaSet): string | undefined {
  const failure = deployment.status?.conditions?.some((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (failure) return 'ReplicaFailure';
  const revision = deployment.metadata?.annotations?.[REVISION_ANNOTATION];
  const moved = revision !== resolved?.metadata?.annotations?.[REVISION_ANNOTATION];
  return resolved && observed(deployment) && moved ? 'revision' : undefined;
}

/** Whether `rs` is the Deployment's new ReplicaSet: its revision, controlled by it, with a template hash. */
export function isNewReplicaSet(deployment: V1Deployment, rs: V1ReplicaSet | undefined): rs is V1ReplicaSet {
  return (
    rs !== undefined && carriesRevision(deployment, rs) && (rs.metadata?.labels?.[TEMPLATE_HASH_LABEL] ?? '') !== ''
  );
}

interface LeanDeps {
  runPlan: RunPlan;
  readPlan: ReadPlan;
  /** Runs the full watch for the member until `signal` aborts (resolves or rejects as `observe` does). */
  full: () => Promise<void>;
  /** LEAN_RESOLVE_MS unless told. */
  resolveMs?: number;
}

/** The plans of the lean watch: the Deployment by name, its ReplicaSets (listed once), the pods of one template hash. */
function leanPlan(member: Member, resource: Plan['resource'], query: Record<string, string>): Plan {
  const { scope, state } = member;
  const store = (
    resource === 'pods' ? state.pods : resource === 'replicasets' ? state.replicaSets : state.workloads
  ) as Map<string, KubernetesObject>;
  return { resource, namespace: scope.namespace, query, members: [{ member, store, owns: () => true }] };
}

/** One Deployment's lean watch: its informers, what it knows of the new ReplicaSet, and whether it handed over. */
class LeanWatch {
  private readonly lean = new AbortController();
  private readonly informers: Promise<void>[] = [];
  private podsListed = false;
  private resolving = false;
  private resolved: V1ReplicaSet | undefined;
  private handedOver = false;
  private patience: NodeJS.Timeout | undefined;

  constructor(
    private readonly member: Member,
    private readonly signal: AbortSignal,
    private readonly deps: LeanDeps,
    private readonly settle: { resolve: () => void; reject: (error: unknown) => void },
  ) {}

  start(): void {
    this.signal.addEventListener('abort', () => this.stop(), { once: true });
    this.patience = setTimeout(
      () => this.resolved === undefined && this.handOver(),
      this.deps.resolveMs ?? LEAN_RESOLVE_MS,
    );
    const byName = { fieldSelector: `metadata.name=${this.member.scope.name}` };
    this.run(leanPlan(this.member, 'deployments', byName), () => this.onDeployment());
  }

  /** The wait is over: the informers stop, and it resolves once they have. */
  private stop(): void {
    clearTimeout(this.patience);
    this.lean.abort();
    if (!this.handedOver) void Promise.all(this.informers).then(() => this.settle.resolve());
  }

  /** Runs an informer into the member's map of its kind; a failure for good ends the wait with it. */
  private run(plan: Plan, changed: () => void): void {
    const store = new Map<string, KubernetesObject>();
    const target = plan.members[0]?.store;
    const copy = (): void => {
      target?.clear();
      for (const [name, object] of store) target?.set(name, object);
      changed();
    };
    const failed = (error: unknown): void => {
      if (this.handedOver || this.signal.aborted) return;
      this.lean.abort();
      this.settle.reject(error);
    };
    this.informers.push(this.deps.runPlan(plan, store, copy, this.lean.signal).catch(failed));
  }

  /** The full watch takes over for the rest of the wait, once the lean informers have stopped. */
  private handOver(): void {
    if (this.handedOver || this.signal.aborted) return;
    this.handedOver = true;
    clearTimeout(this.patience);
    this.lean.abort();
    void Promise.all(this.informers)
      .then(() => this.deps.full())
      .then(this.settle.resolve, this.settle.reject);
  }

  private deliver(): void {
    if (!this.handedOver && this.podsListed) this.member.changed();
  }

  private onDeployment(): void {
    if (this.handedOver) return;
    const d = this.member.state.workloads.get(this.member.scope.name) as V1Deployment | undefined;
    if (d === undefined) {
      // Deleted: the verdict needs no pods to say so.
      this.podsListed = true;
      return this.deliver();
    }
    if (needsFullWatch(d, this.resolved)) return this.handOver();
    if (this.resolved) return this.deliver();
    // Observed: the controller has made (or found) the new ReplicaSet.
    if (observed(d) && !this.resolving) void this.resolveReplicaSet(d);
  }

  /** Lists the Deployment's ReplicaSets once, takes the new one, and watches its pods. */
  private async resolveReplicaSet(d: V1Deployment): Promise<void> {
    this.resolving = true;
    const { scope, state } = this.member;
    const plan = leanPlan(this.member, 'replicasets', { labelSelector: scope.selector });
    const found = (await this.deps.readPlan(plan, this.lean.signal).catch(() => [])) as V1ReplicaSet[];
    const rs = found.find((r) => isNewReplicaSet(d, r));
    if (this.signal.aborted || this.handedOver) return;
    if (rs === undefined) return this.handOver();
    this.resolved = rs;
    clearTimeout(this.patience);
    state.replicaSets.clear();
    state.replicaSets.set(rs.metadata?.name ?? '', rs);
    const selector = `${scope.selector},${TEMPLATE_HASH_LABEL}=${rs.metadata?.labels?.[TEMPLATE_HASH_LABEL] ?? ''}`;
    this.run(leanPlan(this.member, 'pods', { labelSelector: selector }), () => {
      this.podsListed = true;
      this.deliver();
    });
    this.onDeployment(); // the Deployment may have moved on while its ReplicaSets were listed
  }
}

/**
 * Watches one Deployment lean (see the top of this file) until `signal` aborts, or hands it to the full watch.
 * Rejects as `observe` does.
 */
export function leanObserve(member: Member, signal: AbortSignal, deps: LeanDeps): Promise<void> {
  return new Promise<void>((resolve, reject) => new LeanWatch(member, signal, deps, { resolve, reject }).start());
}
