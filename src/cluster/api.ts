/**
 * Requests to the API server as plain JSON over the run's one connection (transport.ts): each bounded by a time limit
 * that covers its answer's body, a 429 sent again as Retry-After asks, and every failure turned into a KubeError
 * (its status and the Status message only: headers and bodies may carry tokens). What is read back is the server's
 * JSON as it is, every field kept, with no model classes in between.
 */
import type { Readable } from 'node:stream';
import { sleep } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import { KubeError } from './kube.js';
import { readText, type HttpResponse, type Transport } from './transport.js';

/** How long one request may take before it is abandoned (an API server that accepts and never answers). */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Lists may be large: a little longer. */
export const LIST_TIMEOUT_MS = 30_000;
/** A 429 means the API server did not process the request: it is sent again, as Retry-After asks, this often. */
const THROTTLED_ATTEMPTS = 6;

export type Query = Record<string, string | number | boolean | undefined>;

export interface Call {
  method?: string;
  path: string;
  query?: Query;
  body?: unknown;
  contentType?: string;
}

/** An answer of the API server that is not a success: what toKubeError reads (status, Status body, Retry-After). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: string,
    readonly headers: Record<string, string>,
  ) {
    super(`HTTP ${statusCode}`);
  }
}

/** A path with its query string; values left undefined are left out. */
export function withQuery(path: string, query: Query = {}): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
  const text = search.toString();
  return text === '' ? path : `${path}?${text}`;
}

/** Where an API version is served: `/api/v1` for the core group, `/apis/GROUP/VERSION` for the others. */
export function apiRoot(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** The path of a resource collection, in a namespace when one is given, or with a name, of one object in it. */
export function resourcePath(apiVersion: string, resource: string, namespace?: string, name?: string): string {
  const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  const object = name === undefined ? '' : `/${encodeURIComponent(name)}`;
  return `${apiRoot(apiVersion)}${scope}/${resource}${object}`;
}

/** The time limit's own error: callers tell "nobody answered" from every other failure by its name. */
function timedOut(ms: number): Error {
  const error = new Error(`no answer within ${ms / 1000}s`);
  error.name = 'TimeoutError';
  return error;
}

/** The status of a failed request: a non-2xx answer's code, its Status message, or 0 for no answer at all. */
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

/** A request's time limit, the signal that ends it early, and how often a 429 is sent (6 unless told). */
export interface Limits {
  ms?: number;
  signal?: AbortSignal;
  attempts?: number;
}

export interface ApiOptions {
  requestMs?: number;
  listMs?: number;
  /** The wait before a 429 is sent again; tests pass one that records it. */
  sleep?: (ms: number) => Promise<void>;
  /** false: list then watch, never a streaming list (a server known not to have them). */
  streamingLists?: boolean;
}

export class Api {
  readonly requestMs: number;
  readonly listMs: number;
  /**
   * Whether the server streams lists (a watch that starts with the current state): unknown until the first one is
   * answered; false (told, or found out) means a list and a watch for every kind.
   */
  streamingLists: boolean | undefined;
  private readonly pause: (ms: number) => Promise<void>;

  constructor(
    readonly transport: Transport,
    options: ApiOptions = {},
  ) {
    this.requestMs = options.requestMs ?? REQUEST_TIMEOUT_MS;
    this.listMs = options.listMs ?? LIST_TIMEOUT_MS;
    this.pause = options.sleep ?? sleep;
    this.streamingLists = options.streamingLists;
  }

  /** A request whose answer is JSON, with its HTTP status; a 429 is sent again; every failure is a KubeError. */
  async json<T>(what: string, call: Call, limits: Limits = {}): Promise<Reply<T>> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.once<T>(call, limits.ms ?? this.requestMs, limits.signal);
      } catch (error) {
        const failure = toKubeError(error, what);
        if (failure.status !== 429 || attempt >= (limits.attempts ?? THROTTLED_ATTEMPTS)) throw failure;
        await this.pause(Math.min(failure.retryAfterMs ?? 1000, 5000) || 250);
      }
    }
  }

  /** The JSON body of a successful request. */
  async read<T>(what: string, call: Call, limits: Limits = {}): Promise<T> {
    return (await this.json<T>(what, call, limits)).body;
  }

  /**
   * An answer whatever its status, its body as text (at most `limit` characters): a GET through the pod or service
   * proxy, where the app's 500 is an answer, not a failure. Only no answer at all is a KubeError.
   */
  async raw(
    what: string,
    path: string,
    { ms, signal, limit }: { ms: number; signal?: AbortSignal; limit: number },
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const timeout = timeLimit(ms);
    try {
      const response = await this.send({ method: 'GET', path, signal: combine(timeout.signal, signal) });
      return { status: response.status, headers: response.headers, body: await readText(response.body, limit) };
    } catch (error) {
      throw toKubeError(this.failure(error, timeout.signal, ms), what);
    } finally {
      timeout.clear();
    }
  }

  /**
   * An open stream (a watch): resolves when the answer's headers arrive, a non-2xx answer as an HttpError. The body
   * is the caller's to read and to end, with `signal`.
   */
  async stream(path: string, signal: AbortSignal): Promise<HttpResponse> {
    const response = await this.send({ method: 'GET', path, signal });
    if (response.status < 200 || response.status > 299) throw await httpError(response);
    return response;
  }

  private async once<T>(call: Call, ms: number, signal?: AbortSignal): Promise<Reply<T>> {
    const timeout = timeLimit(ms);
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (call.body !== undefined) headers['content-type'] = call.contentType ?? 'application/json';
      const response = await this.send({
        method: call.method ?? 'GET',
        path: withQuery(call.path, call.query),
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: combine(timeout.signal, signal),
      });
      if (response.status < 200 || response.status > 299) throw await httpError(response);
      const text = await readText(response.body);
      return { status: response.status, body: JSON.parse(text || '{}') as T };
    } catch (error) {
      throw this.failure(error, timeout.signal, ms);
    } finally {
      timeout.clear();
    }
  }

  private send(request: Parameters<Transport['send']>[0]): Promise<HttpResponse> {
    return this.transport.send(request);
  }

  /** A request that ran out of time got no answer: the connection may be dead, the next one dials anew. */
  private failure(error: unknown, timeout: AbortSignal, ms: number): unknown {
    if (!timeout.aborted) return error;
    this.transport.redial();
    return timedOut(ms);
  }
}

/** An answer: its HTTP status (a created object's 201 is told from an update's 200) and its JSON. */
export interface Reply<T> {
  status: number;
  body: T;
}

/**
 * A request's time limit. Its timer keeps the process alive while the request waits (AbortSignal.timeout's does
 * not): a request on a connection that died without a word has nothing else that would, and must still end.
 */
function timeLimit(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('no answer in time', 'TimeoutError')), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

function combine(timeout: AbortSignal, signal: AbortSignal | undefined): AbortSignal {
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

async function httpError(response: { status: number; headers: Record<string, string>; body: Readable }) {
  const body = await readText(response.body, 64 * 1024).catch(() => '');
  return new HttpError(response.status, body, response.headers);
}
