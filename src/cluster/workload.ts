/**
 * The kinds of workload kube-ship deploys: Deployments, StatefulSets and DaemonSets. Each has a pod template at
 * `spec.template` and a generation the controller observes; they differ in how a revision is recorded (a
 * ReplicaSet, or a ControllerRevision whose hash labels the pods) and in kubectl's rule for "rolled out".
 */
import type { V1DaemonSet, V1Deployment, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';

export type WorkloadKind = 'deployment' | 'statefulset' | 'daemonset';

export type Workload = V1Deployment | V1StatefulSet | V1DaemonSet;

/**
 * The names kubectl accepts for each kind (singular, plural and short forms). A Map, not an object literal: a word
 * from the input must not find `constructor` or `__proto__` on an object's prototype.
 */
const KIND_NAMES = new Map<string, WorkloadKind>([
  ['deployment', 'deployment'],
  ['deployments', 'deployment'],
  ['deploy', 'deployment'],
  ['statefulset', 'statefulset'],
  ['statefulsets', 'statefulset'],
  ['sts', 'statefulset'],
  ['daemonset', 'daemonset'],
  ['daemonsets', 'daemonset'],
  ['ds', 'daemonset'],
]);

/** The kind a word names (case-insensitive), or undefined. */
export function kindNamed(word: string): WorkloadKind | undefined {
  return KIND_NAMES.get(word.toLowerCase());
}

/** The kind as Kubernetes writes it: `Deployment`, `StatefulSet`, `DaemonSet`. */
export function kindTitle(kind: WorkloadKind): string {
  return kind === 'deployment' ? 'Deployment' : kind === 'statefulset' ? 'StatefulSet' : 'DaemonSet';
}

/** The API resource (plural) of a kind, under `apps/v1`. */
export function resourceOf(kind: WorkloadKind): 'deployments' | 'statefulsets' | 'daemonsets' {
  return `${kind}s` as 'deployments' | 'statefulsets' | 'daemonsets';
}

/** The label the StatefulSet and DaemonSet controllers put on each pod: the revision the pod was made from. */
export const REVISION_HASH_LABEL = 'controller-revision-hash';

/** The revision a Deployment's controller gives its current template, on the Deployment and that ReplicaSet. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/** Whether the controller has observed the workload's current generation (its status is about this spec). */
export function observed(workload: Workload): boolean {
  return (workload.metadata?.generation ?? 0) <= (workload.status?.observedGeneration ?? 0);
}

/** Whether a ReplicaSet carries the Deployment's current revision and is controlled by it. */
export function carriesRevision(deployment: V1Deployment, rs: V1ReplicaSet): boolean {
  const revision = deployment.metadata?.annotations?.[REVISION_ANNOTATION];
  const uid = deployment.metadata?.uid;
  return (
    revision !== undefined &&
    uid !== undefined &&
    rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision &&
    (rs.metadata?.ownerReferences ?? []).some((o) => o.uid === uid && o.controller === true)
  );
}
