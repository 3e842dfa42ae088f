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
import type { Member, Plan, RunPlan } from './shared-watch.js';
import { REVISION_ANNOTATION } from './workload.js';

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
  const observed = (deployment.metadata?.generation ?? 0) <= (deployment.status?.observedGeneration ?? 0);
  if (resolved && observed && revision !== resolved.metadata?.annotations?.[REVISION_ANNOTATION]) return 'revision';
  return undefined;
}

/** Whether `rs` is the Deployment's new ReplicaSet: its revision, controlled by it, with a template hash. */
export function isNewReplicaSet(deployment: V1Deployment, rs: V1ReplicaSet | undefined): rs is V1ReplicaSet {
  const revision = deployment.metadata?.annotations?.[REVISION_ANNOTATION];
  return (
    rs !== undefined &&
    revision !== undefined &&
    rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision &&
    (rs.metadata?.labels?.[TEMPLATE_HASH_LABEL] ?? '') !== '' &&
    (rs.metadata?.ownerReferences ?? []).some((o) => o.uid === deployment.metadata?.uid && o.controller === true)
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

/**
 * Watches one Deployment lean (see the top of this file) until `signal` aborts, or hands it to the full watch.
 * Rejects as `observe` does.
 */
export function leanObserve(member: Member, signal: AbortSignal, deps: LeanDeps): Promise<void> {
  const { scope, state } = member;
  const lean = new AbortController();
  const stopLean = (): void => lean.abort();
  signal.addEventListener('abort', stopLean, { once: true });
  let podsListed = false;
  let resolving = false;
  let resolved: V1ReplicaSet | undefined;
  let handedOver: Promise<void> | undefined;
  const informers: Promise<void>[] = [];

  return new Promise<void>((resolve, reject) => {
    const fail = (error: unknown): void => {
      if (handedOver || signal.aborted) return;
      lean.abort();
      reject(error);
    };
    const run = (plan: Plan, changed: () => void): void => {
      const store = new Map<string, KubernetesObject>();
      const target = plan.members[0]?.store;
      const copy = (): void => {
        target?.clear();
        for (const [name, object] of store) target?.set(name, object);
        changed();
      };
      informers.push(deps.runPlan(plan, store, copy, lean.signal).catch(fail));
    };
    const handOver = (): void => {
      if (handedOver || signal.aborted) return;
      clearTimeout(patience);
      signal.removeEventListener('abort', stopLean);
      lean.abort();
      handedOver = Promise.all(informers).then(() => deps.full());
      handedOver.then(resolve, reject);
    };
    const deployment = (): V1Deployment | undefined => state.workloads.get(scope.name) as V1Deployment | undefined;
    const deliver = (): void => {
      if (!handedOver && podsListed) member.changed();
    };
    const resolveReplicaSet = async (d: V1Deployment): Promise<void> => {
      resolving = true;
      const found = await deps
        .readPlan(leanPlan(member, 'replicasets', { labelSelector: scope.selector }), lean.signal)
        .catch(() => []);
      const rs = (found as V1ReplicaSet[]).find((r) => isNewReplicaSet(d, r));
      if (signal.aborted || handedOver) return;
      if (rs === undefined) return handOver();
      resolved = rs;
      clearTimeout(patience);
      state.replicaSets.clear();
      state.replicaSets.set(rs.metadata?.name ?? '', rs);
      const hash = rs.metadata?.labels?.[TEMPLATE_HASH_LABEL] ?? '';
      const selector = `${scope.selector},${TEMPLATE_HASH_LABEL}=${hash}`;
      run(leanPlan(member, 'pods', { labelSelector: selector }), () => {
        podsListed = true;
        deliver();
      });
      onDeployment(); // the Deployment may have moved on while its ReplicaSets were listed
    };
    const onDeployment = (): void => {
      if (handedOver) return;
      const d = deployment();
      if (d === undefined) {
        // Deleted: the verdict needs no pods to say so.
        podsListed = true;
        return deliver();
      }
      if (needsFullWatch(d, resolved)) return handOver();
      if (resolved) return deliver();
      // Observed: the controller has made (or found) the new ReplicaSet.
      if (!resolving && (d.metadata?.generation ?? 0) <= (d.status?.observedGeneration ?? 0)) void resolveReplicaSet(d);
    };
    const patience = setTimeout(() => resolved === undefined && handOver(), deps.resolveMs ?? LEAN_RESOLVE_MS);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(patience);
        if (!handedOver) void Promise.all(informers).then(() => resolve());
      },
      { once: true },
    );
    run(leanPlan(member, 'deployments', { fieldSelector: `metadata.name=${scope.name}` }), onDeployment);
  });
}
