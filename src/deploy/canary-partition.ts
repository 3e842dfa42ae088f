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
import { CANARY_RUN_ANNOTATION } from './canary.js';
import { CHANGE_CAUSE_ANNOTATION, deployPatch, patchToDigest } from './patch.js';
import {
  canaryRunOf,
  markOp,
  partitionOf,
  partitionOps,
  partitionPods,
  stepPartition,
  unmarkOps,
} from './partition.js';
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
  /** The run's id the set is marked with while its canary runs (from the first step on). */
  run?: string;
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
    const mark = canaryRunOf(live);
    if (mark !== undefined) throw new Error(inAnotherCanary(key, mark, target));
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

/** A set that another run's canary holds (or a killed one left without its post step): named, with what to do. */
function inAnotherCanary(key: string, run: string, target: Target): string {
  const where = `statefulset/${target.name} -n ${target.namespace}`;
  return (
    `${key} is in the canary of another deploy (run ${run}), which moves its highest ordinals by the partition: ` +
    `another deploy of it is running, or a killed one left it; once none runs, restore it by hand (kubectl rollout ` +
    `undo ${where}, set spec.updateStrategy.rollingUpdate.partition back, kubectl annotate ${where} ` +
    `${CANARY_RUN_ANNOTATION}-) and deploy again`
  );
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
  request: PartitionRequest & { run: string },
  save: () => void,
  log: Log,
) {
  const deadline = Date.now() + WRITE_RETRY_MS;
  const patched = await withConflictRetry({
    key: trial.key,
    doing: 'patched',
    read: () => retryingTransient(() => kube.getWorkload(trial.target), deadline, logRetry(log, trial.key)),
    decide: (live: Workload, previous: FirstPlan | undefined): FirstPlan => {
      const mark = canaryRunOf(live);
      // Marked with this run's id: a write whose answer was lost did land.
      if (previous !== undefined && trial.saved && mark === request.run) return { kind: 'landed', live };
      // Marked by another run since this one looked (two runs at once): theirs, never changed, nor restored.
      if (mark !== undefined) {
        trial.saved = false;
        save();
        throw new Error(inAnotherCanary(trial.key, mark, trial.target));
      }
      const record = { ...recordOf(trial.target, live, request.image), partition: partitionOf(live) };
      const { containers } = record;
      const annotations = live.metadata?.annotations;
      const rv = live.metadata?.resourceVersion ?? '';
      const ops = [...deployPatch(rv, annotations, containers, request.reference, request.changeCause)];
      return { kind: 'patch', record, ops: [...ops, markOp(request.run), ...partitionOps(live, partition)] };
    },
    write: async (plan) => {
      if (plan.kind === 'landed') return plan.live;
      trial.record = plan.record;
      trial.run = request.run;
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

/**
 * A later step or the promotion (`last`: the mark removed too): the partition only, while the set is still in this
 * run's canary and our containers still run the release.
 */
function partitionWrite(
  kube: Kube,
  trial: PartitionTrial,
  partition: number,
  options: { request: PartitionRequest; log: Log; last: boolean },
) {
  const { request, log, last } = options;
  const deadline = Date.now() + WRITE_RETRY_MS;
  const { record } = trial;
  return withConflictRetry({
    key: trial.key,
    doing: 'patched',
    read: () => retryingTransient(() => kube.getWorkload(trial.target), deadline, logRetry(log, trial.key)),
    decide: (live: Workload): JsonPatchOp[] => {
      const ours = live.metadata?.uid === record.uid && canaryRunOf(live) === trial.run;
      if (!ours || !carriesRelease(live, record, request)) {
        throw new Error(`${trial.key} was changed by someone else during the canary; its partition is left as it is`);
      }
      return [
        { op: 'replace', path: '/metadata/resourceVersion', value: live.metadata?.resourceVersion ?? '' },
        ...record.containers.map((c): JsonPatchOp => {
          const path = `/spec/template/spec/${c.kind}/${c.index}/image`;
          return { op: 'test', path, value: request.reference };
        }),
        ...partitionOps(live, partition),
        ...(last ? unmarkOps(live) : []),
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
  options: { request: PartitionRequest & { run: string }; save: () => void; log: Log },
): Promise<{ item: WaitItem; pods: number; partition: number }> {
  const { request, save, log } = options;
  const { pods, partition } = partitionAt(trial, step);
  const patched = trial.saved
    ? await partitionWrite(kube, trial, partition, { request, log, last: false })
    : await firstWrite(kube, trial, partition, request, save, log);
  const containers = trial.record.containers.map((c) => c.name);
  return { item: waitItemOf(trial.record, patched, { containers, reference: request.reference }), pods, partition };
}

/** The promotion: the recorded partition back, so the controller moves the rest of the set to the release. */
export async function promoteSet(kube: Kube, trial: PartitionTrial, request: PartitionRequest, log: Log) {
  const recorded = trial.record.partition ?? 0;
  const patched = await partitionWrite(kube, trial, recorded, { request, log, last: true });
  log.info(`${trial.key}: partition back to ${recorded}: the rest of the set moves to ${request.reference}`);
  const containers = trial.record.containers.map((c) => c.name);
  return waitItemOf(trial.record, patched as V1StatefulSet, { containers, reference: request.reference });
}
