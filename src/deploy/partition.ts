/**
 * A StatefulSet's canary is its own `rollingUpdate.partition`: the controller moves only the pods at or above the
 * partition's ordinal to a new template, highest first, and leaves the others on the one they run. This file holds
 * the pure parts: the partition of a step, the patches that set it, and a restore that puts it back with the
 * template. canary-partition.ts runs the steps.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { JsonPatchOp } from '../cluster/kube.js';
import type { Workload } from '../cluster/workload.js';
import type { CanaryStep } from '../desired/canary.js';
import { CANARY_RUN_ANNOTATION } from './canary.js';
import { pointerSegment, type RestorePlan } from './patch.js';

/** The partition a StatefulSet has now (the API server sets 0 when none was given). */
export function partitionOf(sts: Workload): number {
  return (sts as V1StatefulSet).spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
}

/**
 * The canary's pods at a step of a StatefulSet of `replicas` pods: `k` pods for a step of pods, ceil(p * N / 100)
 * for a share `p` (at least one), never more than the set has. Unlike a Deployment's canary they are not added
 * next to the stable pods: they are the stable set's own highest ordinals, moved to the release.
 */
export function partitionPods(step: CanaryStep, replicas: number): number {
  const pods = step.kind === 'pods' ? step.count : Math.max(1, Math.ceil((step.percent * replicas) / 100));
  return Math.min(pods, replicas);
}

/**
 * The partition of a step: the `pods` highest ordinals get the release, so replicas - pods; never below the
 * partition recorded before the deploy (the pods under it were not the deploy's to change, and stay so).
 */
export function stepPartition(pods: number, replicas: number, recorded: number): number {
  return Math.max(recorded, replicas - pods);
}

/**
 * The run whose canary a StatefulSet is in (the annotation its first step sets, and its promotion or restore
 * removes): while it is there, no other run starts a canary on the set.
 */
export function canaryRunOf(live: Workload): string | undefined {
  return live.metadata?.annotations?.[CANARY_RUN_ANNOTATION];
}

/** The op that marks the set as in `run`'s canary (the annotations exist: the deploy patch writes one first). */
export function markOp(run: string): JsonPatchOp {
  return { op: 'add', path: `/metadata/annotations/${pointerSegment(CANARY_RUN_ANNOTATION)}`, value: run };
}

/** The op that removes the mark, if the set carries one. */
export function unmarkOps(live: Workload): JsonPatchOp[] {
  if (canaryRunOf(live) === undefined) return [];
  return [{ op: 'remove', path: `/metadata/annotations/${pointerSegment(CANARY_RUN_ANNOTATION)}` }];
}

/** The ops that set the partition to `value`, creating the fields the live object lacks. */
export function partitionOps(live: Workload, value: number): JsonPatchOp[] {
  const strategy = (live as V1StatefulSet).spec?.updateStrategy;
  if (strategy === undefined) {
    return [
      {
        op: 'add',
        path: '/spec/updateStrategy',
        value: { type: 'RollingUpdate', rollingUpdate: { partition: value } },
      },
    ];
  }
  if (strategy.rollingUpdate === undefined) {
    return [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate', value: { partition: value } }];
  }
  return [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate/partition', value }];
}

/**
 * A restore of a StatefulSet whose partition the canary lowered (`recorded` is the one read before): the partition
 * goes back in the same patch as the template, so the controller never sees the release's template with the
 * recorded partition (which would roll it to every pod). A set already on the recorded template gets its partition
 * back alone; the mark of the canary (`canaryRunOf`) goes with it. One deleted and made again is left as it is.
 */
export function withPartition(
  plan: RestorePlan,
  recorded: number | undefined,
  live: Workload,
  resourceVersion: string,
): RestorePlan {
  if (recorded === undefined || plan.kind === 'leave') return plan;
  if (partitionOf(live) === recorded && canaryRunOf(live) === undefined) return plan;
  const ops = [...(partitionOf(live) === recorded ? [] : partitionOps(live, recorded)), ...unmarkOps(live)];
  const note = `partition back to ${recorded}`;
  if (plan.kind === 'nothing') {
    return {
      kind: 'patch',
      only: 'template',
      ops: [{ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion }, ...ops],
      note: `${plan.note}; ${note}`,
    };
  }
  return { ...plan, ops: [...plan.ops, ...ops], note: `${plan.note}; ${note}` };
}
