/**
 * Every input, read once and validated, into one object keyed by the names in action.yml. Each error names the
 * input, the value (never for secrets) and the fix, so a wrong workflow fails in the first second, before any build.
 */
import { InputError } from './errors.js';
import { parseTarget, type TargetSpec } from './targets.js';

export type CommentMode = 'auto' | 'always' | 'never';

export interface Inputs {
  build: boolean;
  context: string;
  file: string;
  target: string;
  'build-args': string[];
  labels: string[];
  secrets: string[];
  'cache-from': string[];
  'cache-to': string[];
  platforms: string[];
  'no-cache': boolean;
  network: string;
  push: boolean;
  image: string;
  tags: string[];
  'registry-username': string;
  'registry-password': string;
  kubeconfig: string;
  'kube-context': string;
  /** Allow a cluster server on plain http:// (its credentials travel unencrypted). */
  'allow-http': boolean;
  namespace: string;
  deployments: TargetSpec[];
  /** Overall rollout time limit, in milliseconds. */
  timeout: number;
  /** Restarts a new pod's container may have before a crash fails the rollout. */
  'allowed-restarts': number;
  /** How long new pods stay watched after the rollout is done, in milliseconds (0: no bake). */
  bake: number;
  rollback: boolean;
  /** Limit of the wait for restored targets, in milliseconds. */
  'rollback-timeout': number;
  'fail-fast': boolean;
  environment: string;
  'environment-url': string;
  'github-deployment': boolean;
  comment: CommentMode;
  /** Whether the PR comment shows the failing pod's log lines (the job summary always does). */
  'comment-logs': boolean;
  'pr-number': number | undefined;
  'github-token': string;
}

/** Inputs whose values are secrets: registered as such, and kept out of child processes' environments. */
export const SECRET_INPUTS = ['registry-password', 'github-token', 'kubeconfig', 'secrets'] as const;

/** Reads one raw input by its action.yml name ('' when unset), e.g. from `INPUT_*` through @actions/core. */
export type InputReader = (name: string) => string;

/** Lines of a multi-line input: trimmed, without blanks and `#` comments. */
export function parseList(raw: string): string[] {
  return raw
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** Like `parseList`, also splitting on commas (platforms). */
function parseCsvList(raw: string): string[] {
  return parseList(raw.replace(/,/g, '\n'));
}

/** The YAML 1.2 core booleans, as @actions/core's getBooleanInput accepts them. */
export function parseBoolean(name: string, raw: string, fallback: boolean): boolean {
  const value = raw.trim();
  if (value === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  throw new InputError(name, `"${value}" is not a boolean; write true or false.`);
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration (`10m`, `90s`, `1h30m`, `500ms`) or plain seconds (`600`) into milliseconds. */
export function parseDuration(name: string, raw: string, fallbackMs: number, allowZero = false): number {
  const value = raw.trim();
  if (value === '') return fallbackMs;
  const fix = `write a duration such as 10m, 90s or 1h30m`;
  if (/^\d+$/.test(value)) {
    const ms = Number(value) * 1000;
    if (ms <= 0 && !allowZero) throw new InputError(name, `"${value}" must be more than zero; ${fix}.`);
    return ms;
  }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new InputError(name, `"${value}" is not a duration; ${fix}.`);
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? 's'] ?? 0), 0);
  if (ms <= 0 && !allowZero) throw new InputError(name, `"${value}" must be more than zero; ${fix}.`);
  return ms;
}

/** `KEY=value` lines (build-args, labels, secrets): the key must be present. */
function parseKeyValues(name: string, raw: string, secret: boolean): string[] {
  const lines = parseList(raw);
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) {
      const shown = secret ? 'a line' : `"${line}"`;
      throw new InputError(name, `${shown} is not KEY=value; write one KEY=value per line.`);
    }
  }
  return lines;
}

/** An image repository without tag or digest; the tags go in `tags`. */
function parseImage(raw: string): string {
  const value = raw.trim();
  if (value === '') {
    throw new InputError('image', 'is required; set it to the image repository, e.g. ghcr.io/acme/web.');
  }
  const lastSlash = value.lastIndexOf('/');
  if (value.includes('@') || value.lastIndexOf(':') > lastSlash) {
    throw new InputError(
      'image',
      `"${value}" has a tag or digest; give the repository only (e.g. ghcr.io/acme/web) and put tags in "tags".`,
    );
  }
  if (!/^[a-z0-9]+([._:/-][a-z0-9]+)*$/.test(value)) {
    throw new InputError('image', `"${value}" is not a valid repository; use lower case, e.g. ghcr.io/acme/web.`);
  }
  return value;
}

