/**
 * The rollout engine, read top to bottom: patch every target (recording what it was), watch every rollout at once
 * (and bake), decide, and if anything failed gather the evidence while restoring what we changed (restore.ts), then
 * watch the restored targets until healthy again.
 */
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { messageOf } from '../lib/errors.js';
import { applyAll, appliedWorkloads, restoreObjects, type ObjectsRestored, workloadItem } from './apply.js';
import { lastLines, LOG_LINES, type Evidence } from './evidence.js';
import type { HttpGet } from '../lib/http.js';
import { bakeFloorMs } from '../desired/verify.js';
import { runJob, type JobRecord, type JobResult } from './job-run.js';
import { startVerification, type CheckReport, type VerifyPlan } from './verify.js';
import type { ImageUse, ManifestObject } from '../desired/manifests.js';
import type { ObjectRecord } from './object-record.js';
import type { JsonPatchOp, Kube, KubeObject } from '../cluster/kube.js';
import { logRetry, retryingTransient } from '../cluster/retry.js';
import { withConflictRetry } from './conflict.js';
import type { Log } from '../lib/log.js';
import { CHANGE_CAUSE_ANNOTATION, patchToDigest } from './patch.js';
import type { DeployResultKind, ObjectResult, TargetResult } from './result.js';
import { recordOf, revisionOf, waitItemOf, type TargetRecord } from './target-record.js';
import { byHand, rollBack, type Restored } from './restore.js';
import { targetKey, type Target } from '../desired/targets.js';
import type { Verdict } from './verdict.js';
import { waitForRollouts, type WaitItem, type WaitOptions, type WaitResult } from './wait.js';
import { gatherEvidence, type Watched } from './wait-evidence.js';
import { noCanary, runCanary, type CanaryRun, type CanaryStepResult } from './canary-run.js';
import { promoteSet } from './canary-partition.js';
import type { CanaryStep } from '../desired/canary.js';
import { routeTraffic, type RouteRecord } from './canary-traffic.js';
import { holdForCanary, type HeldDeployment } from './canary-manifests.js';
import type { Workload, WorkloadKind } from '../cluster/workload.js';

export interface DeployResult {
  result: DeployResultKind;
  failureReason: string;
  targets: TargetResult[];
  evidence: Evidence[];
  rollbackError: string | undefined;
  /** Every object of the manifests, with what the deploy (and the rollback) did to it. */
  objects: ObjectResult[];
  /** Milliseconds from the last patch to the verdict, and from the verdict to "restored and healthy". */
  verdictMs: number;
  restoreMs: number | undefined;
  /** The last result of each check of `verify` (empty without checks, or when the wait did not reach them). */
  checks: CheckReport[];
  /** The Jobs run before the rollout (`pre-deploy`), with their ends. */
  jobs: JobResult[];
  /** The canary's steps, in order (empty without `canary`, or when no target got one). */
  canary: CanaryStepResult[];
}

export interface DeployRequest {
  targets: Target[];
  /**
   * The targets as preflight read them (by key): the first read of each patch, taken once. Its resourceVersion guards
   * the patch, so a target changed since is answered 409 and read again, never overwritten.
   */
  read?: Map<string, Workload>;
  image: string;
  reference: string;
  digest: string;
  changeCause: string;
  timeoutMs: number;
  rollback: boolean;
  /** Limit of the wait for the restored targets. */
  rollbackTimeoutMs: number;
  failFast: boolean;
  allowedRestarts: number;
  bakeMs: number;
  signal: AbortSignal;
  /** Called once the targets are patched, with the records needed to restore them (saved for the post step). */
  onPatched?: (records: TargetRecord[]) => void;
  /** Objects of the `manifests` input, in apply order with the image given: applied before any target is patched. */
  manifests?: {
    objects: ManifestObject[];
    uses: ImageUse[];
    force: boolean;
    /** Called after each object is applied, with the records needed to undo them all (saved for the post step). */
    onApplied?: (records: ObjectRecord[]) => void;
  };
  /** The checks of `verify`, run during the bake against the new release, and the runner's HTTP for url checks. */
  verify?: VerifyPlan & { http: HttpGet };
  /** Jobs run to completion, in order, before anything else changes (migrations); their image already given. */
  preDeploy?: KubeObject[];
  /** Called with the Jobs running whenever one starts or ends (saved for the post step). */
  onJobs?: (running: JobRecord[]) => void;
  /** The canary's steps (`canary`), run on the Deployment targets before they are patched. */
  canary?: {
    steps: CanaryStep[];
    onRecords?: (records: ObjectRecord[]) => void;
    /** The HTTPRoute whose weights each step sets (`canary-route`), and who keeps its record for the post step. */
    route?: { namespace: string; name: string; onRecord?: (record: RouteRecord) => void };
  };
}

