/**
 * The canary of a StatefulSet target: its own highest ordinals, by `rollingUpdate.partition`. The first step
 * records the set (template and partition, saved for the post step before anything is sent), then moves the
 * template to the digest and lowers the partition in one patch; each later step lowers the partition more; the
 * promotion puts the recorded partition back, and the whole set rolls as without a canary. A restore (restore.ts)
 * puts back the template and the partition together. Every write carries the resourceVersion just read; a write
 * after the first also tests that our containers still run the release, so another's change is never built on.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { JsonPatchOp, Kube } from '../cluster/kube.js';
import { logRetry, retryingTransient } from '../cluster/retry.js';
import type { Workload } from '../cluster/workload.js';
import type { Log } from '../lib/log.js';
import type { CanaryStep } from '../desired/canary.js';
import { targetKey, type Target } from '../desired/targets.js';
import { withConflictRetry } from './conflict.js';
import { CHANGE_CAUSE_ANNOTATION, deployPatch, patchToDigest } from './patch.js';
import { partitionOf, partitionOps, partitionPods, stepPartition } from './partition.js';
import { recordOf, waitItemOf, type TargetRecord } from './target-record.js';
import type { WaitItem } from './wait.js';

/** A StatefulSet target that gets a canary. */
export interface PartitionTrial {
  key: string;
  target: Target;
  /** As read before the canary (template and partition): what a restore puts back. Replaced by the first write's read. */
  record: TargetRecord;
  /** Whether the record was handed to the post step (before the first patch was sent). */
  saved: boolean;
}

/** What the canary writes for: the release, and the change-cause it records. */
export interface PartitionRequest {
  targets: Target[];
  image: string;
  digest: string;
  reference: string;
  changeCause: string;
}

/** How long a write may keep meeting errors that can pass (API server restarting, 429, 5xx). */
const WRITE_RETRY_MS = 30_000;

/** The StatefulSet targets that get a canary; the others are said in the log (on the digest, no replicas). */
export async function partitionTrialsOf(kube: Kube, request: PartitionRequest, log: Log): Promise<PartitionTrial[]> {
  const trials: PartitionTrial[] = [];
  for (const target of request.targets) {
    if (target.kind !== 'statefulset') continue;
    const key = targetKey(target);
    const live = await kube.getWorkload(target);
    const record = { ...recordOf(target, live, request.image), partition: partitionOf(live) };
    if (patchToDigest(live, record.containers, request) === undefined) {
      log.info(`${key}: already runs ${request.digest}; no canary`);
    } else if (record.replicas - record.partition <= 0) {
      log.info(`${key}: no pod at or above its partition (${record.partition}) to try the release on; no canary`);
    } else {
      trials.push({ key, target, record, saved: false });
    }
  }
  return trials;
}

/** The pods a step moves to the release, and the partition that does it. */
export function partitionAt(trial: PartitionTrial, step: CanaryStep): { pods: number; partition: number } {
  const { replicas, partition: recorded = 0 } = trial.record;
  const partition = stepPartition(partitionPods(step, replicas), replicas, recorded);
  return { pods: replicas - partition, partition };
}

/** Whether the live set carries this deploy's template (a write whose answer was lost did land). */
function carriesRelease(live: Workload, record: TargetRecord, request: PartitionRequest): boolean {
  const spec = live.spec?.template.spec;
  return (
    live.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION] === request.changeCause &&
    record.containers.every((c) => (spec?.[c.kind] ?? [])[c.index]?.image === request.reference)
  );
}

type FirstPlan = { kind: 'patch'; record: TargetRecord; ops: JsonPatchOp[] } | { kind: 'landed'; live: Workload };

/**
 * The first step: record the set as it is, hand the record to `save` (the post step's), then send the template on
 * the digest and the step's partition in one patch. A 409 records and decides again from the new read.
 */