function parseTags(raw: string, sha: string): string[] {
  const tags = parseList(raw);
  for (const tag of tags) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
      throw new InputError('tags', `"${tag}" is not a valid tag; use letters, digits, "_", "." and "-" (max 128).`);
    }
  }
  if (tags.length > 0) return tags;
  if (sha === '') throw new InputError('tags', 'is empty and GITHUB_SHA is not set; give at least one tag.');
  return [sha.slice(0, 7)];
}

function parseCount(name: string, raw: string, fallback: number): number {
  const value = raw.trim();
  if (value === '') return fallback;
  if (!/^\d+$/.test(value) || Number(value) > 1000) {
    throw new InputError(name, `"${value}" is not a whole number from 0 to 1000; write e.g. 0 or 2.`);
  }
  return Number(value);
}

function parseComment(raw: string): CommentMode {
  const value = raw.trim() || 'auto';
  if (value === 'auto' || value === 'always' || value === 'never') return value;
  throw new InputError('comment', `"${value}" is not one of auto, always, never.`);
}

function parsePrNumber(raw: string): number | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  if (!/^[1-9]\d*$/.test(value)) throw new InputError('pr-number', `"${value}" is not a pull request number.`);
  return Number(value);
}

/** Reads and validates every input. `sha` is the commit (GITHUB_SHA), the default tag's source. */
export function parseInputs(read: InputReader, sha: string): Inputs {
  const deploymentLines = parseList(read('deployments'));
  if (deploymentLines.length === 0) {
    throw new InputError(
      'deployments',
      'is required; list the Deployments to update, one NAME or NAMESPACE/NAME per line.',
    );
  }
  const namespace = read('namespace').trim();
  if (namespace !== '' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new InputError('namespace', `"${namespace}" is not a valid namespace name.`);
  }
  const username = read('registry-username').trim();
  const password = read('registry-password');
  if ((username === '') !== (password === '')) {
    throw new InputError(
      username === '' ? 'registry-username' : 'registry-password',
      'is set without its pair; set both registry-username and registry-password, or neither to use the existing Docker login.',
    );
  }
  const build = parseBoolean('build', read('build'), true);
  const push = parseBoolean('push', read('push'), true);
  if (build && !push) {
    throw new InputError('push', 'is false, but deploying needs the image in a registry; set push: true.');
  }
  return {
    build,
    context: read('context').trim() || '.',
    file: read('file').trim(),
    target: read('target').trim(),
    'build-args': parseKeyValues('build-args', read('build-args'), false),
    labels: parseKeyValues('labels', read('labels'), false),
    secrets: parseKeyValues('secrets', read('secrets'), true),
    'cache-from': parseList(read('cache-from')),
    'cache-to': parseList(read('cache-to')),
    platforms: parseCsvList(read('platforms')),
    'no-cache': parseBoolean('no-cache', read('no-cache'), false),
    network: read('network').trim(),
    push,
    image: parseImage(read('image')),
    tags: parseTags(read('tags'), sha),
    'registry-username': username,
    'registry-password': password,
    kubeconfig: read('kubeconfig'),
    'kube-context': read('kube-context').trim(),
    'allow-http': parseBoolean('allow-http', read('allow-http'), false),
    namespace,
    deployments: deploymentLines.map(parseTarget),
    timeout: parseDuration('timeout', read('timeout'), 600_000),
    'allowed-restarts': parseCount('allowed-restarts', read('allowed-restarts'), 0),
    bake: parseDuration('bake', read('bake'), 30_000, true),
    rollback: parseBoolean('rollback', read('rollback'), true),
    'rollback-timeout': parseDuration('rollback-timeout', read('rollback-timeout'), 300_000),
    'fail-fast': parseBoolean('fail-fast', read('fail-fast'), true),
    environment: read('environment').trim() || 'default',
    'environment-url': read('environment-url').trim(),
    'github-deployment': parseBoolean('github-deployment', read('github-deployment'), false),
    comment: parseComment(read('comment')),
    'comment-logs': parseBoolean('comment-logs', read('comment-logs'), true),
    'pr-number': parsePrNumber(read('pr-number')),
    'github-token': read('github-token'),
  };
}
