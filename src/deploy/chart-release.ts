/**
 * The engine for a Helm chart, read top to bottom: record the release's revision, `helm upgrade --install` without
 * Helm's wait (its hook Jobs watched while helm runs, so a failing migration ends the deploy in seconds), watch every
 * workload and Job of the new revision with the rollout's wait, decide; on a failure keep the evidence first, then
 * `helm rollback` to the recorded revision (watched until healthy), or `helm uninstall` a failed first install.
 */
import { loadAll } from 'js-yaml';
import type { Kube, KubeObject } from '../cluster/kube.js';
import { messageOf } from '../lib/errors.js';
import { isRecord } from '../lib/json.js';
import type { Log } from '../lib/log.js';
import type { ChartSpec } from '../desired/chart.js';
import { objectKey, secretValues, type ImageUse } from '../desired/manifests.js';
import { isPending, type Helm, type ReleaseRef, type Rendered } from '../helm/helm.js';
import { workloadItem } from './apply.js';
import type { Evidence } from './evidence.js';
import { followJob, type JobRecord, type JobResult } from './job-run.js';
import type { DeployResultKind, TargetResult } from './result.js';
import { bakeWithChecks, jobEvidence, type DeployResult } from './rollout.js';
import type { VerifyPlan } from './verify.js';
import type { HttpGet } from '../lib/http.js';
import { revisionOf } from './target-record.js';
import { wantedPods, type Verdict } from './verdict.js';
import { waitForRollouts, type WaitItem, type WaitResult } from './wait.js';
import { gatherEvidence } from './wait-evidence.js';

/** What the post step needs to finish a release a killed step left: roll back to `revision`, or uninstall (0). */
export interface ReleaseRecord extends ReleaseRef {
  /** The revision before this deploy; 0 when there was none (a first install). */
  revision: number;
  /** The helm upgrade running now, if any: stopped first by the post step, so it cannot finish after the rollback. */
  helmPid?: number;
}

export interface ChartRequest {
  spec: ChartSpec;
  namespace: string;
  image: string;
  reference: string;
  timeoutMs: number;
  rollback: boolean;
  rollbackTimeoutMs: number;
  failFast: boolean;
  allowedRestarts: number;
  bakeMs: number;
  signal: AbortSignal;
  /** The checks of `verify`, run during the bake against the release's new pods, and the runner's HTTP. */
  verify?: VerifyPlan & { http: HttpGet };
  /** Told when a check's Job starts and ends (for the post step). */
  onJob?: (job: JobRecord, running: boolean) => void;
  /**
   * Told the values of the release's Secrets once helm has made the revision, before any of its pods' logs, events or
   * statuses are read: they are masked and scrubbed from every channel.
   */
  onSecrets?: (values: string[]) => void;
  /** Called with the release's record before helm changes anything (saved for the post step). */
  onRecorded?: (record: ReleaseRecord) => void;
}

/** The hooks helm runs before it changes the release: a failing one (a migration) ends the deploy at once. */
const HOOK_KINDS = /^pre-(install|upgrade)/;

/** The objects of a release's manifest, each namespaced object placed in the release's namespace if it names none. */
export function releaseObjects(manifest: string, namespace: string): KubeObject[] {
  return loadAll(manifest).flatMap((doc) => {
    if (!isRecord(doc) || typeof doc.kind !== 'string' || !isRecord(doc.metadata)) return [];
    const object = doc as unknown as KubeObject;
    return [{ ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? namespace } }];
  });
}

/** `Kind namespace/name` of a use, placed as the release places it. */
export function placedKey(use: ImageUse, namespace: string): string {
  return /^\S+ [^/]+$/.test(use.key) ? use.key.replace(' ', ` ${namespace}/`) : use.key;
}

/** Logs which containers got the reference (the post-renderer's report). */
function logUses(rendered: Rendered, request: ChartRequest, log: Log): void {
  if (rendered.uses.length === 0) {
    log.warning(`No container of the chart runs an image from ${request.image}: the release carries no new digest`);
  }
  for (const use of rendered.uses) {
    log.info(`${placedKey(use, request.namespace)}: ${use.containers.join(', ')} -> ${request.reference}`);
  }
}

