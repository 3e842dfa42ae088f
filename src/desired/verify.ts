/**
 * The input `verify`: a YAML list of checks of what users see, run during the bake against the new release only.
 * Each item is one kind (`http`, `prometheus`, `job`) with its options; this file reads and validates them into
 * `CheckSpec`s. Every error names the input, the item and the fix.
 */
import { load } from 'js-yaml';
import { InputError } from '../lib/errors.js';
import { isRecord } from '../lib/json.js';
import { parseDuration } from './duration.js';

/** How long a check may keep failing before it fails the deploy (a 503 blip during switch-over is not a verdict). */
export const DEFAULT_GRACE_MS = 20_000;
export const DEFAULT_INTERVAL_MS = 5_000;
export const DEFAULT_TIMEOUT_MS = 10_000;
/** A Job check runs once: it may take longer than a request. */
export const DEFAULT_JOB_TIMEOUT_MS = 300_000;

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Where an `http` check sends its GET. */
export type HttpTarget =
  /** Every new pod, through the API server's pod proxy. */
  | { via: 'pods'; port: number }
  /** The Service, through the API server's service proxy. */
  | { via: 'service'; namespace?: string; name: string; port: number }
  /** A URL, from the runner. */
  | { via: 'url'; url: string };

/** Where a `prometheus` check sends its query. */
export type PrometheusSource =
  { via: 'url'; url: string } | { via: 'service'; namespace?: string; name: string; port: number };

interface Timing {
  /** How long failing results are tolerated before the check fails the deploy. */
  graceMs: number;
  /** Time between two runs. */
  intervalMs: number;
  /** Limit of one run. */
  timeoutMs: number;
}

export type CheckSpec =
  | (Timing & {
      kind: 'http';
      /** `http #1`: the item's kind and place in the list, for messages. */
      label: string;
      target: HttpTarget;
      path: string;
      /** Statuses that pass; empty: any 2xx or 3xx. */
      status: number[];
      body?: RegExp;
    })
  | (Timing & {
      kind: 'prometheus';
      label: string;
      source: PrometheusSource;
      query: string;
      max?: number;
      min?: number;
      /** Fewer series than this in the answer is inconclusive. */
      minSamples: number;
      onNoData: 'fail' | 'pass';
    })
  | (Timing & {
      kind: 'job';
      label: string;
      /** The Job manifest file, relative to the workspace. */
      file: string;
    });

const KINDS = ['http', 'prometheus', 'job'] as const;
const FIX = `write a YAML list such as "- http: {port: 8080, path: /healthz}"`;

/** Parses the input `verify` (empty: no checks). */
export function parseVerify(raw: string): CheckSpec[] {
  if (raw.trim() === '') return [];
  let doc: unknown;
  try {
    doc = load(raw, { json: false });
  } catch (error) {
    throw new InputError('verify', `is not valid YAML (${(error as Error).message.split('\n')[0] ?? ''}); ${FIX}.`);
  }
  if (!Array.isArray(doc)) throw new InputError('verify', `is not a list; ${FIX}.`);
  return doc.map((item: unknown, index) => parseItem(item, index + 1));
}

function parseItem(item: unknown, place: number): CheckSpec {
  const where = `item ${place}`;
  const keys = isRecord(item) ? Object.keys(item) : [];
  const kind = keys.length === 1 ? KINDS.find((k) => k === keys[0]) : undefined;
  if (!isRecord(item) || kind === undefined) {
    throw new InputError('verify', `${where} must have exactly one of ${KINDS.join(', ')}; ${FIX}.`);
  }
  const label = `${kind} #${place}`;
  const body = item[kind];
  if (kind === 'job') {
    const file = isRecord(body) ? body.file : body;
    if (typeof file !== 'string' || file.trim() === '') {
      throw new InputError('verify', `${label} must name a Job manifest file, e.g. "- job: deploy/smoke-test.yaml".`);
    }
    const options = isRecord(body) ? body : {};
    return { kind, label, file: file.trim(), ...timing(label, options, DEFAULT_JOB_TIMEOUT_MS) };
  }
  if (!isRecord(body)) throw new InputError('verify', `${label} must be a mapping of options; ${FIX}.`);
  return kind === 'http' ? parseHttp(label, body) : parsePrometheus(label, body);
}

const HTTP_KEYS = ['port', 'path', 'service', 'namespace', 'url', 'status', 'body', 'grace', 'interval', 'timeout'];
const PROMETHEUS_KEYS = [
  'url',
  'service',
  'query',
  'max',
  'min',
  'min-samples',
  'on-no-data',
  'grace',
  'interval',
  'timeout',
];

function onlyKnown(label: string, options: Record<string, unknown>, known: string[]): void {
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new InputError(
      'verify',
      `${label} has unknown option(s) ${unknown.join(', ')}; it takes ${known.join(', ')}.`,
    );
  }
}

