/**
 * The list-then-watch informer behind `Kube.observe`: list, watch from the list's resourceVersion, re-watch from
 * the last one seen when a watch ends or goes quiet, relist on 410 Gone, and ride out what a healthy cluster does
 * (429 with Retry-After, 5xx, a refused or reset connection while the API server restarts) with capped backoff,
 * for as long as the caller waits. Only answers that retrying cannot change (401, 403, 404, other 4xx) end it,
 * with their status kept. What to do after each outcome is the pure `nextStep`, tested on its own.
 */
import { Watch, type KubeConfig, type KubernetesObject, type V1LabelSelector } from '@kubernetes/client-node';
import { abortableSleep } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import { KubeError } from './kube.js';

/** How one list or watch attempt ended. */
export type Outcome =
  | { kind: 'closed'; idle?: boolean } // the server closed the watch, or (idle) it was quiet past the client's limit
  | { kind: 'gone' } // 410: the resourceVersion is too old
  | { kind: 'error'; error: KubeError };

export type Step =
  | { action: 'rewatch' }
  | { action: 'relist' }
  | { action: 'retry'; delayMs: number }
  | { action: 'fail'; error: KubeError };

export const MAX_BACKOFF_MS = 5000;
const FIRST_BACKOFF_MS = 250;

/** Statuses a retry can outlive: throttling, server errors, and no answer at all (status 0: refused, reset). */
export function isTransient(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}

/** What to do after an outcome, given the failures in a row so far (this one included). */
export function nextStep(outcome: Outcome, failures: number): Step {
  if (outcome.kind === 'closed') return { action: 'rewatch' };
  if (outcome.kind === 'gone') return { action: 'relist' };
  const { error } = outcome;
  if (!isTransient(error.status)) return { action: 'fail', error };
  const backoff = Math.min(FIRST_BACKOFF_MS * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
  return { action: 'retry', delayMs: error.retryAfterMs ?? backoff };
}

/** A Kubernetes label selector as the `labelSelector` query parameter writes it. */
export function selectorString(selector: V1LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export interface ListResult {
  metadata?: { resourceVersion?: string };
  items: KubernetesObject[];
}

type WatchEvent = KubernetesObject & { code?: number; message?: string };

/** One kind of object to keep current: how to list it and where to watch it. */
export interface Source {
  /** For messages: `pods in ns (app=web)`. */
  what: string;
  path: string;
  query: Record<string, string>;
  /** Lists the objects; `signal` aborts the request when the informer stops. */
  list(signal: AbortSignal): Promise<ListResult>;
}

/**
 * How long a watch may stay silent before it is re-opened from its last resourceVersion. The API server sends a
 * bookmark on every quiet watch about once a minute (asked with allowWatchBookmarks), so a live watch is never silent
 * this long; client-node's own 30 s re-opened every quiet watch twice a minute, a request each time.
 */
export const WATCH_INACTIVITY_MS = 90_000;

export interface InformerOptions {
  /** Watch inactivity limit of the client (WATCH_INACTIVITY_MS unless told). */
  inactivityMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Called when a list or a watch got no answer at all within its limit: the connection it went on may be dead
   * (see connection.ts), and the retry should dial a new one.
   */
  unanswered?: () => void;
}

/** The status of a failed request: an ApiException's code, a watch's HTTP status, or 0 for no answer. */
export function toKubeError(error: unknown, what: string): KubeError {
  if (error instanceof KubeError) return error;
  const e = error as { code?: unknown; statusCode?: unknown; body?: unknown; headers?: Record<string, string> };
  const status = typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : 0;
  let message = status > 0 ? `HTTP ${status}` : messageOf(error);
  let reason = '';
  let fields: string[] = [];
  if (status > 0 && e.body !== undefined) {
    try {
      const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as {
        message?: string;
        reason?: string;
        details?: { causes?: { field?: unknown }[] };
      };
      message = body.message ?? message;
      reason = body.reason ?? '';
      fields = (body.details?.causes ?? []).flatMap((c) => (typeof c.field === 'string' && c.field ? [c.field] : []));
    } catch {
      // not a Status object: keep the HTTP status only
    }
  } else if (status === 0 && error instanceof Error && error.cause instanceof Error) {
    message += ` (${error.cause.message})`;
  }
  const retryAfter = Number(e?.headers?.['retry-after'] ?? NaN);
  return new KubeError(
    status,
    `${what}: ${message}`,
    reason,
    Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
    fields,
  );
}

/** Runs one watch from `resourceVersion` until it ends; events go to `onEvent`. */
function watchOnce(
  watcher: Watch,
  source: Source,
  resourceVersion: string,
  onEvent: (type: string, object: WatchEvent) => void,
  signal: AbortSignal,
  unanswered: () => void,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    let answered = false;
    let controller: AbortController | undefined;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      controller?.abort();
      resolve(outcome);
    };
    const onAbort = (): void => settle({ kind: 'closed' });
    signal.addEventListener('abort', onAbort, { once: true });
    const query = { ...source.query, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 240 };
    const handle = (type: string, object: WatchEvent): void => {
      if (settled) return;
      if (type === 'ERROR') {
        const status = object.code ?? 0;
        settle(
          status === 410
            ? { kind: 'gone' }
            : { kind: 'error', error: new KubeError(status, `watch ${source.what}: ${object.message ?? ''}`) },
        );
        return;
      }
      onEvent(type, object);
    };
    const done = (err: unknown): void => {
      const name = (err as { name?: string } | null)?.name;
      if (name === 'TimeoutError') {
        // client-node's timer runs from the request on: before the response, nobody answered the watch at all.
        if (!answered) unanswered();
        settle({ kind: 'closed', idle: true });
      } else if (!err || name === 'AbortError') settle({ kind: 'closed' });
      else settle({ kind: 'error', error: toKubeError(err, `watch ${source.what}`) });
    };
    watcher
      .watch(source.path, query, handle, done)
      .then((c) => {
        answered = true;
        controller = c;
        if (settled) c.abort();
      })
      .catch((err: unknown) => settle({ kind: 'error', error: toKubeError(err, `watch ${source.what}`) }));
  });
}