async function firstWrite(
  kube: Kube,
  trial: PartitionTrial,
  partition: number,
  request: PartitionRequest,
  save: () => void,
  log: Log,
) {
  const deadline = Date.now() + WRITE_RETRY_MS;
  const patched = await withConflictRetry({
    key: trial.key,
    doing: 'patched',
    read: () => retryingTransient(() => kube.getWorkload(trial.target), deadline, logRetry(log, trial.key)),
    decide: (live: Workload, previous: FirstPlan | undefined): FirstPlan => {
      if (previous !== undefined && trial.saved && carriesRelease(live, trial.record, request)) {
        return { kind: 'landed', live };
      }
      const record = { ...recordOf(trial.target, live, request.image), partition: partitionOf(live) };
      const { containers } = record;
      const annotations = live.metadata?.annotations;
      const rv = live.metadata?.resourceVersion ?? '';
      const ops = [...deployPatch(rv, annotations, containers, request.reference, request.changeCause)];
      return { kind: 'patch', record, ops: [...ops, ...partitionOps(live, partition)] };
    },
    write: async (plan) => {
      if (plan.kind === 'landed') return plan.live;
      trial.record = plan.record;
      trial.saved = true;
      save();
      return kube.patchWorkload(trial.target, plan.ops);
    },
    transientUntil: deadline,
    log,
  });
  const template = patched.spec?.template ?? {};
  trial.record.applied = { template, reference: request.reference, changeCause: request.changeCause };
  save();
  return patched;
}

/** A later step or the promotion: the partition only, while our containers still run the release. */
function partitionWrite(kube: Kube, trial: PartitionTrial, partition: number, request: PartitionRequest, log: Log) {
  const deadline = Date.now() + WRITE_RETRY_MS;
  const { record } = trial;
  return withConflictRetry({
    key: trial.key,
    doing: 'patched',
    read: () => retryingTransient(() => kube.getWorkload(trial.target), deadline, logRetry(log, trial.key)),
    decide: (live: Workload): JsonPatchOp[] => {
      if (live.metadata?.uid !== record.uid || !carriesRelease(live, record, request)) {
        throw new Error(`${trial.key} was changed by someone else during the canary; its partition is left as it is`);
      }
      return [
        { op: 'replace', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion ?? '' },
        ...record.containers.map((c): JsonPatchOp => {
          const path = `/spec/template/spec/${c.kind}/${c.index}/image`;
          return { op: 'test', path, value: request.reference };
        }),
        ...partitionOps(live, partition),
      ];
    },
    write: (ops) => kube.patchWorkload(trial.target, ops),
    transientUntil: deadline,
    log,
  });
}

/**
 * Moves a step's share of the set to the release (the first step records and patches the template too); returns
 * how to watch it: its new pods rolled out, Ready, baked and checked, the pods under the partition never touched.
 */
export async function stepSet(
  kube: Kube,
  trial: PartitionTrial,
  step: CanaryStep,
  options: { request: PartitionRequest; save: () => void; log: Log },
): Promise<{ item: WaitItem; pods: number; partition: number }> {
  const { request, save, log } = options;
  const { pods, partition } = partitionAt(trial, step);
  const patched = trial.saved
    ? await partitionWrite(kube, trial, partition, request, log)
    : await firstWrite(kube, trial, partition, request, save, log);
  const containers = trial.record.containers.map((c) => c.name);
  return { item: waitItemOf(trial.record, patched, { containers, reference: request.reference }), pods, partition };
}

/** The promotion: the recorded partition back, so the controller moves the rest of the set to the release. */
export async function promoteSet(kube: Kube, trial: PartitionTrial, request: PartitionRequest, log: Log) {
  const recorded = trial.record.partition ?? 0;
  const patched = await partitionWrite(kube, trial, recorded, request, log);
  log.info(`${trial.key}: partition back to ${recorded}: the rest of the set moves to ${request.reference}`);
  const containers = trial.record.containers.map((c) => c.name);
  return waitItemOf(trial.record, patched as V1StatefulSet, { containers, reference: request.reference });
}