/** Step 2: helm upgrade --install, the pre-install/pre-upgrade hook Jobs watched while helm waits for them. */
async function upgrade(
  kube: Kube,
  helm: Helm,
  request: ChartRequest,
  record: ReleaseRecord,
  log: Log,
  now: () => number,
) {
  const stopHelm = new AbortController();
  const stopHooks = new AbortController();
  const hooks: Promise<JobResult>[] = [];
  let hookFailure: JobResult | undefined;
  const since = now();
  const hookOptions = {
    allowedRestarts: request.allowedRestarts,
    timeoutMs: request.timeoutMs,
    signal: AbortSignal.any([request.signal, stopHooks.signal]),
  };
  const onRendered = (rendered: Rendered): void => {
    logUses(rendered, request, log);
    for (const hook of rendered.hooks.filter((h) => HOOK_KINDS.test(h.hook))) {
      const job = { namespace: hook.namespace || request.namespace, name: hook.name, since };
      const followed = followJob(kube, job, hookOptions, log, now).then((result) => {
        if (result.outcome === 'failed' || result.outcome === 'timeout') {
          hookFailure ??= result;
          stopHelm.abort();
        }
        return result;
      });
      hooks.push(followed);
    }
  };
  const out = await helm.upgrade(
    request.spec,
    request.namespace,
    { image: request.image, reference: request.reference },
    {
      signal: AbortSignal.any([request.signal, stopHelm.signal]),
      timeoutMs: request.timeoutMs,
      onRendered,
      onStarted: (helmPid) => request.onRecorded?.({ ...record, helmPid }),
    },
  );
  request.onRecorded?.(record);
  stopHooks.abort();
  const jobs = await Promise.all(hooks);
  return { out, jobs, hookFailure: hookFailure as JobResult | undefined };
}

/** The workloads of the release's newest revision, each as the wait takes it (its generation as it is now). */
async function workloadsOf(kube: Kube, helm: Helm, ref: ReleaseRef, uses: ImageUse[], reference: string) {
  const objects = releaseObjects(await helm.manifest(ref), ref.namespace);
  const items: WaitItem[] = [];
  for (const object of objects) {
    const item = workloadItem(object);
    if (item === undefined) continue;
    const live = await kube.getWorkload(item);
    const containers = uses.find((u) => placedKey(u, ref.namespace) === objectKey(object))?.containers ?? [];
    items.push({
      ...item,
      minGeneration: live.metadata?.generation ?? 0,
      ...(containers.length > 0 ? { expected: { containers, reference } } : {}),
    });
  }
  const jobs = objects.filter((o) => o.kind === 'Job' && o.apiVersion === 'batch/v1');
  return { items, jobs };
}

/** What a workload of the release ran before this deploy: its containers' images and its revision. */
interface Before {
  images: Record<string, string>;
  revision: string;
}

/** Step 1b: the recorded revision's workloads as they run now, for the report's "before" (none on a first install). */
async function workloadsBefore(kube: Kube, helm: Helm, record: ReleaseRecord): Promise<Map<string, Before>> {
  const before = new Map<string, Before>();
  if (record.revision === 0) return before;
  for (const object of releaseObjects(await helm.manifest(record, record.revision), record.namespace)) {
    const item = workloadItem(object);
    if (item === undefined) continue;
    const live = await kube.getWorkload(item).catch(() => undefined);
    if (live === undefined) continue;
    const spec = live.spec?.template.spec;
    const containers = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
    before.set(item.key, {
      images: Object.fromEntries(containers.map((c) => [c.name, c.image ?? ''])),
      revision: revisionOf(item.kind, live),
    });
  }
  return before;
}

type Failed = Extract<Verdict, { state: 'failed' }>;

const describe = (v: Failed): string => (v.message.includes(v.reason) ? v.message : `${v.reason}: ${v.message}`);

/** Each workload's row in the report. */
function rowsOf(
  items: WaitItem[],
  wait: WaitResult | undefined,
  reference: string,
  before: Map<string, Before>,
): TargetResult[] {
  return items.map((item) => {
    const verdict = wait?.verdicts.get(item.key);
    const failed = verdict?.state === 'failed';
    const containers = item.expected?.containers ?? [];
    const was = before.get(item.key);
    const live = wait?.workloads.get(item.key);
    return {
      key: item.key,
      kind: item.kind,
      containers,
      imagesBefore: Object.fromEntries(containers.flatMap((c) => (was?.images[c] ? [[c, was.images[c]]] : []))),
      imageAfter: item.expected ? reference : '',
      revisionBefore: was?.revision ?? '',
      revisionAfter: revisionOf(item.kind, live),
      replicas: live ? wantedPods(item.kind, live) : 0,
      outcome: verdict?.state === 'done' ? 'success' : failed ? 'failed' : 'interrupted',
      message: verdict === undefined ? 'not judged' : failed ? describe(verdict) : verdict.message,
      seconds: 0,
      restarts: wait?.restarts.get(item.key),
    };
  });
}