/**
 * Keeps `store` (name -> object) current for one source and calls `changed` after every list and event, until
 * `signal` aborts. Rejects only with a KubeError that retrying cannot fix.
 */
export async function inform(
  config: KubeConfig,
  source: Source,
  store: Map<string, KubernetesObject>,
  changed: () => void,
  signal: AbortSignal,
  options: InformerOptions = {},
): Promise<void> {
  const watcher = new Watch(config);
  // client-node keeps this limit private; tests shorten it to make quiet watches happen in milliseconds.
  (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = options.inactivityMs ?? WATCH_INACTIVITY_MS;
  const sleep = options.sleep ?? abortableSleep;
  let resourceVersion: string | undefined;
  let failures = 0;
  while (!signal.aborted) {
    let outcome: Outcome;
    if (resourceVersion === undefined) {
      try {
        const result = await source.list(signal);
        failures = 0;
        store.clear();
        for (const item of result.items) store.set(item.metadata?.name ?? '', item);
        resourceVersion = result.metadata?.resourceVersion ?? '';
        changed();
        continue;
      } catch (error) {
        if (signal.aborted) return;
        const timedOut = (error as { name?: string } | null)?.name === 'TimeoutError';
        if (timedOut) options.unanswered?.();
        outcome = {
          kind: 'error',
          error: toKubeError(timedOut ? new Error('no answer in time') : error, `list ${source.what}`),
        };
      }
    } else {
      const watchStarted = Date.now();
      let events = 0;
      outcome = await watchOnce(
        watcher,
        source,
        resourceVersion,
        (type, object) => {
          failures = 0;
          events += 1;
          resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
          if (type === 'BOOKMARK') return;
          const name = object.metadata?.name ?? '';
          if (type === 'DELETED') store.delete(name);
          else store.set(name, object);
          changed();
        },
        signal,
        () => options.unanswered?.(),
      );
      // A watch that the server ends at once, again and again, must not become a busy loop.
      const early = outcome.kind === 'closed' && !outcome.idle && events === 0 && Date.now() - watchStarted < 1000;
      if (early) await sleep(1000, signal);
    }
    if (signal.aborted) return;
    if (outcome.kind === 'error') failures += 1;
    const step = nextStep(outcome, failures);
    if (step.action === 'fail') throw step.error;
    if (step.action === 'relist') resourceVersion = undefined;
    if (step.action === 'retry') await sleep(step.delayMs, signal);
  }
}