/** Told of each check's Job as it starts and ends; hands `onJobs` the ones running (saved for the post step). */
export function jobTracker(onJobs?: (running: JobRecord[]) => void): (job: JobRecord, running: boolean) => void {
  const running = new Map<string, JobRecord>();
  return (job, on) => {
    if (on) running.set(job.uid, job);
    else running.delete(job.uid);
    onJobs?.([...running.values()]);
  };
}

/** How long a patch may keep meeting errors that can pass (API server restarting, 429, 5xx) before it gives up. */
const PATCH_RETRY_MS = 30_000;

interface Patched {
  record: TargetRecord;
  item: WaitItem;
}

type Failed = Extract<Verdict, { state: 'failed' }>;

/** The target key of a manifest record that is a workload ('' for any other object). */
function workloadKeyOf(record: ObjectRecord): string {
  return workloadItem(record.after)?.key ?? '';
}

/** A failed verdict in one line, with its reason named once. */
function describe(verdict: Failed): string {
  return verdict.message.includes(verdict.reason) ? verdict.message : `${verdict.reason}: ${verdict.message}`;
}

function reportOf(record: TargetRecord, reference: string, patched: boolean): TargetResult {
  return {
    key: record.key,
    kind: record.kind,
    containers: record.containers.map((c) => c.name),
    imagesBefore: Object.fromEntries(record.containers.map((c) => [c.name, c.image])),
    imageAfter: reference,
    revisionBefore: record.revision,
    revisionAfter: record.revision,
    resourceVersionBefore: record.resourceVersion,
    replicas: record.replicas,
    outcome: patched ? 'interrupted' : 'no-op',
    message: patched ? 'patched, not judged yet' : 'already running this digest',
    seconds: 0,
    podLabels: record.template.metadata?.labels ?? {},
  };
}

/** Whether the live workload already carries this very deploy (a patch whose answer was lost did land). */
function carriesOurPatch(workload: Workload, record: TargetRecord, request: DeployRequest): boolean {
  const spec = workload.spec?.template.spec;
  const cause = workload.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION];
  return (
    cause === request.changeCause &&
    record.containers.every((c) => (spec?.[c.kind] ?? [])[c.index]?.image === request.reference)
  );
}

/** What to do with a target as read: nothing (it runs the digest), patch it, or nothing more (our patch landed). */
type PatchPlan =
  | { kind: 'on-digest'; record: TargetRecord }
  | { kind: 'patch'; record: TargetRecord; ops: JsonPatchOp[] }
  | { kind: 'landed'; record: TargetRecord; live: Workload };

function planPatch(target: Target, live: Workload, previous: PatchPlan | undefined, request: DeployRequest): PatchPlan {
  // A patch whose answer was lost may have landed: then the record read before it is the one to restore.
  if (previous?.kind === 'patch' && carriesOurPatch(live, previous.record, request)) {
    return { kind: 'landed', record: previous.record, live };
  }
  const record = recordOf(target, live, request.image);
  const ops = patchToDigest(live, record.containers, request);
  return ops === undefined ? { kind: 'on-digest', record } : { kind: 'patch', record, ops };
}

/**
 * Patches one target, re-reading and re-deciding on 409 Conflict (someone changed it between our read and our
 * write): the new state becomes the record, and a target that meanwhile runs the digest needs no patch. Errors that
 * can pass are retried; if a patch's answer was lost but the patch landed, the record read before it stands.
 */
