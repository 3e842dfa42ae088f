/**
 * Running one Job to its end, watched fail-fast: a migration before the rollout (`pre-deploy`) or a `job` check of
 * `verify`. The Job is created (a leftover of the same name is replaced first), its pods watched with the same
 * signals as a rollout's (crash, pull error, unschedulable, a failed run past `allowed-restarts`), its Complete or
 * Failed condition read, the failing pod's last log lines kept for the evidence; deleted afterwards when asked, and
 * always when cancelled or timed out.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { JobState, Kube, KubeObject, ObjectRef } from '../cluster/kube.js';
import { sleep } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import { podFailure, type Verdict } from './verdict.js';
import { NO_PODS_SEEN, podCheck } from './wait-state.js';

export type JobOutcome = 'complete' | 'failed' | 'cancelled' | 'timeout';

/** A Job the deploy started and that has not ended: the post step deletes it (by uid) if the main step was killed. */
export interface JobRecord {
  apiVersion: string;
  kind: 'Job';
  namespace: string;
  name: string;
  uid: string;
}

export interface JobResult {
  /** `namespace/name`. */
  key: string;
  outcome: JobOutcome;
  message: string;
  /** The pod the outcome is about, and its last log lines (for evidence). */
  pod?: string;
  logs?: string;
  seconds: number;
}

