/**
 * Running the checks of `verify` against the new release: each repeated check (http, prometheus) runs every
 * interval until the wait ends, a Job check runs once; every result goes through `record` (verify-state.ts), and the
 * overall status (pending, passing, failed) is told to the wait, which holds the bake open until every check passes
 * and fails the rollout when one fails past its grace.
 */
import type { Kube, KubeObject } from '../cluster/kube.js';
import type { CheckSpec } from '../desired/verify.js';
import { abortableSleep } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import type { HttpGet } from '../lib/http.js';
import type { Log } from '../lib/log.js';
import { clip } from '../lib/text.js';
import { runJob, type JobRecord } from './job-run.js';
import {
  expandQuery,
  judgeHttp,
  judgePrometheus,
  overall,
  record,
  startTrack,
  type CheckRun,
  type CheckState,
  type CheckTrack,
} from './verify-state.js';

/** A pod of the new release. */
export interface ReleasePod {
  namespace: string;
  name: string;
}

/** A check as the deploy runs it: its spec and, for a Job check, the Job (image given, name unique to the run). */
export interface PreparedCheck {
  spec: CheckSpec;
  job?: KubeObject;
}

export interface VerifyPlan {
  checks: PreparedCheck[];
  /** Where Services named without a namespace are, and what `$namespace` means. */
  namespace: string;
  allowedRestarts: number;
}

/** What the report shows of one check: its last result. */
export interface CheckReport {
  label: string;
  /** What it checks, e.g. `GET :8080/healthz on every new pod`. */
  what: string;
  state: CheckState;
  runs: number;
  failures: number;
  detail: string;
  /** A Job check's failed pod's last log lines. */
  logs?: string;
}

export type VerifyStatus = { state: 'pending' | 'passing' } | { state: 'failed'; message: string };

export interface VerifyPorts {
  kube: Kube;
  http: HttpGet;
  log: Log;
  now?: () => number;
  /** Waits between runs; resolves early when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Told when a check's Job starts and ends (for the post step). */
  jobs?: (job: JobRecord, running: boolean) => void;
}

/** What a check looks at, in words, for the log and the summary. */
export function describeCheck(spec: CheckSpec): string {
  if (spec.kind === 'job') return `Job ${spec.file} with the new image`;
  if (spec.kind === 'prometheus') {
    const where = spec.source.via === 'url' ? spec.source.url : `service ${serviceRef(spec.source)}`;
    const bounds = [spec.min !== undefined ? `>= ${spec.min}` : '', spec.max !== undefined ? `<= ${spec.max}` : '']
      .filter((b) => b !== '')
      .join(' and ');
    return `${clip(spec.query, 200)} ${bounds} (${where})`;
  }
  const target = spec.target;
  if (target.via === 'url') return `GET ${target.url} from the runner`;
  if (target.via === 'service') return `GET ${spec.path} on service ${serviceRef(target)}`;
  return `GET :${target.port}${spec.path} on every new pod`;
}

const serviceRef = (s: { namespace?: string; name: string; port: number }): string =>
  `${s.namespace ? `${s.namespace}/` : ''}${s.name}:${s.port}`;

/**
 * A running verification: `status` is the overall status now; `stop` ends every check (deleting a running Job)
 * and returns each one's last result.
 */
export interface Verification {
  status(): VerifyStatus;
  stop(): Promise<CheckReport[]>;
}

/**
 * Starts every check; `pods` gives the new release's pods at the time of each run; `onStatus` is called whenever
 * the overall status changes.
 */
export function startVerification(
  plan: VerifyPlan,
  pods: () => ReleasePod[],
  onStatus: (status: VerifyStatus) => void,
  ports: VerifyPorts,
): Verification {
  const now = ports.now ?? Date.now;
  const pause = ports.sleep ?? abortableSleep;
  const stop = new AbortController();
  const tracks = plan.checks.map((c) => startTrack(c.spec));
  const logs = new Map<number, string>();
  let last: VerifyStatus = { state: 'pending' };
  const statusOf = (): VerifyStatus => {
    const state = overall(tracks);
    if (state !== 'failed') return { state };
    const failed = tracks.find((t) => t.state === 'failed');
    return { state: 'failed', message: `verify ${failed?.spec.label ?? ''} failed: ${failed?.last?.detail ?? ''}` };
  };
  const note = (index: number, run: CheckRun): void => {
    const step = record(tracks[index] as CheckTrack, run, now());
    tracks[index] = step.track;
    if (step.line) ports.log.info(`verify ${step.line}`);
    const status = statusOf();
    if (status.state !== last.state) {
      last = status;
      onStatus(status);
    }
    if (status.state === 'failed') stop.abort();
  };
  ports.log.info(
    `Verifying the new release: ${plan.checks.map((c) => `${c.spec.label}: ${describeCheck(c.spec)}`).join('; ')}`,
  );
  const loops = plan.checks.map(async (check, index) => {
    if (check.spec.kind === 'job') {
      const job = await runJobCheck(check, plan, ports, stop.signal);
      if (job === undefined) return;
      if (job.logs) logs.set(index, job.logs);
      note(index, job.run);
      return;
    }
    while (!stop.signal.aborted) {
      const run = await runOnce(check.spec, plan, pods(), ports, stop.signal);
      if (stop.signal.aborted) return;
      note(index, run);
      await pause(check.spec.intervalMs, stop.signal);
    }
  });
  return {
    status: statusOf,
    async stop() {
      stop.abort();
      await Promise.all(loops);
      return tracks.map((t, index) => reportOf(t, logs.get(index)));
    },
  };
}