function parseHttp(label: string, options: Record<string, unknown>): CheckSpec {
  onlyKnown(label, options, HTTP_KEYS);
  const path = optionalString(label, options, 'path') ?? '/';
  if (!path.startsWith('/')) throw new InputError('verify', `${label}: path "${path}" must start with /.`);
  const url = optionalString(label, options, 'url');
  const service = optionalString(label, options, 'service');
  let target: HttpTarget;
  if (url !== undefined) {
    if (service !== undefined || options.port !== undefined) {
      throw new InputError('verify', `${label}: url goes with neither service nor port; give one of them.`);
    }
    target = { via: 'url', url: parseUrl(label, url) };
  } else {
    const port = parsePort(label, options.port);
    if (service === undefined) target = { via: 'pods', port };
    else target = { via: 'service', ...serviceName(label, service, optionalString(label, options, 'namespace')), port };
  }
  const pattern = optionalString(label, options, 'body');
  let body: RegExp | undefined;
  if (pattern !== undefined) {
    try {
      body = new RegExp(pattern);
    } catch {
      throw new InputError('verify', `${label}: body "${pattern}" is not a regular expression.`);
    }
  }
  return {
    kind: 'http',
    label,
    target,
    path: url !== undefined ? '' : path,
    status: parseStatuses(label, options.status),
    ...(body ? { body } : {}),
    ...timing(label, options, DEFAULT_TIMEOUT_MS),
  };
}

function parsePrometheus(label: string, options: Record<string, unknown>): CheckSpec {
  onlyKnown(label, options, PROMETHEUS_KEYS);
  const url = optionalString(label, options, 'url');
  const service = optionalString(label, options, 'service');
  if ((url === undefined) === (service === undefined)) {
    throw new InputError('verify', `${label} needs url or service (NAMESPACE/NAME:PORT), exactly one.`);
  }
  const query = optionalString(label, options, 'query');
  if (query === undefined || query.trim() === '') throw new InputError('verify', `${label} needs a query.`);
  const max = optionalNumber(label, options, 'max');
  const min = optionalNumber(label, options, 'min');
  if (max === undefined && min === undefined) {
    throw new InputError('verify', `${label} needs max or min (or both): the bounds its result must stay within.`);
  }
  const onNoData = optionalString(label, options, 'on-no-data') ?? 'fail';
  if (onNoData !== 'fail' && onNoData !== 'pass') {
    throw new InputError('verify', `${label}: on-no-data "${onNoData}" is not one of fail, pass.`);
  }
  const minSamples = optionalNumber(label, options, 'min-samples') ?? 1;
  if (!Number.isInteger(minSamples) || minSamples < 1) {
    throw new InputError('verify', `${label}: min-samples must be a whole number of at least 1.`);
  }
  return {
    kind: 'prometheus',
    label,
    source: url !== undefined ? { via: 'url', url: parseUrl(label, url) } : serviceWithPort(label, service ?? ''),
    query,
    ...(max !== undefined ? { max } : {}),
    ...(min !== undefined ? { min } : {}),
    minSamples,
    onNoData,
    ...timing(label, options, DEFAULT_TIMEOUT_MS),
  };
}

function timing(label: string, options: Record<string, unknown>, timeoutMs: number): Timing {
  const duration = (key: string, fallback: number, allowZero: boolean): number => {
    const value = options[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new InputError('verify', `${label}: ${key} must be a duration such as 20s.`);
    }
    return parseDuration(`verify (${label}, ${key})`, String(value), fallback, allowZero);
  };
  return {
    graceMs: duration('grace', DEFAULT_GRACE_MS, true),
    intervalMs: duration('interval', DEFAULT_INTERVAL_MS, false),
    timeoutMs: duration('timeout', timeoutMs, false),
  };
}

function optionalString(label: string, options: Record<string, unknown>, key: string): string | undefined {
  const value = options[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InputError('verify', `${label}: ${key} must be a string (quote it).`);
  return value;
}

function optionalNumber(label: string, options: Record<string, unknown>, key: string): number | undefined {
  const value = options[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InputError('verify', `${label}: ${key} must be a number.`);
  }
  return value;
}

function parsePort(label: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InputError('verify', `${label} needs port (1-65535), or url for a check from the runner.`);
  }
  return value;
}

function parseStatuses(label: string, value: unknown): number[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  return list.map((status) => {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
      throw new InputError('verify', `${label}: status must be an HTTP status (100-599) or a list of them.`);
    }
    return status;
  });
}

function parseUrl(label: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InputError('verify', `${label}: url "${raw}" is not a URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError('verify', `${label}: url "${raw}" must be http:// or https://.`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InputError('verify', `${label}: url must not carry credentials; they would reach the log.`);
  }
  return url.toString();
}

function serviceName(label: string, raw: string, namespace: string | undefined) {
  const [first, second] = raw.split('/');
  const name = second ?? first ?? '';
  const ns = second !== undefined ? first : namespace;
  for (const part of [name, ns]) {
    if (part !== undefined && !NAME.test(part)) {
      throw new InputError('verify', `${label}: "${raw}" is not a Service name ([NAMESPACE/]NAME).`);
    }
  }
  return { ...(ns !== undefined ? { namespace: ns } : {}), name };
}

/** `[NAMESPACE/]NAME:PORT`. */
function serviceWithPort(label: string, raw: string): PrometheusSource {
  const match = /^(.*):(\d+)$/.exec(raw);
  if (!match) throw new InputError('verify', `${label}: service "${raw}" must be [NAMESPACE/]NAME:PORT.`);
  return { via: 'service', ...serviceName(label, match[1] ?? '', undefined), port: parsePort(label, Number(match[2])) };
}

/**
 * How long the bake must last for every repeated check to be judged: the longest grace plus one interval. (A Job
 * check runs once; the bake waits for its end in any case.)
 */
export function bakeFloorMs(checks: CheckSpec[]): number {
  return checks.filter((c) => c.kind !== 'job').reduce((longest, c) => Math.max(longest, c.graceMs + c.intervalMs), 0);
}