export interface JobOptions {
  allowedRestarts: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** Delete the Job when it ends (a check's Job); a migration's is kept as its record. */
  deleteAfter: boolean;
  /** Told when the Job exists and when it has ended (the post step deletes a Job a killed step left running). */
  running?: (job: JobRecord, running: boolean) => void;
}

/** Log lines of a failed Job pod kept for the evidence. */
const LOG_TAIL_LINES = 40;
const LOG_LIMIT_BYTES = 16 * 1024;
/** How long a replaced Job may take to go away. */
const REPLACE_WAIT_MS = 30_000;

/** What a Job's state says: done, failed (with the pod it is about), or still running. */
export function jobVerdict(state: JobState, allowedRestarts: number, now: number): Verdict {
  const { job } = state;
  if (job === undefined) return { state: 'failed', reason: 'Deleted', message: 'the Job was deleted while it ran' };
  const condition = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const complete = condition('Complete');
  if (complete) return { state: 'done', message: `completed (${job.status?.succeeded ?? 0} succeeded)` };
  const failedRuns = [...state.pods.values()].filter((p) => p.status?.phase === 'Failed');
  const failedCondition = condition('Failed');
  if (failedCondition) {
    const pod = lastFailed(failedRuns);
    return {
      state: 'failed',
      reason: failedCondition.reason ?? 'Failed',
      message: `${failedCondition.reason ?? 'Failed'}: ${failedCondition.message ?? ''}${pod ? `; ${exitOf(pod)}` : ''}`,
      ...(pod?.metadata?.name ? { pod: pod.metadata.name } : {}),
    };
  }
  if (failedRuns.length > allowedRestarts) {
    const pod = lastFailed(failedRuns);
    const budget = allowedRestarts > 0 ? ` (allowed-restarts: ${allowedRestarts})` : '';
    return {
      state: 'failed',
      reason: 'PodFailed',
      message: `${failedRuns.length} run${failedRuns.length === 1 ? '' : 's'} failed${budget}: ${pod ? exitOf(pod) : ''}`,
      ...(pod?.metadata?.name ? { pod: pod.metadata.name } : {}),
    };
  }
  const running = [...state.pods.values()].filter((p) => p.status?.phase !== 'Failed');
  const signal = podFailure(
    running,
    job.spec?.template.spec?.containers ?? [],
    podCheck(NO_PODS_SEEN, now, 0, allowedRestarts),
  );
  return signal ?? { state: 'progressing', message: `running (${job.status?.active ?? 0} active)` };
}

const lastFailed = (pods: V1Pod[]): V1Pod | undefined => [...pods].sort((a, b) => time(b) - time(a))[0] ?? undefined;
const time = (pod: V1Pod): number => new Date(pod.metadata?.creationTimestamp ?? 0).getTime();

/** `pod NAME: exit code 1 (Error): message`. */
function exitOf(pod: V1Pod): string {
  const terminated = (pod.status?.containerStatuses ?? []).map((c) => c.state?.terminated).find((t) => t);
  const exit = terminated
    ? `exit code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}${terminated.message ? `: ${terminated.message.trim()}` : ''}`
    : (pod.status?.reason ?? 'failed');
  return `pod ${pod.metadata?.name ?? ''}: ${exit}`;
}

const refOf = (job: KubeObject): ObjectRef => ({
  apiVersion: job.apiVersion,
  kind: job.kind,
  namespace: job.metadata.namespace,
  name: job.metadata.name,
});

/** Deletes a leftover Job of the same name (an earlier run's) and waits until it is gone. */
async function replaceLeftover(kube: Kube, ref: ObjectRef, log: Log, signal: AbortSignal): Promise<void> {
  const old = await kube.getObject(ref);
  if (old?.metadata.uid === undefined) return;
  log.info(`job ${ref.namespace ?? ''}/${ref.name}: replacing the Job of the same name an earlier run left`);
  await kube.deleteObject(ref, old.metadata.uid);
  const until = Date.now() + REPLACE_WAIT_MS;
  while (!signal.aborted && Date.now() < until) {
    if ((await kube.getObject(ref))?.metadata.uid !== old.metadata.uid) return;
    await sleep(250);
  }
  if (!signal.aborted) throw new Error(`job ${ref.name}: the earlier Job of that name was not gone within 30s`);
}

/** Creates the Job and watches it to its end. Never throws: an error is a failed result. */
export async function runJob(
  kube: Kube,
  job: KubeObject,
  options: JobOptions,
  log: Log,
  now: () => number = Date.now,
): Promise<JobResult> {
  const ref = refOf(job);
  const key = `${ref.namespace ?? ''}/${ref.name}`;
  const started = now();
  const result = (outcome: JobOutcome, message: string, extra: Partial<JobResult> = {}): JobResult => ({
    key,
    outcome,
    message,
    seconds: Math.round((now() - started) / 100) / 10,
    ...extra,
  });
  let uid: string | undefined;
  let record: JobRecord | undefined;
  try {
    await replaceLeftover(kube, ref, log, options.signal);
    if (options.signal.aborted) return result('cancelled', 'the step was cancelled before the Job started');
    const created = await kube.applyObject(job, { dryRun: false, force: true });
    uid = created.object.metadata.uid ?? '';
    record = { apiVersion: ref.apiVersion, kind: 'Job', namespace: ref.namespace ?? '', name: ref.name, uid };
    options.running?.(record, true);
    log.info(`job ${key}: started`);
    const end = await watchJob(kube, { namespace: ref.namespace ?? '', name: ref.name, uid }, options, now);
    const logs = end.pod ? await lastWords(kube, ref.namespace ?? '', end.pod, end.container) : undefined;
    log.info(`job ${key}: ${end.outcome === 'complete' ? 'completed' : end.outcome}: ${end.message}`);
    return result(end.outcome, end.message, { ...(end.pod ? { pod: end.pod } : {}), ...(logs ? { logs } : {}) });
  } catch (error) {
    return result('failed', messageOf(error));
  } finally {
    if (uid !== undefined && (options.deleteAfter || options.signal.aborted)) {
      await kube.deleteObject(ref, uid).catch((error: unknown) => {
        log.warning(`job ${key}: could not delete it: ${messageOf(error)}`);
      });
    }
    if (record) options.running?.(record, false);
  }
}

/** How often a Job that helm is about to create is looked for. */
const APPEAR_POLL_MS = 250;

/**
 * Watches a Job someone else creates (a Helm hook) to its end, with the same signals as `runJob`: waits for a Job of
 * that name created at `since` or later (an older one of the name is an earlier run's), then follows it. Never throws.
 */
export async function followJob(
  kube: Kube,
  job: { namespace: string; name: string; since: number },
  options: Omit<JobOptions, 'deleteAfter' | 'running'>,
  log: Log,
  now: () => number = Date.now,
): Promise<JobResult> {
  const key = `${job.namespace}/${job.name}`;
  const started = now();
  const result = (outcome: JobOutcome, message: string, extra: Partial<JobResult> = {}): JobResult => ({
    key,
    outcome,
    message,
    seconds: Math.round((now() - started) / 100) / 10,
    ...extra,
  });
  try {
    const ref = { apiVersion: 'batch/v1', kind: 'Job', namespace: job.namespace, name: job.name };
    const floor = Math.floor(job.since / 1000) * 1000;
    let uid: string | undefined;
    while (uid === undefined) {
      if (options.signal.aborted) return result('cancelled', 'not started when the wait ended');
      const live = await kube.getObject(ref);
      const stamp = live?.metadata.creationTimestamp;
      const created = typeof stamp === 'string' || stamp instanceof Date ? new Date(stamp).getTime() : 0;
      if (live?.metadata.uid !== undefined && created >= floor) uid = live.metadata.uid;
      else await sleep(APPEAR_POLL_MS);
    }
    log.info(`job ${key}: started`);
    const end = await watchJob(kube, { namespace: job.namespace, name: job.name, uid }, options, now);
    const logs = end.pod ? await lastWords(kube, job.namespace, end.pod, end.container) : undefined;
    log.info(`job ${key}: ${end.outcome === 'complete' ? 'completed' : end.outcome}: ${end.message}`);
    return result(end.outcome, end.message, { ...(end.pod ? { pod: end.pod } : {}), ...(logs ? { logs } : {}) });
  } catch (error) {
    return result('failed', messageOf(error));
  }
}

interface JobEnd {
  outcome: JobOutcome;
  message: string;
  pod?: string;
  container?: string;
}

/** Watches until the verdict is final, the time is up, or the step is cancelled. */
async function watchJob(
  kube: Kube,
  scope: { namespace: string; name: string; uid: string },
  options: Pick<JobOptions, 'allowedRestarts' | 'timeoutMs' | 'signal'>,
  now: () => number,
): Promise<JobEnd> {
  const stop = new AbortController();
  let last: JobState | undefined;
  let settle: (end: JobEnd) => void = () => undefined;
  const ended = new Promise<JobEnd>((resolve) => (settle = resolve));
  const judge = (): void => {
    if (last === undefined) return;
    const verdict = jobVerdict(last, options.allowedRestarts, now());
    if (verdict.state === 'done') settle({ outcome: 'complete', message: verdict.message });
    if (verdict.state === 'failed') {
      const pod = verdict.pod ?? undefined;
      const failedPod = pod === undefined ? undefined : last.pods.get(pod);
      const crashed = failedPod?.status?.containerStatuses?.find((c) => (c.state?.terminated?.exitCode ?? 0) !== 0);
      const container = verdict.container ?? crashed?.name ?? failedPod?.spec?.containers[0]?.name;
      settle({
        outcome: 'failed',
        message: verdict.message,
        ...(pod ? { pod } : {}),
        ...(container ? { container } : {}),
      });
    }
  };
  const onAbort = (): void => settle({ outcome: 'cancelled', message: 'the step was cancelled' });
  options.signal.addEventListener('abort', onAbort, { once: true });
  if (options.signal.aborted) onAbort();
  const timer = setTimeout(
    () => settle({ outcome: 'timeout', message: `not finished within ${Math.round(options.timeoutMs / 1000)}s` }),
    options.timeoutMs,
  );
  const ticker = setInterval(judge, 1000);
  const watching = kube
    .observeJob(scope, (state) => ((last = state), judge()), stop.signal)
    .catch((error: unknown) => settle({ outcome: 'failed', message: `watching the Job failed: ${messageOf(error)}` }));
  try {
    return await ended;
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    options.signal.removeEventListener('abort', onAbort);
    stop.abort();
    await watching;
  }
}

/** The end of the failed container's log; empty when it cannot be read. */
async function lastWords(kube: Kube, namespace: string, pod: string, container?: string): Promise<string> {
  if (container === undefined) return '';
  return kube
    .readLog({ namespace, pod, container, previous: false, tailLines: LOG_TAIL_LINES, limitBytes: LOG_LIMIT_BYTES })
    .catch(() => '');
}
