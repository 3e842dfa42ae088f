/**
 * The canary's plan in a preview (`canary` with `preview: true`): for each target, the pods each step would give the
 * release and the stable pods beside them, computed from its live replicas as the deploy computes them. A
 * Deployment's canary is `NAME-canary` next to the untouched stable pods; a StatefulSet's is its highest ordinals, by
 * the partition.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { Workload, WorkloadKind } from '../cluster/workload.js';
import { stepLabel, type CanaryStep } from '../desired/canary.js';
import { canaryReplicas } from '../deploy/canary.js';
import { partitionOf, partitionPods, stepPartition } from '../deploy/partition.js';

/** One step of a target's canary, as a deploy would run it now. */
export interface PlanCanaryStep {
  /** `10%` or `1 pod`. */
  share: string;
  /** The pods that would run the release at this step. */
  canaryPods: number;
  /** The pods that would stay on the stable release beside them. */
  stablePods: number;
  /** A StatefulSet's partition at this step (the pods at and above it run the release). */
  partition?: number;
}

/**
 * The steps a target would take, or [] when it would get no canary: not a Deployment or StatefulSet, no replicas, or
 * already on the digest (`noop`).
 */
export function canaryPlan(kind: WorkloadKind, live: Workload, steps: CanaryStep[], noop: boolean): PlanCanaryStep[] {
  const replicas = (live as { spec?: { replicas?: number } }).spec?.replicas ?? 1;
  if (noop || replicas === 0) return [];
  if (kind === 'deployment') {
    return steps.map((step) => ({
      share: stepLabel(step),
      canaryPods: canaryReplicas(step, replicas),
      stablePods: replicas,
    }));
  }
  if (kind !== 'statefulset') return [];
  const recorded = partitionOf(live as V1StatefulSet);
  if (replicas - recorded <= 0) return [];
  return steps.map((step) => {
    const partition = stepPartition(partitionPods(step, replicas), replicas, recorded);
    return { share: stepLabel(step), canaryPods: replicas - partition, stablePods: partition, partition };
  });
}
