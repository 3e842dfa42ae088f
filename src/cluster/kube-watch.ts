/**
 * The informer behind `Kube.observe`: the current state by a streaming list where the server has them (a watch that
 * starts with the current state: one request), else a list; then watch from the state's resourceVersion, re-watch from
 * the last one seen when a watch ends or goes quiet, relist on 410 Gone, and ride out what a healthy cluster does
 * (429 with Retry-After, 5xx, a refused or reset connection while the API server restarts) with capped backoff,
 * for as long as the caller waits. Only answers that retrying cannot change (401, 403, 404, other 4xx) end it,
 * with their status kept. What to do after each outcome is the pure `nextStep`, tested on its own.
 */
import type { KubernetesObject, V1LabelSelector } from '@kubernetes/client-node';
import { abortableSleep } from '../lib/deadline.js';
import { toKubeError, withQuery, type Api } from './api.js';
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

/** One kind of object to keep current: where to list and watch it. */
export interface Source {
  /** For messages: `pods in ns (app=web)`. */
  what: string;
  path: string;
  query: Record<string, string>;
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
   * (see transport.ts), and the retry should dial a new one.
   */
  unanswered?: () => void;
}

/**
 * Where a watch starts: after a resourceVersion, or (`initial`) with the current state first, as ADDED events ended
 * by a bookmark marked `k8s.io/initial-events-end` (a streaming list: one request instead of a list and a watch).
 */
type From = { resourceVersion: string } | 'initial';

/** Runs one watch until it ends; events go to `onEvent`. */
async function watchOnce(
  api: Api,
  source: Source,
  from: From,
  onEvent: (type: string, object: WatchEvent) => void,
  signal: AbortSignal,
  options: { inactivityMs: number; unanswered: () => void },
): Promise<Outcome> {
  const local = new AbortController();
  const stop = (): void => local.abort();
  signal.addEventListener('abort', stop, { once: true });
  let idle = false;
  let answered = false;
  let timer: NodeJS.Timeout | undefined;
  const quietFor = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      local.abort();
    }, options.inactivityMs);
  };
  const start =
    from === 'initial'
      ? { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan' }
      : { resourceVersion: from.resourceVersion };
  const query = { ...source.query, watch: true, ...start, allowWatchBookmarks: true, timeoutSeconds: 240 };
  try {
    quietFor();
    const response = await api.stream(withQuery(source.path, query), local.signal);
    answered = true;
    let pending = '';
    response.body.setEncoding('utf8');
    for await (const chunk of response.body as AsyncIterable<string>) {
      quietFor();
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        const { type, object } = JSON.parse(line) as { type: string; object: WatchEvent };
        if (type === 'ERROR') {
          const status = object.code ?? 0;
          return status === 410
            ? { kind: 'gone' }
            : { kind: 'error', error: new KubeError(status, `watch ${source.what}: ${object.message ?? ''}`) };
        }
        onEvent(type, object);
      }
    }
    return { kind: 'closed' };
  } catch (error) {
    if (idle) {
      // Before the answer's headers, nobody answered the watch at all: the connection may be dead.
      if (!answered) options.unanswered();
      return { kind: 'closed', idle: true };
    }
    if (signal.aborted) return { kind: 'closed' };
    return { kind: 'error', error: toKubeError(error, `watch ${source.what}`) };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
    local.abort();
  }
}

/**
 * Keeps `store` (name -> object) current for one source and calls `changed` after every list and event, until
 * `signal` aborts. Rejects only with a KubeError that retrying cannot fix.
 */
export async function inform(
  api: Api,
  source: Source,
  store: Map<string, KubernetesObject>,
  changed: () => void,
  signal: AbortSignal,
  options: InformerOptions = {},
): Promise<void> {
  const inactivityMs = options.inactivityMs ?? WATCH_INACTIVITY_MS;
  const sleep = options.sleep ?? abortableSleep;
  const watchOptions = { inactivityMs, unanswered: () => options.unanswered?.() };
  let resourceVersion: string | undefined;
  let failures = 0;
  /** A watch event after the store is in step: the store follows it. */
  const apply = (type: string, object: WatchEvent): void => {
    failures = 0;
    resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
    if (type === 'BOOKMARK') return;
    const name = object.metadata?.name ?? '';
    if (type === 'DELETED') store.delete(name);
    else store.set(name, object);
    changed();
  };
  /** The current state, whole: the store is replaced by it. */
  const synced = (items: Iterable<KubernetesObject>, version: string): void => {
    failures = 0;
    store.clear();
    for (const item of items) store.set(item.metadata?.name ?? '', item);
    resourceVersion = version;
    changed();
  };
  while (!signal.aborted) {
    let outcome: Outcome;
    const watchStarted = Date.now();
    let events = 0;
    const counted =
      <A extends unknown[]>(handle: (...args: A) => void) =>
      (...args: A): void => {
        events += 1;
        handle(...args);
      };
    if (resourceVersion === undefined && api.streamingLists !== false) {
      const updates = { synced: counted(synced), apply: counted(apply) };
      const streamed = await streamOnce(api, source, updates, signal, watchOptions);
      if (signal.aborted) return;
      if (streamed === 'fall back') {
        // A server without them (before 1.34, the gate off), or one that never ends the initial events (a proxy
        // that drops the parameters): a list, then a watch, from now on.
        api.streamingLists = false;
        continue;
      }
      outcome = streamed;
    } else if (resourceVersion === undefined) {
      const failed = await listOnce(api, source, synced, signal);
      if (signal.aborted) return;
      if (failed === undefined) continue;
      outcome = failed;
    } else {
      outcome = await watchOnce(api, source, { resourceVersion }, counted(apply), signal, watchOptions);
    }
    // A watch that the server ends at once, again and again, must not become a busy loop.
    const early = outcome.kind === 'closed' && !outcome.idle && events === 0 && Date.now() - watchStarted < 1000;
    if (early) await sleep(1000, signal);
    if (signal.aborted) return;
    if (outcome.kind === 'error') failures += 1;
    const step = nextStep(outcome, failures);
    if (step.action === 'fail') throw step.error;
    if (step.action === 'relist') resourceVersion = undefined;
    if (step.action === 'retry') await sleep(step.delayMs, signal);
  }
}