function patchTarget(kube: Kube, target: Target, request: DeployRequest, log: Log) {
  const key = targetKey(target);
  const deadline = Date.now() + PATCH_RETRY_MS;
  const applied = (template: V1PodTemplateSpec | undefined) => ({
    template: template ?? {},
    reference: request.reference,
    changeCause: request.changeCause,
  });
  return withConflictRetry({
    key,
    doing: 'patched',
    read: () => {
      const known = request.read?.get(key);
      request.read?.delete(key);
      return known
        ? Promise.resolve(known)
        : retryingTransient(() => kube.getWorkload(target), deadline, logRetry(log, key));
    },
    decide: (live: Workload, previous: PatchPlan | undefined) => planPatch(target, live, previous, request),
    write: async (plan): Promise<{ record: TargetRecord; patched: Workload | undefined }> => {
      const { record } = plan;
      if (plan.kind === 'on-digest') return { record, patched: undefined };
      if (plan.kind === 'landed') {
        record.applied = applied(plan.live.spec?.template);
        return { record, patched: plan.live };
      }
      const patched = await kube.patchWorkload(target, plan.ops);
      log.info(`${record.key}: ${record.containers.map((c) => c.name).join(', ')} -> ${request.reference}`);
      record.applied = applied(patched.spec?.template);
      return { record, patched };
    },
    transientUntil: deadline,
    log,
  });
}

/** Step 1: patch every target; a target already on the digest is only checked for health. */
async function patchAll(kube: Kube, request: DeployRequest, reports: Map<string, TargetResult>, log: Log) {
  const patched: Patched[] = [];
  const unchanged: WaitItem[] = [];
  let patchError: string | undefined;
  await log.group('Deploy', () =>
    Promise.all(
      request.targets.map(async (target) => {
        try {
          const { record, patched: after } = await patchTarget(kube, target, request, log);
          reports.set(record.key, reportOf(record, request.reference, after !== undefined));
          if (after === undefined) {
            log.info(`${record.key}: already runs ${request.digest}; checking that it is healthy`);
            unchanged.push(waitItemOf(record, undefined));
          } else {
            const containers = record.containers.map((c) => c.name);
            patched.push({ record, item: waitItemOf(record, after, { containers, reference: request.reference }) });
          }
        } catch (error) {
          patchError ??= `${targetKey(target)}: ${messageOf(error)}`;
        }
      }),
    ),
  );
  return { patched, unchanged, patchError };
}

/** How every wait of a deploy goes: until `deadline`, with the request's fail-fast, restart budget and cancel. */
function waitOptions(request: DeployRequest, deadline: number) {
  return { deadline, failFast: request.failFast, allowedRestarts: request.allowedRestarts, signal: request.signal };
}

/**
 * How the changed items bake, and the checks of `verify` that run during the bake: the input `bake`, at least the
 * longest grace of the checks plus one interval (so a persistent failure is seen). Every wait that bakes a release
 * uses it (the targets', each canary step's, a chart's).
 */
export function bakeWithChecks(
  kube: Kube,
  plan: (VerifyPlan & { http: HttpGet }) | undefined,
  bakeMs: number,
  ports: { log: Log; now: () => number; jobs?: (job: JobRecord, running: boolean) => void },
): { bakeMs: number; verify?: WaitOptions['verify'] } {
  const checks = plan?.checks ?? [];
  if (plan === undefined || checks.length === 0) return { bakeMs };
  const floor = bakeFloorMs(checks.map((c) => c.spec));
  if (floor > bakeMs) {
    ports.log.info(
      `The bake lasts ${Math.round(floor / 1000)}s instead of ${Math.round(bakeMs / 1000)}s: the longest grace ` +
        'of the checks of verify plus one interval, so that a failure that lasts is seen',
    );
  }
  const { log, now, jobs } = ports;
  return {
    bakeMs: Math.max(floor, bakeMs),
    verify: (pods, onStatus) =>
      startVerification(plan, pods, onStatus, { kube, http: plan.http, log, now, ...(jobs ? { jobs } : {}) }),
  };
}

/** Step 2: watch every patched target until rolled out and baked, and every unchanged one until judged healthy. */
function watchAll(
  kube: Kube,
  changed: WaitItem[],
  unchanged: WaitItem[],
  request: DeployRequest,
  started: number,
  log: Log,
  now: () => number,
) {
  return log.group('Rollout', () => watchItems(kube, { changed, unchanged }, request, started, log, now));
}

