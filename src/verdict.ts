/**
 * Deciding a rollout from what the API server says: kubectl's rollout-status rule for success, and the pod signals
 * that make waiting pointless (a crash loop, an image that cannot be pulled, readiness that never comes). Pure
 * functions over plain objects, so the table tests can use kubectl's and kstatus's own cases.
 */
import type { V1Container, V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';

export type Verdict =
  | { state: 'progressing'; message: string }
  | { state: 'done'; message: string }
  | { state: 'failed'; reason: string; message: string; pod?: string; container?: string };

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/**
 * kubectl's `rollout status` rule for a Deployment, case by case and in the same order: nothing counts until the
 * controller has observed the current generation; ProgressDeadlineExceeded is a failure; then all replicas updated,
 * no old replicas left, every updated replica available.
 */
export function rolloutStatus(deployment: V1Deployment): Verdict {
  const name = deployment.metadata?.name ?? '';
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  if (generation > (status.observedGeneration ?? 0)) {
    return { state: 'progressing', message: 'waiting for the deployment spec update to be observed' };
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return {
      state: 'failed',
      reason: 'ProgressDeadlineExceeded',
      message: `deployment "${name}" exceeded its progress deadline`,
    };
  }
  const updated = status.updatedReplicas ?? 0;
  const replicas = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const wanted = deployment.spec?.replicas;
  if (wanted !== undefined && updated < wanted) {
    return { state: 'progressing', message: `${updated} out of ${wanted} new replicas have been updated` };
  }
  if (replicas > updated) {
    return { state: 'progressing', message: `${replicas - updated} old replicas are pending termination` };
  }
  if (available < updated) {
    return { state: 'progressing', message: `${available} of ${updated} updated replicas are available` };
  }
  return { state: 'done', message: `deployment "${name}" successfully rolled out` };
}

/** Waiting reasons after which the pod will not recover by waiting. */
export const FATAL_WAITING_REASONS = [
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
] as const;

/** Time after a container started within which not being ready is still normal. */
export function readinessGraceMs(container: V1Container | undefined, minReadySeconds: number): number {
  const probeBudget = (probe: V1Container['readinessProbe']): number =>
    probe === undefined
      ? 0
      : (probe.initialDelaySeconds ?? 0) +
        (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3) +
        (probe.timeoutSeconds ?? 1);
  const readiness = container?.readinessProbe === undefined ? 30 : probeBudget(container.readinessProbe);
  const seconds = probeBudget(container?.startupProbe) + readiness + minReadySeconds;
  return Math.max(10, seconds) * 1000;
}

/**
 * The first fatal signal among the new ReplicaSet's pods: a fatal waiting reason on any container or init
 * container, or a started container still not ready after its readiness grace.
 */
export function podFailure(
  pods: V1Pod[],
  templateContainers: V1Container[],
  minReadySeconds: number,
  now: number,
): Verdict | undefined {
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const podName = pod.metadata?.name ?? '';
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const cs of statuses) {
      const reason = cs.state?.waiting?.reason ?? '';
      if ((FATAL_WAITING_REASONS as readonly string[]).includes(reason)) {
        const detail = cs.state?.waiting?.message ?? cs.lastState?.terminated?.message ?? '';
        return {
          state: 'failed',
          reason,
          message: `pod ${podName} container ${cs.name}: ${reason}${detail ? `: ${detail}` : ''}`,
          pod: podName,
          container: cs.name,
        };
      }
    }
    for (const cs of pod.status?.containerStatuses ?? []) {
      const startedAt = cs.state?.running?.startedAt;
      if (cs.ready || startedAt === undefined) continue;
      const spec = templateContainers.find((c) => c.name === cs.name);
      const grace = readinessGraceMs(spec, minReadySeconds);
      const notReadyFor = now - new Date(startedAt).getTime();
      if (notReadyFor > grace) {
        return {
          state: 'failed',
          reason: 'ReadinessTimeout',
          message: `pod ${podName} container ${cs.name}: running for ${Math.round(notReadyFor / 1000)}s but not ready (grace ${Math.round(grace / 1000)}s)`,
          pod: podName,
          container: cs.name,
        };
      }
    }
  }
  return undefined;
}

/**
 * The ReplicaSet that carries the Deployment's current template: the one it controls whose revision equals the
 * Deployment's. Undefined until the controller has observed the current generation, so that old pods' signals are
 * never taken for the new ones'.
 */
export function newReplicaSet(deployment: V1Deployment, replicaSets: V1ReplicaSet[]): V1ReplicaSet | undefined {
  if ((deployment.metadata?.generation ?? 0) > (deployment.status?.observedGeneration ?? 0)) return undefined;
  const revision = deployment.metadata?.annotations?.[REVISION_ANNOTATION];
  const uid = deployment.metadata?.uid;
  if (revision === undefined || uid === undefined) return undefined;
  return replicaSets.find(
    (rs) =>
      rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision &&
      (rs.metadata?.ownerReferences ?? []).some((o) => o.uid === uid && o.controller === true),
  );
}

/** Pods controlled by a ReplicaSet. */
export function podsOf(replicaSet: V1ReplicaSet, pods: V1Pod[]): V1Pod[] {
  const uid = replicaSet.metadata?.uid;
  return pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((o) => o.uid === uid && o.controller === true));
}

/**
 * A short line for the log, e.g. `2/3 updated, 3 available, 1 old`, printed only when it changes. Available counts
 * old and new pods, so during a surge it can exceed the replicas wanted.
 */
export function progressLine(deployment: V1Deployment): string {
  const wanted = deployment.spec?.replicas ?? 0;
  const s = deployment.status ?? {};
  const old = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  const parts = [`${s.updatedReplicas ?? 0}/${wanted} updated`, `${s.availableReplicas ?? 0} available`];
  if (old > 0) parts.push(`${old} old`);
  return parts.join(', ');
}