/** What a store is told: the whole current state, or one event after it. */
interface StoreUpdates {
  synced(items: Iterable<KubernetesObject>, resourceVersion: string): void;
  apply(type: string, object: WatchEvent): void;
}

/**
 * A streaming list, and the watch it goes on as, until it ends: its outcome, or `fall back` when the server has
 * none (it refuses them, or never ends the initial events within a list's time limit).
 */
async function streamOnce(
  api: Api,
  source: Source,
  store: StoreUpdates,
  signal: AbortSignal,
  options: { inactivityMs: number; unanswered: () => void },
): Promise<Outcome | 'fall back'> {
  const stream = streamingList(store.synced, store.apply);
  const limited = syncLimit(signal, api.listMs, stream.synced);
  const outcome = await watchOnce(api, source, 'initial', stream.event, limited.signal, options);
  limited.clear();
  const refused = outcome.kind === 'error' && refusesStreamingLists(outcome.error);
  if (!stream.synced() && (refused || limited.expired())) return 'fall back';
  if (stream.synced()) api.streamingLists = true;
  return outcome;
}

/** A list: the store is replaced by it (undefined), or the list failed (its outcome). */
async function listOnce(
  api: Api,
  source: Source,
  synced: StoreUpdates['synced'],
  signal: AbortSignal,
): Promise<Outcome | undefined> {
  try {
    const result = await api.read<ListResult>(
      `list ${source.what}`,
      { path: source.path, query: source.query },
      { ms: api.listMs, signal, attempts: 1 }, // the informer's own backoff retries it
    );
    synced(result.items, result.metadata?.resourceVersion ?? '');
    return undefined;
  } catch (error) {
    return { kind: 'error', error: toKubeError(error, `list ${source.what}`) };
  }
}

/**
 * A streaming list gets as long as a list to hand over the current state: `signal` aborts (and `expired` says so)
 * when it has not by then.
 */
function syncLimit(outer: AbortSignal, ms: number, synced: () => boolean) {
  const local = new AbortController();
  const stop = (): void => local.abort();
  outer.addEventListener('abort', stop, { once: true });
  let expired = false;
  const timer = setTimeout(() => {
    if (synced()) return;
    expired = true;
    local.abort();
  }, ms);
  return {
    signal: local.signal,
    expired: () => expired,
    clear(): void {
      clearTimeout(timer);
      outer.removeEventListener('abort', stop);
    },
  };
}

/** The bookmark that ends a streaming list's initial events. */
const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

/**
 * A streaming list's events: the initial ones gathered until the bookmark that ends them, which hands the whole
 * state to `synced`; every event after it goes to `apply`. A stream that ends before that bookmark leaves nothing.
 */
export function streamingList(
  synced: (items: Iterable<KubernetesObject>, resourceVersion: string) => void,
  apply: (type: string, object: WatchEvent) => void,
) {
  const initial = new Map<string, KubernetesObject>();
  let done = false;
  return {
    synced: () => done,
    event(type: string, object: WatchEvent): void {
      if (done) return apply(type, object);
      const name = object.metadata?.name ?? '';
      if (type === 'BOOKMARK') {
        if (object.metadata?.annotations?.[INITIAL_EVENTS_END] !== 'true') return;
        done = true;
        synced(initial.values(), object.metadata.resourceVersion ?? '');
      } else if (type === 'DELETED') initial.delete(name);
      else initial.set(name, object);
    },
  };
}

/**
 * A server that does not stream lists refuses the request (400 or 422: `sendInitialEvents` or `resourceVersionMatch`
 * on a watch is unknown or off there); any other failure is the informer's usual business.
 */
export function refusesStreamingLists(error: KubeError): boolean {
  return error.status === 400 || error.status === 422;
}