/** The wait of `watchAll` (and of each canary step): the changed items bake and are checked, the others judged. */
function watchItems(
  kube: Kube,
  items: { changed: WaitItem[]; unchanged: WaitItem[] },
  request: DeployRequest,
  started: number,
  log: Log,
  now: () => number,
) {
  const { bakeMs, verify } =
    items.changed.length > 0
      ? bakeWithChecks(kube, request.verify, request.bakeMs, { log, now, jobs: jobTracker(request.onJobs) })
      : { bakeMs: 0, verify: undefined };
  return waitForRollouts(
    kube,
    [
      ...items.changed.map((i) => ({ ...i, bakeMs, verified: verify !== undefined })),
      ...items.unchanged.map((i) => ({ ...i, bakeMs: 0 })),
    ],
    { ...waitOptions(request, started + request.timeoutMs), ...(verify ? { verify } : {}) },
    log,
    now,
  );
}

/** The rows of the stable Deployments a canary stopped the release for: each as it was, never changed. */
function stoppedAtCanary(trial: CanaryRun, reports: Map<string, TargetResult>, reference: string): void {
  if (trial.failure === undefined) return;
  for (const record of trial.stable) {
    const report = reportOf(record, reference, false);
    const [image] = Object.values(report.imagesBefore);
    reports.set(record.key, { ...report, imageAfter: image ?? '', message: 'not changed: stopped at the canary' });
  }
}

/**
 * The StatefulSets a canary stopped the release for: each changed one is handed to the rollback (template and
 * partition back as recorded); one never patched is reported unchanged.
 */
function setsStopped(trial: CanaryRun, reports: Map<string, TargetResult>, reference: string): Patched[] {
  const changed: Patched[] = [];
  for (const set of trial.partitioned) {
    const report = reportOf(set.record, reference, set.saved);
    reports.set(set.key, {
      ...report,
      message: set.saved ? 'stopped at the canary' : 'not changed: stopped at the canary',
    });
    if (set.saved) changed.push({ record: set.record, item: waitItemOf(set.record, undefined) });
  }
  return changed;
}

/**
 * Step 1 for the StatefulSets that passed their canary: the recorded partition back (the template is the release's
 * since the first step). One that cannot be promoted is still handed on, so that a failure restores it.
 */
async function promoteSets(
  kube: Kube,
  trial: CanaryRun,
  request: DeployRequest,
  reports: Map<string, TargetResult>,
  log: Log,
) {
  const patched: Patched[] = [];
  let error: string | undefined;
  if (trial.partitioned.length === 0) return { patched, error };
  await log.group('Promote', async () => {
    for (const set of trial.partitioned) {
      reports.set(set.key, reportOf(set.record, request.reference, true));
      try {
        patched.push({ record: set.record, item: await promoteSet(kube, set, request, log) });
      } catch (problem) {
        error ??= `${set.key}: ${messageOf(problem)}`;
        patched.push({ record: set.record, item: waitItemOf(set.record, undefined) });
      }
    }
  });
  return { patched, error };
}

/**
 * Step 1b: the canary's steps on the Deployment targets (`canary`), each waited for with the deploy's bake, checks
 * and cancel, under a `timeout` of its own. The manifests' workloads get none: a workload they create has nothing
 * stable to compare with.
 */
async function canaryFirst(
  kube: Kube,
  request: DeployRequest,
  manifests: { changed: WaitItem[]; held: HeldDeployment[] },
  log: Log,
  now: () => number,
) {
  const canary = request.canary;
  if (canary === undefined || canary.steps.length === 0) return noCanary();
  for (const item of manifests.changed) log.info(`${item.key}: a workload of the manifests, deployed without a canary`);
  const watch = {
    wait: (items: WaitItem[]) => watchItems(kube, { changed: items, unchanged: [] }, request, now(), log, now),
    ready: (items: WaitItem[]) =>
      waitForRollouts(
        kube,
        items.map((i) => ({ ...i, bakeMs: 0 })),
        waitOptions(request, now() + request.timeoutMs),
        log,
        now,
      ),
    evidence: (wait: WaitResult, watched: Watched[]) => gatherEvidence(kube, wait, watched),
  };
  const route = canary.route;
  const traffic = route && routeTraffic(kube, route, log, route.onRecord);
  const held = manifests.held;
  return runCanary(kube, { ...request, ...canary, ...(traffic ? { traffic } : {}), held }, watch, log, now);
}

