/**
 * What a target looked like before the deploy and what our patch made of it: enough to put it back exactly, and
 * to tell our change from anyone else's when rolling back. Preflight builds one to check that a target can be
 * deployed; the engine keeps them; the post step reads them back from a file.
 */
import type { V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { selectorString } from '../cluster/kube-watch.js';
import { CHANGE_CAUSE_ANNOTATION, type RestoreRecord } from './patch.js';
import { chooseContainers, targetKey, type ChosenContainer, type Target } from '../desired/targets.js';
import { REVISION_ANNOTATION, wantedPods } from './verdict.js';
import type { Workload, WorkloadKind } from '../cluster/workload.js';
import type { WaitItem } from './wait.js';

export interface TargetRecord extends RestoreRecord {
  key: string;
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** Its resourceVersion when read for this record: what a preview's stamp is compared with. */
  resourceVersion: string;
  /** Its label selector (labelSelector syntax): what its ReplicaSets and pods are watched by. */
  selector: string;
  replicas: number;
  /**
   * A StatefulSet's `rollingUpdate.partition` as read before a canary lowered it (set only then): a restore puts it
   * back with the template (see partition.ts).
   */
  partition?: number;
}

/** The revision a workload's current template runs as (see `TargetRecord.revision`). */
export function revisionOf(kind: WorkloadKind, workload: Workload | undefined): string {
  if (kind === 'deployment') return workload?.metadata?.annotations?.[REVISION_ANNOTATION] ?? '';
  if (kind === 'statefulset') return (workload as V1StatefulSet | undefined)?.status?.updateRevision ?? '';
  return '';
}

/** Why a workload cannot be deployed by changing its template and watching, or undefined when it can. */
export function undeployable(
  target: Pick<Target, 'kind' | 'namespace' | 'name'>,
  workload: Workload,
): string | undefined {
  const key = targetKey(target);
  if (target.kind === 'deployment' && (workload as V1Deployment).spec?.paused) {
    return `${key} is paused; resume it (kubectl rollout resume deployment/${target.name}) or remove it.`;
  }
  const strategy =
    target.kind === 'deployment'
      ? undefined
      : (workload.spec as { updateStrategy?: { type?: string } } | undefined)?.updateStrategy?.type;
  if (strategy === 'OnDelete') {
    return (
      `${key} uses the OnDelete update strategy: its pods change only when someone deletes them, so no rollout can be ` +
      `watched or rolled back; set spec.updateStrategy.type to RollingUpdate.`
    );
  }
  return undefined;
}

/** Reads a target and records what its rollback needs. Throws when it cannot be deployed (paused, OnDelete, no container). */
export function recordOf(target: Target, workload: Workload, image: string): TargetRecord {
  const problem = undeployable(target, workload);
  if (problem !== undefined) throw new Error(problem);
  const spec = workload.spec?.template?.spec;
  const containers = chooseContainers(
    target,
    { containers: spec?.containers ?? [], initContainers: spec?.initContainers },
    image,
  );
  return recordWith(target, workload, containers);
}

/** The record of `workload` as it is now, with the containers that change already chosen. */
export function recordWith(
  target: Pick<Target, 'kind' | 'namespace' | 'name'>,
  workload: Workload,
  containers: ChosenContainer[],
): TargetRecord {
  return {
    key: targetKey(target),
    kind: target.kind,
    namespace: target.namespace,
    name: target.name,
    uid: workload.metadata?.uid ?? '',
    resourceVersion: workload.metadata?.resourceVersion ?? '',
    selector: selectorString(workload.spec?.selector),
    containers,
    template: workload.spec?.template ?? {},
    changeCause: workload.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION],
    revision: revisionOf(target.kind, workload),
    replicas: wantedPods(target.kind, workload),
  };
}

/** The lastUpdateTime of a ProgressDeadlineExceeded the Deployment carries now: anything up to it is stale. */
export function deadlineExceededAt(workload: Workload): string | undefined {
  const progressing = (workload as V1Deployment).status?.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason !== 'ProgressDeadlineExceeded' || progressing.lastUpdateTime === undefined) return undefined;
  return new Date(progressing.lastUpdateTime).toISOString();
}

/** How a record's workload is watched; `patched`: as our patch left it (its generation is the one to wait for). */
export function waitItemOf(
  record: TargetRecord,
  patched: Workload | undefined,
  expected?: WaitItem['expected'],
): WaitItem {
  return {
    key: record.key,
    kind: record.kind,
    namespace: record.namespace,
    name: record.name,
    selector: record.selector,
    minGeneration: patched?.metadata?.generation ?? 0,
    staleDeadlineAt: patched ? deadlineExceededAt(patched) : undefined,
    ...(expected ? { expected } : {}),
  };
}