/** Step 3: watch every workload (and Job) of the new revision until rolled out and baked. */
async function watchRelease(
  kube: Kube,
  helm: Helm,
  request: ChartRequest,
  uses: ImageUse[],
  log: Log,
  now: () => number,
) {
  const ref = { release: request.spec.release, namespace: request.namespace };
  const { items, jobs } = await workloadsOf(kube, helm, ref, uses, request.reference);
  const started = now();
  const { bakeMs, verify } = bakeWithChecks(kube, request.verify, request.bakeMs, {
    log,
    now,
    ...(request.onJob ? { jobs: request.onJob } : {}),
  });
  const options = {
    deadline: started + request.timeoutMs,
    failFast: request.failFast,
    allowedRestarts: request.allowedRestarts,
    signal: request.signal,
    ...(verify ? { verify } : {}),
  };
  const jobOptions = { allowedRestarts: request.allowedRestarts, timeoutMs: request.timeoutMs, signal: request.signal };
  const [wait, ...jobResults] = await Promise.all([
    waitForRollouts(
      kube,
      items.map((i) => ({ ...i, bakeMs, verified: verify !== undefined })),
      options,
      log,
      now,
    ),
    ...jobs.map((job) =>
      followJob(
        kube,
        { namespace: job.metadata.namespace ?? ref.namespace, name: job.metadata.name, since: 0 },
        jobOptions,
        log,
        now,
      ),
    ),
  ]);
  let failure: string | undefined;
  for (const [key, verdict] of wait.verdicts) {
    if (verdict.state === 'failed') failure ??= `${key}: ${describe(verdict)}`;
  }
  const failedJob = jobResults.find((j) => j.outcome !== 'complete');
  if (failedJob) failure ??= `job ${failedJob.key} ${failedJob.outcome}: ${failedJob.message}`;
  return { items, wait, jobs: jobResults, failure };
}

/** Step 5: the release back to the recorded revision (or gone, for a first install), watched until healthy. */
async function restoreRelease(
  kube: Kube,
  helm: Helm,
  record: ReleaseRecord,
  request: ChartRequest,
  log: Log,
  now: () => number,
): Promise<string | undefined> {
  const latest = await helm.latest(record);
  if (record.revision === 0) {
    if (latest === undefined) return undefined;
    log.info(`Uninstalling ${record.release}: its first install failed (the evidence is kept above)`);
    const out = await helm.uninstall(record, request.rollbackTimeoutMs);
    return out.ok ? undefined : `helm uninstall ${record.release}: ${out.message}`;
  }
  if (latest !== undefined && latest.revision === record.revision && !isPending(latest.status)) {
    log.info(`${record.release}: still at revision ${record.revision}; helm changed nothing to undo`);
    return undefined;
  }
  log.info(`Rolling back ${record.release} to revision ${record.revision}, the one before this deploy`);
  const out = await helm.rollback(record, record.revision, request.rollbackTimeoutMs);
  if (!out.ok) return `helm rollback ${record.release} ${record.revision}: ${out.message}`;
  const { items } = await workloadsOf(kube, helm, record, [], request.reference);
  const options = {
    deadline: now() + request.rollbackTimeoutMs,
    failFast: request.failFast,
    allowedRestarts: request.allowedRestarts,
    signal: request.signal,
  };
  const back = await waitForRollouts(kube, items, options, log, now);
  const problems = [...back.verdicts].flatMap(([key, v]) =>
    v.state === 'done' || (v.state === 'failed' && v.reason === 'Cancelled') ? [] : [`${key}: ${v.message}`],
  );
  return problems.length > 0 ? `restored revision not healthy: ${problems.join('; ')}` : undefined;
}

/**
 * What a release needs after a step that never finished (the post step): back to the recorded revision, or gone if
 * this deploy installed it, so it is never left `pending-*` (Helm would refuse the next upgrade). Returns a problem.
 */
export async function finishLeftRelease(
  helm: Helm,
  record: ReleaseRecord,
  log: Log,
  timeoutMs: number,
): Promise<string | undefined> {
  const latest = await helm.latest(record);
  const name = `${record.namespace}/${record.release}`;
  if (record.revision === 0) {
    if (latest === undefined) return undefined;
    log.info(`Release ${name}: uninstalling the first install the deploy left (${latest.status})`);
    const out = await helm.uninstall(record, timeoutMs);
    return out.ok ? undefined : `helm uninstall ${record.release}: ${out.message}`;
  }
  if (latest !== undefined && latest.revision === record.revision && !isPending(latest.status)) return undefined;
  log.info(`Release ${name}: rolling back to revision ${record.revision}, the one before the deploy`);
  const out = await helm.rollback(record, record.revision, timeoutMs);
  return out.ok ? undefined : `helm rollback ${record.release} ${record.revision}: ${out.message}`;
}