/** What the report shows of a check: its last result (and a Job check's logs). */
function reportOf(track: CheckTrack, logs: string | undefined): CheckReport {
  return {
    label: track.spec.label,
    what: describeCheck(track.spec),
    state: track.state,
    runs: track.runs,
    failures: track.failures,
    detail: track.last?.detail ?? 'not run',
    ...(logs !== undefined ? { logs } : {}),
  };
}

/** The one run of a Job check (undefined when cancelled): its Job's end, and its failed pod's logs. */
async function runJobCheck(check: PreparedCheck, plan: VerifyPlan, ports: VerifyPorts, signal: AbortSignal) {
  const options = {
    allowedRestarts: plan.allowedRestarts,
    timeoutMs: check.spec.timeoutMs,
    signal,
    deleteAfter: true,
    ...(ports.jobs ? { running: ports.jobs } : {}),
  };
  const job = await runJob(ports.kube, check.job as KubeObject, options, ports.log, ports.now);
  if (job.outcome === 'cancelled') return undefined;
  const run: CheckRun = {
    outcome: job.outcome === 'complete' ? 'pass' : 'fail',
    detail: `job ${job.key} ${job.outcome}: ${job.message}`,
  };
  return { run, logs: job.logs };
}

/** One run of a repeated check; an error (no answer, a refusal) is a result too, never a pass. */
async function runOnce(
  spec: CheckSpec,
  plan: VerifyPlan,
  pods: ReleasePod[],
  ports: VerifyPorts,
  signal: AbortSignal,
): Promise<CheckRun> {
  try {
    if (spec.kind === 'http') return await runHttp(spec, plan, pods, ports, signal);
    if (spec.kind === 'prometheus') return await runPrometheus(spec, plan, pods, ports, signal);
    return { outcome: 'error', detail: 'a Job check runs once' };
  } catch (error) {
    return { outcome: 'error', detail: clip(messageOf(error), 300) };
  }
}

type HttpSpec = Extract<CheckSpec, { kind: 'http' }>;
type PrometheusSpec = Extract<CheckSpec, { kind: 'prometheus' }>;

async function runHttp(
  spec: HttpSpec,
  plan: VerifyPlan,
  pods: ReleasePod[],
  { kube, http }: VerifyPorts,
  signal: AbortSignal,
): Promise<CheckRun> {
  const { target } = spec;
  const request = { path: spec.path, timeoutMs: spec.timeoutMs, signal };
  if (target.via === 'url') return judgeHttp(spec, await http.get(target.url, request));
  if (target.via === 'service') {
    const namespace = target.namespace ?? plan.namespace;
    return judgeHttp(
      spec,
      await kube.proxyGet({ kind: 'services', namespace, name: target.name, port: target.port, ...request }),
    );
  }
  if (pods.length === 0) return { outcome: 'inconclusive', detail: 'no pod of the new release to ask' };
  const runs = await Promise.all(
    pods.map(async (pod) => {
      const reply = await kube
        .proxyGet({ kind: 'pods', ...pod, port: target.port, ...request })
        .catch((error: unknown) => ({ status: 0, body: '', fromServer: true, error: messageOf(error) }));
      const run: CheckRun =
        'error' in reply ? { outcome: 'error', detail: clip(reply.error, 300) } : judgeHttp(spec, reply);
      return { pod: pod.name, run };
    }),
  );
  const bad = runs.find((r) => r.run.outcome !== 'pass');
  if (bad) return { outcome: bad.run.outcome, detail: `pod ${bad.pod}: ${bad.run.detail}` };
  return {
    outcome: 'pass',
    detail: `${runs[0]?.run.detail ?? ''} from ${runs.length} pod${runs.length === 1 ? '' : 's'}`,
  };
}

async function runPrometheus(
  spec: PrometheusSpec,
  plan: VerifyPlan,
  pods: ReleasePod[],
  { kube, http }: VerifyPorts,
  signal: AbortSignal,
): Promise<CheckRun> {
  const query = expandQuery(
    spec.query,
    pods.map((p) => p.name),
    plan.namespace,
  );
  const path = `/api/v1/query?query=${encodeURIComponent(query)}`;
  const { source } = spec;
  const reply =
    source.via === 'url'
      ? await http.get(new URL(path.slice(1), source.url.endsWith('/') ? source.url : `${source.url}/`).toString(), {
          timeoutMs: spec.timeoutMs,
          signal,
        })
      : await kube.proxyGet({
          kind: 'services',
          namespace: source.namespace ?? plan.namespace,
          name: source.name,
          port: source.port,
          path,
          timeoutMs: spec.timeoutMs,
          signal,
        });
  let answer: unknown;
  try {
    answer = JSON.parse(reply.body);
  } catch {
    return {
      outcome: 'error',
      detail: `Prometheus answered ${reply.status} ${JSON.stringify(clip(reply.body.trim(), 120))}`,
    };
  }
  return judgePrometheus(spec, answer);
}