/** Step 3: each target's outcome from its verdict; the first failure is the deploy's reason. */
function decideAll(wait: WaitResult, reports: Map<string, TargetResult>, started: number, now: () => number) {
  let failure: string | undefined;
  let superseded: string | undefined;
  const seconds = (t: number | undefined) => (t === undefined ? undefined : Math.round((t - started) / 100) / 10);
  for (const [key, verdict] of wait.verdicts) {
    const report = reports.get(key);
    if (report === undefined) continue;
    const patched = report.outcome !== 'no-op';
    report.revisionAfter = revisionOf(report.kind, wait.workloads.get(key)) || report.revisionAfter;
    report.seconds = seconds(wait.finishedAt.get(key) ?? now()) ?? 0;
    report.rolledOutSeconds = seconds(wait.rolledOutAt.get(key));
    if (report.rolledOutSeconds !== undefined)
      report.bakedSeconds = Math.round((report.seconds - report.rolledOutSeconds) * 10) / 10;
    report.restarts = wait.restarts.get(key);
    if (verdict.state === 'failed') {
      report.outcome = 'failed';
      report.message = describe(verdict);
      failure ??= `${key}: ${describe(verdict)}`;
    } else if (verdict.state === 'superseded') {
      report.outcome = 'superseded';
      report.message = verdict.message;
      superseded ??= `${key}: ${verdict.message}`;
    } else if (patched) {
      report.outcome = verdict.state === 'done' ? 'success' : 'interrupted';
      report.message = verdict.message;
    } else if (verdict.state === 'done') {
      report.message = 'already running this digest, and healthy';
    }
  }
  return { failure, superseded };
}

/** The restores that failed or were left, marked on their reports; returns the problems to report. */
function restoreProblems(restored: Restored, records: TargetRecord[], reports: Map<string, TargetResult>): string[] {
  const problems: string[] = [];
  for (const error of restored.errors) {
    problems.push(`${error.key}: ${error.message}; ${byHand(error.key, records)}`);
    const report = reports.get(error.key);
    if (report) report.outcome = 'rollback-failed';
  }
  for (const { key, note, left } of restored.notes) {
    const report = reports.get(key);
    if (report) Object.assign(report, { restoreNote: note, outcome: left ? 'not-restored' : 'rolled-back' });
    if (left) problems.push(`${key}: not restored: ${note}`);
  }
  return problems;
}

/** Each restored target's outcome from the verdict of its wait; returns the problems to report. */
function judgeRestored(back: WaitResult, reports: Map<string, TargetResult>): string[] {
  const problems: string[] = [];
  for (const [key, verdict] of back.verdicts) {
    const report = reports.get(key);
    if (report === undefined) continue;
    report.revisionAfter = revisionOf(report.kind, back.workloads.get(key)) || report.revisionAfter;
    if (verdict.state === 'done') {
      report.outcome = 'rolled-back';
    } else if (verdict.state === 'failed' && verdict.reason === 'Cancelled') {
      Object.assign(report, { outcome: 'rolled-back', message: 'restored (not waited for: cancelled)' });
    } else {
      report.outcome = 'rollback-failed';
      problems.push(`${key}: ${verdict.state === 'failed' ? describe(verdict) : verdict.message}`);
    }
  }
  return problems;
}