function emptyResult(result: DeployResultKind, failureReason: string, extra: Partial<DeployResult> = {}): DeployResult {
  return {
    result,
    failureReason,
    targets: [],
    evidence: [],
    rollbackError: undefined,
    objects: [],
    verdictMs: 0,
    restoreMs: undefined,
    checks: [],
    jobs: [],
    canary: [],
    ...extra,
  };
}

/** The values of the newest revision's Secrets, told to `onSecrets` (none when helm made no revision). */
async function tellSecrets(helm: Helm, ref: ReleaseRef, request: ChartRequest): Promise<void> {
  if (request.onSecrets === undefined) return;
  const manifest = await helm.manifest(ref).catch(() => '');
  const objects = releaseObjects(manifest, ref.namespace).map((object, i) => ({ file: '', document: i + 1, object }));
  request.onSecrets(secretValues(objects));
}

/** Record, upgrade, watch, decide, keep the evidence, restore. A failed release is a result, not an error. */
export async function releaseChart(
  kube: Kube,
  helm: Helm,
  request: ChartRequest,
  log: Log,
  now: () => number = Date.now,
): Promise<DeployResult> {
  const ref = { release: request.spec.release, namespace: request.namespace };
  const before = await helm.latest(ref);
  if (before !== undefined && isPending(before.status)) {
    return emptyResult(
      'failed',
      `release ${ref.release} is ${before.status} (an operation that never finished); helm refuses to upgrade it: ` +
        `roll it back first (helm rollback ${ref.release} -n ${ref.namespace})`,
    );
  }
  const record: ReleaseRecord = { ...ref, revision: before?.revision ?? 0 };
  request.onRecorded?.(record);
  log.info(
    before
      ? `Release ${ref.namespace}/${ref.release}: revision ${before.revision} (${before.status}) recorded`
      : `Release ${ref.namespace}/${ref.release}: a first install`,
  );

  const previously = await workloadsBefore(kube, helm, record);
  const up = await log.group('Deploy', () => upgrade(kube, helm, request, record, log, now));
  await tellSecrets(helm, ref, request);
  const upgradedAt = now();
  let failure: string | undefined;
  let watched: Awaited<ReturnType<typeof watchRelease>> | undefined;
  if (up.hookFailure) failure = `hook job ${up.hookFailure.key} ${up.hookFailure.outcome}: ${up.hookFailure.message}`;
  else if (request.signal.aborted) failure = 'cancelled while helm ran';
  else if (!up.out.ok) failure = `helm upgrade ${ref.release}: ${up.out.message}`;
  else {
    log.info(`helm upgrade --install ${ref.release}: done; watching the release's workloads`);
    watched = await log.group('Rollout', () => watchRelease(kube, helm, request, up.out.rendered.uses, log, now));
    failure = watched.failure;
  }
  const verdictAt = now();
  const jobs = [...up.jobs, ...(watched?.jobs ?? [])];
  const targets = watched ? rowsOf(watched.items, watched.wait, request.reference, previously) : [];
  const verdictMs = verdictAt - upgradedAt;
  const checks = watched?.wait.checks ?? [];
  if (failure === undefined) return emptyResult('success', '', { targets, jobs, verdictMs, checks });

  // Evidence first: a first install's uninstall takes its pods (and their logs) with it.
  const evidence: Evidence[] = [
    ...(watched ? await gatherEvidence(kube, watched.wait, watched.items) : []),
    ...jobs.filter((j) => j.outcome === 'failed').map(jobEvidence),
  ];
  if (!request.rollback) {
    log.warning(`rollback: false: release ${ref.release} is left as helm left it`);
    return emptyResult('failed', failure, { targets, jobs, evidence, verdictMs, checks });
  }
  const rollbackError = await log.group('Rollback', () =>
    restoreRelease(kube, helm, record, request, log, now).catch((error: unknown) => messageOf(error)),
  );
  for (const row of targets) if (rollbackError === undefined) row.outcome = 'rolled-back';
  const result = request.signal.aborted ? 'cancelled' : rollbackError === undefined ? 'rolled-back' : 'failed';
  return emptyResult(result, failure, {
    targets,
    jobs,
    evidence,
    rollbackError,
    verdictMs,
    restoreMs: now() - verdictAt,
    checks,
  });
}
