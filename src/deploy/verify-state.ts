/**
 * The checks of `verify` as pure decisions: what one answer means (`judgeHttp`, `judgePrometheus`), and what a run
 * of results means over time (`record`): a check fails the deploy only when it keeps failing for its grace, so a 503
 * blip during switch-over is not a verdict and a persistent failure is. Errors (the proxy refused, Prometheus down,
 * a query that does not parse) are failures too: never counted as a pass.
 */
import type { CheckSpec } from '../desired/verify.js';
import { clip } from '../lib/text.js';

export type RunOutcome = 'pass' | 'fail' | 'error' | 'inconclusive';

/** One run of one check. */
export interface CheckRun {
  outcome: RunOutcome;
  /** What was seen: status and the first bytes of the body, the query's value and sample count, the Job's end. */
  detail: string;
}

/** `pending`: no result yet; `failing`: failing, within its grace; `failed`: failing past its grace (final). */
export type CheckState = 'pending' | 'passing' | 'failing' | 'failed';

export interface CheckTrack {
  readonly spec: CheckSpec;
  readonly state: CheckState;
  readonly runs: number;
  readonly failures: number;
  /** When the current run of failures began. */
  readonly failingSince?: number;
  readonly last?: CheckRun;
}

export const startTrack = (spec: CheckSpec): CheckTrack => ({ spec, state: 'pending', runs: 0, failures: 0 });

/** The track after one more run at `now`, and the line to log when what it says changed. */
export function record(track: CheckTrack, run: CheckRun, now: number): { track: CheckTrack; line?: string } {
  if (track.state === 'failed') return { track };
  const runs = track.runs + 1;
  if (run.outcome === 'pass') {
    const next: CheckTrack = { ...track, state: 'passing', runs, failingSince: undefined, last: run };
    const changed = track.state !== 'passing' || track.last?.detail !== run.detail;
    return { track: next, ...(changed ? { line: `${track.spec.label}: passing (${run.detail})` } : {}) };
  }
  const failingSince = track.failingSince ?? now;
  const failedFor = now - failingSince;
  // A Job's exit code decides at once: it has had its retries (backoffLimit) already.
  const final = track.spec.kind === 'job' || failedFor >= track.spec.graceMs;
  const next: CheckTrack = {
    ...track,
    state: final ? 'failed' : 'failing',
    runs,
    failures: track.failures + 1,
    failingSince,
    last: run,
  };
  const what = `${run.outcome === 'fail' ? 'failing' : run.outcome}: ${run.detail}`;
  const line = final
    ? `${track.spec.label}: failed (${what}${track.spec.kind === 'job' ? '' : `, for ${seconds(failedFor)} with a grace of ${seconds(track.spec.graceMs)}`})`
    : `${track.spec.label}: ${what} (${seconds(failedFor)} of its ${seconds(track.spec.graceMs)} grace)`;
  return { track: next, line };
}

const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;

/** All checks together: `failed` if one failed; `passing` once every one's last run passed; else `pending`. */
export function overall(tracks: readonly CheckTrack[]): 'pending' | 'passing' | 'failed' {
  if (tracks.some((t) => t.state === 'failed')) return 'failed';
  return tracks.every((t) => t.state === 'passing') ? 'passing' : 'pending';
}

/** Bytes of a body shown in evidence. */
export const BODY_SHOWN = 120;

/** An HTTP answer: the app's, or the API server's own refusal (a Status from the proxy, e.g. 403 or "no endpoints"). */
export interface HttpReply {
  status: number;
  body: string;
  /** The answer came from the API server, not from the app behind its proxy. */
  fromServer?: boolean;
}

/** What one HTTP answer means for an `http` check. */
export function judgeHttp(spec: Extract<CheckSpec, { kind: 'http' }>, reply: HttpReply): CheckRun {
  const shown = `${reply.status} ${JSON.stringify(clip(reply.body.trim(), BODY_SHOWN))}`;
  if (reply.fromServer === true) return { outcome: 'error', detail: `the API server answered ${shown}` };
  const statusOk =
    spec.status.length > 0 ? spec.status.includes(reply.status) : reply.status >= 200 && reply.status <= 399;
  if (!statusOk) {
    const wanted = spec.status.length > 0 ? spec.status.join(' or ') : '2xx or 3xx';
    return { outcome: 'fail', detail: `${shown}, wanted ${wanted}` };
  }
  if (spec.body !== undefined && !spec.body.test(reply.body)) {
    return { outcome: 'fail', detail: `${shown}: the body does not match ${String(spec.body)}` };
  }
  return { outcome: 'pass', detail: String(reply.status) };
}

/** What Prometheus' answer to an instant query means for a `prometheus` check. */
export function judgePrometheus(spec: Extract<CheckSpec, { kind: 'prometheus' }>, answer: unknown): CheckRun {
  const parsed = samplesOf(answer);
  if (typeof parsed === 'string') return { outcome: 'error', detail: parsed };
  const values = parsed.filter((v) => !Number.isNaN(v));
  if (values.length < spec.minSamples) {
    const detail = `${values.length === 0 ? 'no data' : `${values.length} of ${spec.minSamples} samples`} for the query`;
    return spec.onNoData === 'pass'
      ? { outcome: 'pass', detail: `${detail}, passed as on-no-data: pass says` }
      : { outcome: 'inconclusive', detail: `${detail}; set on-no-data: pass if no traffic is fine` };
  }
  const shown = values.length === 1 ? `value ${format(values[0] ?? 0)}` : `values ${values.map(format).join(', ')}`;
  const over = spec.max !== undefined ? values.find((v) => v > (spec.max ?? 0)) : undefined;
  if (over !== undefined)
    return { outcome: 'fail', detail: `${shown} (${values.length} samples) above max ${spec.max}` };
  const under = spec.min !== undefined ? values.find((v) => v < (spec.min ?? 0)) : undefined;
  if (under !== undefined)
    return { outcome: 'fail', detail: `${shown} (${values.length} samples) below min ${spec.min}` };
  return { outcome: 'pass', detail: `${shown}, ${values.length} samples` };
}

const format = (v: number): string => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

/** The values of a Prometheus query answer (vector or scalar), or why there are none to judge. */
function samplesOf(answer: unknown): number[] | string {
  const body = answer as { status?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (body === null || typeof body !== 'object') return 'Prometheus answered something that is not JSON';
  if (body.status !== 'success') {
    return `Prometheus refused the query: ${clip(typeof body.error === 'string' ? body.error : 'no reason given', 200)}`;
  }
  const { resultType, result } = body.data ?? {};
  const number = (pair: unknown): number => (Array.isArray(pair) ? Number(pair[1]) : Number.NaN);
  if (resultType === 'scalar') return [number(result)];
  if (resultType === 'vector' && Array.isArray(result)) {
    return result.map((series: unknown) => number((series as { value?: unknown } | null)?.value));
  }
  return `Prometheus answered a ${String(resultType)} result; write a query whose result is a vector or a scalar`;
}

/**
 * The query with `$pods` replaced by a regex of the new release's pod names and `$namespace` by the namespace.
 * Names are checked against what Kubernetes allows, so nothing from the cluster can change the query's syntax.
 */
export function expandQuery(query: string, pods: string[], namespace: string): string {
  const safe = pods.filter((p) => /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(p)).map((p) => p.replace(/\./g, '\\\\.'));
  const regex = safe.length > 0 ? safe.join('|') : '^$';
  const ns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) ? namespace : '';
  return query.replace(/\$pods\b/g, regex).replace(/\$namespace\b/g, ns);
}
