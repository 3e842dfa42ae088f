/**
 * Deciding a rollout from what the API server says: kubectl's rollout-status rule for success, and the pod signals
 * that make waiting pointless (a crash loop, an image that cannot be pulled, readiness that never comes). Pure
 * functions over plain objects, so the table tests can use kubectl's and kstatus's own cases.
 */
import type {
  V1Container,
  V1ContainerStatus,
  V1ControllerRevision,
  V1DaemonSet,
  V1Deployment,
  V1Pod,
  V1ReplicaSet,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { sameTemplate } from './patch.js';
import {
  carriesRevision,
  kindTitle,
  observed,
  REVISION_ANNOTATION,
  REVISION_HASH_LABEL,
  type Workload,
  type WorkloadKind,
} from '../cluster/workload.js';

export type Verdict =
  | { state: 'progressing'; message: string }
  | { state: 'done'; message: string }
  | { state: 'failed'; reason: string; message: string; pod?: string; container?: string }
  /** Someone else changed our containers' images during the wait: not ours to judge or roll back. */
  | { state: 'superseded'; message: string; image: string };

export { observed, REVISION_ANNOTATION };

/**
 * kubectl's `rollout status` rule for a Deployment, case by case and in the same order: nothing counts until the
 * controller has observed the current generation; ProgressDeadlineExceeded is a failure; then all replicas updated,
 * no old replicas left, every updated replica available. One departure: a ProgressDeadlineExceeded last updated at
 * or before `staleDeadlineAt` (the one the Deployment carried when we patched it) is left over from before, and the
 * controller keeps it until it sees progress (Recreate, maxSurge 0): it says nothing about our rollout.
 */
export function rolloutStatus(deployment: V1Deployment, staleDeadlineAt?: string): Verdict {
  const name = deployment.metadata?.name ?? '';
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  if (generation > (status.observedGeneration ?? 0)) {
    return { state: 'progressing', message: 'waiting for the deployment spec update to be observed' };
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  const stale =
    staleDeadlineAt !== undefined &&
    progressing?.lastUpdateTime !== undefined &&
    new Date(progressing.lastUpdateTime).getTime() <= new Date(staleDeadlineAt).getTime();
  if (progressing?.reason === 'ProgressDeadlineExceeded' && !stale) {
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

/**
 * kubectl's `rollout status` rule for a StatefulSet, in its order: the update strategy must be RollingUpdate (with
 * OnDelete the pods change only when someone deletes them); nothing counts until the controller has observed the
 * current generation; every replica ready; with a partition (the API server always sets one, 0 by default) the
 * pods at or above it updated; without one the update revision become the current one.
 */
export function statefulSetStatus(sts: V1StatefulSet): Verdict {
  const name = sts.metadata?.name ?? '';
  const strategy = sts.spec?.updateStrategy;
  const status = sts.status ?? { replicas: 0 };
  if ((strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') {
    return {
      state: 'failed',
      reason: 'OnDeleteStrategy',
      message: `statefulset "${name}" uses the ${strategy?.type} update strategy: its pods change only when deleted`,
    };
  }
  const observed = status.observedGeneration ?? 0;
  if (observed === 0 || (sts.metadata?.generation ?? 0) > observed) {
    return { state: 'progressing', message: 'waiting for the statefulset spec update to be observed' };
  }
  const replicas = sts.spec?.replicas;
  const ready = status.readyReplicas ?? 0;
  if (replicas !== undefined && ready < replicas) {
    return { state: 'progressing', message: `waiting for ${replicas - ready} pods to be ready` };
  }
  const updated = status.updatedReplicas ?? 0;
  const rolling = strategy?.rollingUpdate;
  if (rolling !== undefined) {
    const partition = rolling.partition;
    if (replicas !== undefined && partition !== undefined && updated < replicas - partition) {
      return {
        state: 'progressing',
        message: `partitioned roll out: ${updated} out of ${replicas - partition} new pods have been updated`,
      };
    }
    return { state: 'done', message: `statefulset "${name}" rolled out: ${updated} new pods have been updated` };
  }
  if (status.updateRevision !== status.currentRevision) {
    return {
      state: 'progressing',
      message: `waiting for the rolling update to complete: ${updated} pods at revision ${status.updateRevision ?? ''}`,
    };
  }
  return { state: 'done', message: `statefulset "${name}" rolled out: ${status.currentReplicas ?? 0} pods` };
}

/**
 * kubectl's `rollout status` rule for a DaemonSet: RollingUpdate only; once the controller has observed the
 * current generation, every node that should run a pod runs an updated one, and every one of them is available.
 */
export function daemonSetStatus(ds: V1DaemonSet): Verdict {
  const name = ds.metadata?.name ?? '';
  const type = ds.spec?.updateStrategy?.type ?? 'RollingUpdate';
  if (type !== 'RollingUpdate') {
    return {
      state: 'failed',
      reason: 'OnDeleteStrategy',
      message: `daemonset "${name}" uses the ${type} update strategy: its pods change only when deleted`,
    };
  }
  const status = ds.status;
  if ((ds.metadata?.generation ?? 0) > (status?.observedGeneration ?? 0)) {
    return { state: 'progressing', message: 'waiting for the daemonset spec update to be observed' };
  }
  const desired = status?.desiredNumberScheduled ?? 0;
  const updated = status?.updatedNumberScheduled ?? 0;
  const available = status?.numberAvailable ?? 0;
  if (updated < desired) {
    return { state: 'progressing', message: `${updated} out of ${desired} new pods have been updated` };
  }
  if (available < desired) {
    return { state: 'progressing', message: `${available} of ${desired} updated pods are available` };
  }
  return { state: 'done', message: `daemonset "${name}" successfully rolled out` };
}

/** kubectl's rule for the workload's kind (a Deployment's stale progress deadline: see `rolloutStatus`). */
export function workloadStatus(kind: WorkloadKind, workload: Workload, staleDeadlineAt?: string): Verdict {
  if (kind === 'statefulset') return statefulSetStatus(workload as V1StatefulSet);
  if (kind === 'daemonset') return daemonSetStatus(workload as V1DaemonSet);
  return rolloutStatus(workload as V1Deployment, staleDeadlineAt);
}

/** Waiting reasons after which the pod will not recover by waiting (a crash loop is judged by its restarts). */
export const FATAL_WAITING_REASONS = [
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'RegistryUnavailable',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
] as const;

/** How long the scheduler may fail to place a pod before waiting is pointless (kstatus waits 15 s). */
export const UNSCHEDULABLE_WINDOW_MS = 30_000;
/** How long a ReplicaSet may fail to create pods (quota, LimitRange, a webhook) while nothing is terminating. */
export const FAILED_CREATE_WINDOW_MS = 10_000;
/** Before its first Ready, a container gets at least this long: a readiness probe keeps probing, it never gives up. */
export const FIRST_READY_FLOOR_MS = 60_000;

/** Seconds a probe may fail before it has had its full say. */
function probeBudget(probe: V1Container['readinessProbe']): number {
  return probe === undefined
    ? 0
    : (probe.initialDelaySeconds ?? 0) +
        (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3) +
        (probe.timeoutSeconds ?? 1);
}

/**
 * How long a running container may stay not ready before that is a failure. Before its first Ready: its startup
 * and readiness probes' budgets (at least FIRST_READY_FLOOR_MS), plus minReadySeconds. After it has been Ready (lost
 * readiness): the readiness probe's budget (30 s without a probe), at least 10 s.
 */
export function readinessGraceMs(
  container: V1Container | undefined,
  minReadySeconds: number,
  wasReady = false,
): number {
  const readiness = container?.readinessProbe === undefined ? 30 : probeBudget(container.readinessProbe);
  if (wasReady) return Math.max(10, readiness) * 1000;
  const probes = (probeBudget(container?.startupProbe) + readiness) * 1000;
  return Math.max(FIRST_READY_FLOOR_MS, probes) + minReadySeconds * 1000;
}

/** What the signals need besides the pods: the time, the budget, and what was seen of each pod before. */
export interface PodCheck {
  now: number;
  minReadySeconds: number;
  /** Restarts a new pod's container may have before that fails the rollout (input `allowed-restarts`). */
  allowedRestarts: number;
  /** Restarts a container had when watching began: only restarts after that count against the budget. */
  restartsBefore(pod: V1Pod, container: string): number;
  /** Whether the pod has been seen Ready: losing readiness then gets the shorter grace. */
  wasReady(pod: V1Pod): boolean;
}

const failed = (reason: string, pod: string, container: string, detail: string): Verdict => ({
  state: 'failed',
  reason,
  message: `pod ${pod}${container ? ` container ${container}` : ''}: ${detail}`,
  pod,
  ...(container ? { container } : {}),
});

/**
 * Time since a condition's transition. The API server writes whole seconds, so the time is taken as the end of
 * its second: a window is never cut short by up to a second.
 */
const ageMs = (time: Date | string | undefined, now: number): number =>
  time === undefined ? 0 : now - new Date(time).getTime() - 999;

/** The scheduler could not place the pod for longer than the window. */
function unschedulable(pod: V1Pod, now: number): Verdict | undefined {
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable') return undefined;
  const age = ageMs(scheduled.lastTransitionTime, now);
  if (age < UNSCHEDULABLE_WINDOW_MS) return undefined;
  const name = pod.metadata?.name ?? '';
  return failed('Unschedulable', name, '', `not scheduled for ${Math.round(age / 1000)}s: ${scheduled.message ?? ''}`);
}

/** A container that cannot start, crashed past the restart budget, or was OOM-killed past it. */
function containerFailure(pod: V1Pod, status: V1ContainerStatus, init: boolean, check: PodCheck): Verdict | undefined {
  const name = pod.metadata?.name ?? '';
  const waiting = status.state?.waiting;
  const reason = waiting?.reason ?? '';
  if ((FATAL_WAITING_REASONS as readonly string[]).includes(reason)) {
    const detail = waiting?.message ?? status.lastState?.terminated?.message ?? '';
    return failed(reason, name, status.name, `${reason}${detail ? `: ${detail}` : ''}`);
  }
  const last = status.lastState?.terminated ?? status.state?.terminated;
  const crashLooping = reason === 'CrashLoopBackOff';
  // A crash loop counts every restart; a container that restarted and runs again counts those since we looked.
  const restarts = crashLooping ? status.restartCount : status.restartCount - check.restartsBefore(pod, status.name);
  const abnormal = crashLooping || (last !== undefined && (last.exitCode !== 0 || last.reason === 'OOMKilled'));
  if (!abnormal || restarts <= check.allowedRestarts) return undefined;
  const kind =
    last?.reason === 'OOMKilled'
      ? 'OOMKilled'
      : init
        ? 'InitContainerFailed'
        : crashLooping
          ? 'CrashLoopBackOff'
          : 'ContainerRestarted';
  const exit = last ? `exit code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}` : '';
  const budget = check.allowedRestarts > 0 ? ` (allowed-restarts: ${check.allowedRestarts})` : '';
  const detail = [kind, `restarted ${restarts} time${restarts === 1 ? '' : 's'}${budget}`, exit, waiting?.message ?? '']
    .filter((p) => p !== '')
    .join(', ');
  return failed(kind, name, status.name, detail);
}

/** A started container not ready for longer than its grace, counted from its last start or readiness change. */
function notReady(pod: V1Pod, status: V1ContainerStatus, spec: V1Container | undefined, check: PodCheck) {
  const startedAt = status.state?.running?.startedAt;
  if (status.ready || startedAt === undefined) return undefined;
  const name = pod.metadata?.name ?? '';
  const readyChange = pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
  const since = Math.max(new Date(startedAt).getTime(), readyChange ? new Date(readyChange).getTime() : 0);
  const wasReady = check.wasReady(pod);
  const grace = readinessGraceMs(spec, check.minReadySeconds, wasReady);
  const notReadyFor = check.now - since;
  if (notReadyFor <= grace) return undefined;
  const what = wasReady ? 'lost readiness' : 'running but not ready';
  return failed(
    'ReadinessTimeout',
    name,
    status.name,
    `${what} for ${Math.round(notReadyFor / 1000)}s (grace ${Math.round(grace / 1000)}s)`,
  );
}

/**
 * The first signal among the new ReplicaSet's pods that waiting will not fix: unschedulable past its window, an
 * image that cannot be pulled or a container that cannot be created, a crash loop, OOM kill or restart past the
 * budget, an init container that failed, or a started container not ready past its grace.
 */
export function podFailure(pods: V1Pod[], templateContainers: V1Container[], check: PodCheck): Verdict | undefined {
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const signal =
      unschedulable(pod, check.now) ??
      (pod.status?.initContainerStatuses ?? [])
        .map((cs) => containerFailure(pod, cs, true, check))
        .find((v) => v !== undefined) ??
      (pod.status?.containerStatuses ?? [])
        .map((cs) => containerFailure(pod, cs, false, check))
        .find((v) => v !== undefined) ??
      (pod.status?.containerStatuses ?? [])
        .map((cs) =>
          notReady(
            pod,
            cs,
            templateContainers.find((c) => c.name === cs.name),
            check,
          ),
        )
        .find((v) => v !== undefined);
    if (signal) return signal;
  }
  return undefined;
}

/**
 * The new ReplicaSet cannot create its pods (quota, LimitRange, an admission webhook's denial): its own
 * `ReplicaFailure` condition has held past the window, and no pod of the target is terminating (whose end might
 * free the quota). The Deployment's copy of the condition is not used: it outlives the ReplicaSet it was about
 * (after a rollback it would blame the restored ReplicaSet for the failed one's pods).
 */
export function replicaFailure(replicaSet: V1ReplicaSet, pods: V1Pod[], now: number): Verdict | undefined {
  const condition = replicaSet.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (condition === undefined) return undefined;
  if (ageMs(condition.lastTransitionTime, now) < FAILED_CREATE_WINDOW_MS) return undefined;
  if (pods.some((p) => p.metadata?.deletionTimestamp)) return undefined;
  const reason = condition.reason || 'FailedCreate';
  return {
    state: 'failed',
    reason,
    message: `${replicaSet.metadata?.name ?? ''}: ${reason}: ${condition.message ?? ''}`,
  };
}

/**
 * The ReplicaSet that carries the Deployment's current template: the one it controls whose revision equals the
 * Deployment's. Undefined until the controller has observed the current generation, so that old pods' signals are
 * never taken for the new ones'.
 */
export function newReplicaSet(deployment: V1Deployment, replicaSets: V1ReplicaSet[]): V1ReplicaSet | undefined {
  if (!observed(deployment)) return undefined;
  return replicaSets.find((rs) => carriesRevision(deployment, rs));
}

/** Pods controlled by a ReplicaSet. */
export function podsOf(replicaSet: V1ReplicaSet, pods: V1Pod[]): V1Pod[] {
  const uid = replicaSet.metadata?.uid;
  return pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((o) => o.uid === uid && o.controller === true));
}

/** The pod template a ControllerRevision records (its data is `{spec: {template: {..., $patch: replace}}}`). */
function recordedTemplate(revision: V1ControllerRevision): unknown {
  const template = (revision.data as { spec?: { template?: Record<string, unknown> } } | undefined)?.spec?.template;
  if (template === undefined) return undefined;
  return Object.fromEntries(Object.entries(template).filter(([key]) => key !== '$patch'));
}

/**
 * The revision hash a DaemonSet's new pods carry: that of its own ControllerRevision recording its current template
 * (the controller labels both with it). Chosen by template, not by the highest revision number: the revisions are
 * listed apart from the DaemonSet, and a list served before the controller made (or renumbered) the new one must
 * not pass the old pods off as new. Undefined until that revision is seen and the generation observed.
 */
export function daemonSetHash(ds: V1DaemonSet, revisions: V1ControllerRevision[]): string | undefined {
  if (!observed(ds)) return undefined;
  const uid = ds.metadata?.uid;
  const current = revisions.find(
    (r) =>
      (r.metadata?.ownerReferences ?? []).some((o) => o.uid === uid && o.controller) &&
      sameTemplate(recordedTemplate(r), ds.spec?.template),
  );
  return current?.metadata?.labels?.[REVISION_HASH_LABEL];
}

/** What the engine sees of one workload: the workload, its ReplicaSets or ControllerRevisions, its pods. */
export interface WorkloadView {
  kind: WorkloadKind;
  workload: Workload;
  replicaSets: V1ReplicaSet[];
  revisions: V1ControllerRevision[];
  pods: V1Pod[];
}

/**
 * The pods of the workload's current template, the ones whose signals count: the new ReplicaSet's (Deployment), or
 * those labelled with the update revision (StatefulSet) or the newest revision's hash (DaemonSet). Undefined while
 * the current template's revision is not known yet, so that old pods' signals are never taken for new ones'.
 */
export function newPods(view: WorkloadView): V1Pod[] | undefined {
  const controlled = (uid: string | undefined) =>
    view.pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((o) => o.uid === uid && o.controller === true));
  if (view.kind === 'deployment') {
    const replicaSet = newReplicaSet(view.workload as V1Deployment, view.replicaSets);
    return replicaSet ? podsOf(replicaSet, view.pods) : undefined;
  }
  const hash =
    view.kind === 'statefulset'
      ? observed(view.workload)
        ? (view.workload as V1StatefulSet).status?.updateRevision
        : undefined
      : daemonSetHash(view.workload as V1DaemonSet, view.revisions);
  if (hash === undefined || hash === '') return undefined;
  return controlled(view.workload.metadata?.uid).filter((p) => p.metadata?.labels?.[REVISION_HASH_LABEL] === hash);
}

/** How many pods the workload wants now: replicas, or the nodes a DaemonSet should run on. */
export function wantedPods(kind: WorkloadKind, workload: Workload): number {
  if (kind === 'daemonset') return (workload as V1DaemonSet).status?.desiredNumberScheduled ?? 0;
  return (workload as V1Deployment | V1StatefulSet).spec?.replicas ?? 1;
}

/** The workload's name as kubectl says it in messages: `deployment "web"`. */
export function workloadName(kind: WorkloadKind, name: string): string {
  return `${kindTitle(kind).toLowerCase()} "${name}"`;
}

/**
 * A short line for the log, e.g. `2/3 updated, 3 available, 1 old`, printed only when it changes. Available counts
 * old and new pods, so during a surge it can exceed the replicas wanted. StatefulSets say ready (kubectl's rule
 * counts ready pods), DaemonSets count nodes.
 */
export function progressLine(deployment: Workload, kind: WorkloadKind = 'deployment'): string {
  if (kind === 'statefulset') {
    const sts = deployment as V1StatefulSet;
    const s = sts.status;
    return `${s?.updatedReplicas ?? 0}/${sts.spec?.replicas ?? 0} updated, ${s?.readyReplicas ?? 0} ready`;
  }
  if (kind === 'daemonset') {
    const s = (deployment as V1DaemonSet).status;
    const wanted = s?.desiredNumberScheduled ?? 0;
    return `${s?.updatedNumberScheduled ?? 0}/${wanted} nodes updated, ${s?.numberAvailable ?? 0} available`;
  }
  const d = deployment as V1Deployment;
  const wanted = d.spec?.replicas ?? 0;
  const s = d.status ?? {};
  const old = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  const parts = [`${s.updatedReplicas ?? 0}/${wanted} updated`, `${s.availableReplicas ?? 0} available`];
  if (old > 0) parts.push(`${old} old`);
  return parts.join(', ');
}