/** Step 6: wait for the restored targets (own limit; a cancel stops the wait, not the restore). */
async function waitRestored(
  kube: Kube,
  records: TargetRecord[],
  restored: Restored,
  request: DeployRequest,
  reports: Map<string, TargetResult>,
  log: Log,
  now: () => number,
): Promise<string | undefined> {
  const problems = restoreProblems(restored, records, reports);
  if (restored.items.length > 0) {
    const options = waitOptions(request, now() + request.rollbackTimeoutMs);
    const back = await waitForRollouts(kube, restored.items, options, log, now);
    problems.push(...judgeRestored(back, reports));
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/** What the apply of the manifests did: each object's record and result, the workloads to watch, the refusal. */
interface AppliedManifests {
  records: ObjectRecord[];
  objects: ObjectResult[];
  changed: WaitItem[];
  unchanged: WaitItem[];
  error?: string;
}

async function applyManifests(
  kube: Kube,
  request: DeployRequest,
  reports: Map<string, TargetResult>,
  log: Log,
  /** The objects to apply (all of the manifests', or those held back for the canary) and the records made before. */
  part?: { objects: ManifestObject[]; before: ObjectRecord[] },
): Promise<AppliedManifests> {
  const manifests = request.manifests;
  if (manifests === undefined) return { records: [], objects: [], changed: [], unchanged: [], error: undefined };
  const before = part?.before ?? [];
  const onApplied = (records: ObjectRecord[]) => manifests.onApplied?.([...before, ...records]);
  const applied = await log.group('Apply', () =>
    applyAll(
      kube,
      part?.objects ?? manifests.objects,
      { force: manifests.force, retryMs: PATCH_RETRY_MS, onApplied },
      log,
    ),
  );
  const workloads = appliedWorkloads(applied.records, applied.reports, manifests.uses, request.reference);
  for (const target of workloads.targets) reports.set(target.key, target);
  return { ...applied, objects: applied.reports, changed: workloads.changed, unchanged: workloads.unchanged };
}

/** What the report says of a workload the rollback deleted because the deploy had created it. */
export const DELETED_NOTE = 'deleted: this deploy created it';

/** Merges what the objects' restore did into the targets' restore and reports. */
function withObjects(restored: Restored, objects: ObjectsRestored, reports: Map<string, TargetResult>): Restored {
  for (const key of objects.deleted) {
    const report = reports.get(key);
    if (report) Object.assign(report, { outcome: 'rolled-back', restoreNote: DELETED_NOTE });
  }
  return {
    items: [...restored.items, ...objects.items],
    notes: restored.notes,
    errors: [...restored.errors, ...objects.errors],
  };
}

/** Each workload watched, by kind, namespace, name and key. */
function watchedOf(workloads: { kind: WorkloadKind; namespace: string; name: string }[]): Watched[] {
  return workloads.map((t) => ({ kind: t.kind, namespace: t.namespace, name: t.name, key: targetKey(t) }));
}

interface Ours {
  targets: TargetRecord[];
  objects: ObjectRecord[];
}

/** What this deploy changed and may undo: superseded targets belong to whoever took them over, not to us. */
function oursToUndo(
  targets: TargetRecord[],
  objects: ObjectRecord[],
  reports: Map<string, TargetResult>,
  objectReports: Map<string, ObjectResult>,
): Ours {
  return {
    targets: targets.filter((r) => reports.get(r.key)?.outcome !== 'superseded'),
    objects: objects.filter(
      (r) =>
        objectReports.get(r.key)?.outcome !== 'unchanged' && reports.get(workloadKeyOf(r))?.outcome !== 'superseded',
    ),
  };
}

/** Steps 5 and 6: undo what this deploy changed (objects newest first, then targets) and wait for it. */
function undoAll(
  kube: Kube,
  ours: Ours,
  results: { reports: Map<string, TargetResult>; objects: Map<string, ObjectResult> },
  request: DeployRequest,
  log: Log,
  now: () => number,
): Promise<string | undefined> {
  return log.group('Rollback', async () => {
    const keys = [...ours.targets.map((r) => r.key), ...ours.objects.map((r) => r.key)];
    log.info(`Rolling back ${keys.join(', ')}: undoing what this deploy changed`);
    const undone = await restoreObjects(kube, ours.objects, log, request.rollbackTimeoutMs);
    for (const [key, report] of undone.reports) results.objects.set(key, report);
    const restored = await rollBack(kube, ours.targets, log, request.rollbackTimeoutMs);
    const all = withObjects(restored, undone, results.reports);
    return waitRestored(kube, ours.targets, all, request, results.reports, log, now);
  });
}

/**
 * Step 0: the Jobs of `pre-deploy`, one after another, before anything else changes; the first that fails ends the
 * deploy with its evidence (its pod's exit and last log lines), and nothing else is touched.
 */
async function runPreDeploy(kube: Kube, request: DeployRequest, log: Log, now: () => number) {
  const jobs: JobResult[] = [];
  const pending = request.preDeploy ?? [];
  if (pending.length === 0) return { jobs, evidence: [] };
  return log.group('Pre-deploy', async () => {
    for (const job of pending) {
      const options = {
        allowedRestarts: request.allowedRestarts,
        timeoutMs: request.timeoutMs,
        signal: request.signal,
        deleteAfter: false,
        running: jobTracker(request.onJobs),
      };
      const result = await runJob(kube, job, options, log, now);
      jobs.push(result);
      if (result.outcome !== 'complete') {
        const failure = `pre-deploy job ${result.key} ${result.outcome}: ${result.message}; no workload was changed`;
        return { jobs, failure, evidence: [jobEvidence(result)] };
      }
    }
    return { jobs, evidence: [] };
  });
}

/** The result of a deploy whose pre-deploy Job failed (or was cancelled): nothing else was touched. */
function stoppedBeforeRollout(
  before: { jobs: JobResult[]; failure: string; evidence: Evidence[] },
  cancelled: boolean,
): DeployResult {
  return {
    result: cancelled ? 'cancelled' : 'failed',
    failureReason: before.failure,
    targets: [],
    evidence: before.evidence,
    rollbackError: undefined,
    objects: [],
    verdictMs: 0,
    restoreMs: undefined,
    checks: [],
    jobs: before.jobs,
    canary: [],
  };
}

/** A failed Job as evidence: its pod, its exit and its last log lines. */
export function jobEvidence(job: JobResult): Evidence {
  return {
    target: `job ${job.key}`,
    pod: job.pod ?? '',
    container: '',
    reason: job.outcome === 'failed' ? 'JobFailed' : job.outcome,
    message: job.message,
    restartCount: 0,
    events: [],
    logs: job.logs ? lastLines(job.logs, LOG_LINES) : [],
    logSource: job.logs ? 'the failed run' : 'no log could be read',
  };
}

/**
 * Steps 1b and 1: the canary's steps, then, unless they stopped the release (or the manifests failed), the
 * manifests' Deployments held back for the canary are applied (added to `manifests`) and the targets patched.
 */
async function canaryThenPatch(
  kube: Kube,
  request: DeployRequest,
  manifests: AppliedManifests,
  held: HeldDeployment[],
  reports: Map<string, TargetResult>,
  log: Log,
  now: () => number,
) {
  const none = { patched: [], unchanged: [], patchError: undefined };
  if (manifests.error !== undefined) return { trial: noCanary(), ...none };
  const trial = await canaryFirst(kube, request, { changed: manifests.changed, held }, log, now);
  stoppedAtCanary(trial, reports, request.reference);
  if (trial.failure !== undefined) return { trial, ...none, patched: setsStopped(trial, reports, request.reference) };
  if (held.length > 0) {
    const part = { objects: held.map((h) => h.object), before: manifests.records };
    const late = await applyManifests(kube, request, reports, log, part);
    manifests.records.push(...late.records);
    manifests.objects.push(...late.objects);
    manifests.changed.push(...late.changed);
    manifests.unchanged.push(...late.unchanged);
    if (late.error !== undefined) {
      return { trial, ...none, patched: setsStopped(trial, reports, request.reference), patchError: late.error };
    }
  }
  const sets = new Set(trial.partitioned.map((s) => s.key));
  const others = { ...request, targets: request.targets.filter((t) => !sets.has(targetKey(t))) };
  const rest = await patchAll(kube, others, reports, log);
  const promoted = await promoteSets(kube, trial, request, reports, log);
  return {
    trial,
    ...rest,
    patched: [...rest.patched, ...promoted.patched],
    patchError: rest.patchError ?? promoted.error,
  };
}

/** The manifests' Deployments to canary before they are applied (with `canary` only), and the rest, applied first. */
async function heldBack(kube: Kube, request: DeployRequest, log: Log) {
  const manifests = request.manifests;
  if (manifests === undefined || (request.canary?.steps.length ?? 0) === 0) return undefined;
  const options = { force: manifests.force, uses: manifests.uses, retryMs: PATCH_RETRY_MS };
  return holdForCanary(kube, manifests.objects, options, log);
}

/**
 * The result of a failed deploy with nothing of its own to undo: cancelled, or rolled back when a canary stopped
 * the release and is gone (the stable targets never changed), else failed.
 */
function notUndone(request: DeployRequest, trial: CanaryRun, canaryError: string | undefined): DeployResultKind {
  if (request.signal.aborted) return 'cancelled';
  const back = request.rollback && trial.steps.length > 0 && trial.failure !== undefined && canaryError === undefined;
  return back ? 'rolled-back' : 'failed';
}

/** Patch, watch, decide, gather evidence, restore. Never throws for a failed rollout: that is a result, not an error. */
export async function deploy(
  kube: Kube,
  request: DeployRequest,
  log: Log,
  now: () => number = Date.now,
): Promise<DeployResult> {
  const started = now();
  const reports = new Map<string, TargetResult>();
  const before = await runPreDeploy(kube, request, log, now);
  if (before.failure !== undefined) return stoppedBeforeRollout(before, request.signal.aborted);
  const hold = await heldBack(kube, request, log);
  const held = hold?.held ?? [];
  const manifests = await applyManifests(kube, request, reports, log, hold && { objects: hold.first, before: [] });
  const { trial, patched, unchanged, patchError } = await canaryThenPatch(
    kube,
    request,
    manifests,
    held,
    reports,
    log,
    now,
  );
  const objects = new Map(manifests.objects.map((o) => [o.key, o]));
  const records = patched.map((p) => p.record);
  if (records.length > 0) request.onPatched?.(records);
  const stopped = trial.failure !== undefined ? held.map((h) => h.record) : [];
  const watched = watchedOf([...request.targets, ...stopped, ...manifests.changed, ...manifests.unchanged]);
  let wait: WaitResult | undefined;

  const finish = (
    result: DeployResultKind,
    failureReason: string,
    extra: Partial<DeployResult> = {},
  ): DeployResult => ({
    result,
    failureReason,
    targets: watched.map((t) => reports.get(t.key)).filter((r): r is TargetResult => r !== undefined),
    evidence: [],
    rollbackError: undefined,
    objects: [...objects.values()],
    verdictMs: 0,
    restoreMs: undefined,
    checks: wait?.checks ?? trial.checks,
    jobs: before.jobs,
    canary: trial.steps,
    ...extra,
  });

  const patchedAt = now();
  let failure = manifests.error ?? trial.failure ?? patchError;
  let superseded: string | undefined;
  if (failure === undefined) {
    const changed = [...patched.map((p) => p.item), ...manifests.changed];
    wait = await watchAll(kube, changed, [...unchanged, ...manifests.unchanged], request, started, log, now);
    ({ failure, superseded } = decideAll(wait, reports, started, now));
  }
  const verdictAt = now();
  const verdictMs = verdictAt - patchedAt;
  if (failure === undefined) {
    const left = await trial.remove();
    if (left !== undefined) log.warning(left);
    if (superseded !== undefined) return finish('superseded', superseded, { verdictMs });
    const changedAny = patched.length > 0 || manifests.objects.some((o) => o.outcome !== 'unchanged');
    return finish(changedAny ? 'success' : 'no-op', '', { verdictMs });
  }

  const evidence = wait ? gatherEvidence(kube, wait, watched) : Promise.resolve(trial.evidence);
  const canaryError = await trial.remove();
  const ours = oursToUndo(records, manifests.records, reports, objects);
  if (!request.rollback || ours.targets.length + ours.objects.length === 0) {
    const result = notUndone(request, trial, canaryError);
    return finish(result, failure, { evidence: await evidence, verdictMs, rollbackError: canaryError });
  }
  const undone = await undoAll(kube, ours, { reports, objects }, request, log, now);
  const rollbackError = [canaryError, undone].filter((e) => e !== undefined).join('; ') || undefined;
  // Cancelled at any point, even during the rollback wait: that is what the step says.
  const result = request.signal.aborted ? 'cancelled' : rollbackError === undefined ? 'rolled-back' : 'failed';
  return finish(result, failure, { evidence: await evidence, rollbackError, verdictMs, restoreMs: now() - verdictAt });
}
