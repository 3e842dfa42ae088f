/**
 * Every input, read once and validated, into one object keyed by the names in action.yml. Each error names the
 * input, the value (never for secrets) and the fix, so a wrong workflow fails in the first second, before any build.
 */
import { InputError } from '../lib/errors.js';
import type { Secrets } from '../lib/secrets.js';
import { DIGEST, REPOSITORY, splitReference, TAG } from './image-ref.js';
import { parseDuration } from './duration.js';
import { parseTarget, parseWorkload, type TargetSpec } from './targets.js';
import { parseVerify, type CheckSpec } from './verify.js';
import { parseCanary, type CanaryStep } from './canary.js';
import { parseCanaryRoute, type CanaryRoute } from './canary-route.js';

export { parseDuration };

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
  /** Repository, without tag or digest. */
  image: string;
  /** Bare tags; the first is shown in the deployed reference. */
  tags: string[];
  /** With build: false, a digest given in `image` (and the tag it came with): exactly that is deployed. */
  pinned: { digest: string; tag?: string } | undefined;
  'registry-username': string;
  'registry-password': string;
  kubeconfig: string;
  'kube-context': string;
  /** Allow a cluster server on plain http:// (its credentials travel unencrypted). */
  'allow-http': boolean;
  namespace: string;
  /** Deployments by name (`deployments`). */
  deployments: TargetSpec[];
  /** Deployments, StatefulSets and DaemonSets by kind and name (`workloads`). */
  workloads: TargetSpec[];
  /** Manifest files or globs (`manifests`), applied before the targets are patched. */
  manifests: string[];
  /** A kustomization directory (`kustomize`), built and then applied as `manifests` are; '' when unset. */
  kustomize: string;
  /** Take over fields other field managers own when applying the manifests. */
  'force-conflicts': boolean;
  /** Plan the deploy and check it with server-side dry runs; change nothing in the cluster. */
  preview: boolean;
  /** Whether a preview's plan shows the objects' live and new values, or only the fields that change. */
  'preview-values': PreviewValues;
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
  /** Checks of what users see, run during the bake against the new release (`verify`). */
  verify: CheckSpec[];
  /** The canary's steps (`canary`): the release on a few pods of its own first; [] is the rolling update alone. */
  canary: CanaryStep[];
  /** The HTTPRoute whose weights each step of `canary` sets (`canary-route`); undefined: the share is by pods. */
  'canary-route': CanaryRoute | undefined;
  /** Job manifest files run to completion before any workload is touched (`pre-deploy`: migrations). */
  'pre-deploy': string[];
  /** A Helm chart (directory or `oci://`) released with the runner's helm (`chart`); '' without one. */
  chart: string;
  /** The chart's values files (`values`), in order. */
  values: string[];
  /** The chart's `KEY=VALUE` settings (`set`), given to helm as --set. */
  set: string[];
  /** The Helm release name ('' for the chart's name). */
  release: string;
  /** The chart version of an `oci://` chart ('' for its latest). */
  'chart-version': string;
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

/**
 * `image` and `tags` as build-push-action and metadata-action write them: `tags` may hold bare tags (`v1`) or full
 * references (`ghcr.io/acme/web:v1`), and `image` may then be left out; with `build: false`, `image` may pin a
 * digest (`ghcr.io/acme/web@sha256:...`, optionally with a tag) to deploy exactly that.
 */
function parseImageAndTags(
  imageRaw: string,
  tagsRaw: string,
  sha: string,
  build: boolean,
): { image: string; tags: string[]; pinned: Inputs['pinned'] } {
  const fix = 'e.g. image: ghcr.io/acme/web with tags: v1, or tags: ghcr.io/acme/web:v1';
  const lines = parseList(tagsRaw);
  const full = lines.filter((line) => line.includes('/') || line.includes(':') || line.includes('@'));
  const fromTags = [...new Set(full.map((line) => splitReference(line).repository))];
  if (fromTags.length > 1) {
    throw new InputError(
      'tags',
      `names several repositories (${fromTags.join(', ')}); deploy one image per step (${fix}).`,
    );
  }
  const value = imageRaw.trim();
  const named = value === '' ? undefined : splitReference(value);
  const image = named?.repository ?? fromTags[0];
  if (image === undefined) throw new InputError('image', `is required; set the image repository (${fix}).`);
  if (!REPOSITORY.test(image)) {
    throw new InputError('image', `"${image}" is not a valid repository; use lower case, e.g. ghcr.io/acme/web.`);
  }
  if (fromTags[0] !== undefined && fromTags[0] !== image) {
    throw new InputError(
      'tags',
      `names ${fromTags[0]} but "image" is ${image}; make them the same repository, or leave "image" out.`,
    );
  }
  if (named?.digest !== undefined && !DIGEST.test(named.digest)) {
    throw new InputError('image', `"${value}" has a digest that is not sha256:<64 hex>.`);
  }
  if ((named?.tag !== undefined || named?.digest !== undefined) && build) {
    throw new InputError(
      'image',
      `"${value}" has a tag or digest, but a build makes the digest; give the repository only and put tags in "tags" (or set build: false to deploy that image).`,
    );
  }
  const tags = lines.map((line) => (full.includes(line) ? (splitReference(line).tag ?? '') : line));
  for (const [i, tag] of tags.entries()) {
    if (!TAG.test(tag)) {
      throw new InputError(
        'tags',
        `"${lines[i]}" is not a valid tag; use letters, digits, "_", "." and "-" (max 128).`,
      );
    }
  }
  const pinned =
    named?.digest !== undefined ? { digest: named.digest, ...(named.tag ? { tag: named.tag } : {}) } : undefined;
  if (named?.tag !== undefined && named.digest === undefined) tags.unshift(named.tag);
  if (tags.length > 0 || pinned !== undefined) return { image, tags, pinned };
  if (sha === '') throw new InputError('tags', 'is empty and GITHUB_SHA is not set; give at least one tag.');
  return { image, tags: [sha.slice(0, 7)], pinned };
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

/** The input `preview-values`: `shown` or `hidden`. */
export type PreviewValues = 'shown' | 'hidden';

function parsePreviewValues(raw: string): PreviewValues {
  const value = raw.trim() || 'shown';
  if (value === 'shown' || value === 'hidden') return value;
  throw new InputError(
    'preview-values',
    `"${value}" is not one of shown, hidden; set hidden to publish no value of any object in a preview.`,
  );
}

function parsePrNumber(raw: string): number | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  if (!/^[1-9]\d*$/.test(value)) throw new InputError('pr-number', `"${value}" is not a pull request number.`);
  return Number(value);
}

/** The one kustomization directory of `kustomize`; refused beside `manifests`, whose objects it would mix with. */
function parseKustomize(raw: string, manifests: string[]): string {
  const lines = parseList(raw);
  if (lines.length > 1) {
    throw new InputError(
      'kustomize',
      `names ${lines.length} directories; name one kustomization directory per step (one overlay that lists the ` +
        'others as resources builds them together).',
    );
  }
  const [dir = ''] = lines;
  if (dir !== '' && manifests.length > 0) {
    throw new InputError(
      'kustomize',
      'is set together with "manifests"; use one of them: list the manifest files as resources of the ' +
        'kustomization, or deploy them in a step of their own.',
    );
  }
  return dir;
}

/** The inputs of `chart`: a chart is released on its own, so it excludes the other ways of naming what to deploy. */
function parseChart(
  read: InputReader,
  othersNamed: boolean,
): Pick<Inputs, 'chart' | 'values' | 'set' | 'release' | 'chart-version'> {
  const chart = read('chart').trim();
  const companions = { values: parseList(read('values')), set: parseKeyValues('set', read('set'), false) };
  const release = read('release').trim();
  const version = read('chart-version').trim();
  if (chart === '') {
    const stray = ['values', 'set', 'release', 'chart-version'].find((name) => read(name).trim() !== '');
    if (stray)
      throw new InputError(stray, 'is set without "chart"; set chart to the chart directory or oci:// reference.');
    return { chart, ...companions, release, 'chart-version': version };
  }
  if (othersNamed) {
    throw new InputError(
      'chart',
      'is set together with deployments, workloads, manifests or kustomize; release the chart in a step of its own.',
    );
  }
  for (const name of ['canary', 'pre-deploy']) {
    if (read(name).trim() !== '') {
      throw new InputError(name, 'is not supported with "chart" yet; leave it out of the chart\'s step.');
    }
  }
  return { chart, ...companions, release, 'chart-version': version };
}

/** What to deploy: targets, manifests, a kustomization or a chart; at least one, and a chart alone. */
function whatToDeploy(read: InputReader) {
  const deploymentLines = parseList(read('deployments'));
  const workloadLines = parseList(read('workloads'));
  const manifests = parseList(read('manifests'));
  const kustomize = parseKustomize(read('kustomize'), manifests);
  const named = deploymentLines.length + workloadLines.length + manifests.length > 0 || kustomize !== '';
  const chart = parseChart(read, named);
  if (!named && chart.chart === '') {
    throw new InputError(
      'deployments',
      'is required (or "workloads", "manifests", "kustomize" or "chart"); list the Deployments to update, one NAME ' +
        'or NAMESPACE/NAME per line, or the workloads as KIND/NAME or NAMESPACE/KIND/NAME (deployment, statefulset, ' +
        'daemonset), or the manifest files to apply, a kustomization directory, or the Helm chart to release.',
    );
  }
  return {
    deployments: deploymentLines.map(parseTarget),
    workloads: workloadLines.map(parseWorkload),
    manifests,
    kustomize,
    ...chart,
  };
}

/** The registry login: both or neither. */
function registryLogin(read: InputReader): Pick<Inputs, 'registry-username' | 'registry-password'> {
  const username = read('registry-username').trim();
  const password = read('registry-password');
  if ((username === '') !== (password === '')) {
    throw new InputError(
      username === '' ? 'registry-username' : 'registry-password',
      'is set without its pair; set both registry-username and registry-password, or neither to use the existing Docker login.',
    );
  }
  return { 'registry-username': username, 'registry-password': password };
}

/** The build and the push of the image (a build is always pushed: kube-ship deploys what it pushes). */
function buildAndPush(read: InputReader, sha: string) {
  const build = parseBoolean('build', read('build'), true);
  const push = parseBoolean('push', read('push'), true);
  if (build && !push) {
    throw new InputError(
      'push',
      'is false, but kube-ship deploys what it pushes; set push: true, or use docker/build-push-action for a build-only check.',
    );
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
    ...parseImageAndTags(read('image'), read('tags'), sha, build),
  };
}

/** The cluster to talk to, and the namespace of targets named without one. */
function cluster(read: InputReader) {
  const namespace = read('namespace').trim();
  if (namespace !== '' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new InputError('namespace', `"${namespace}" is not a valid namespace name.`);
  }
  return {
    kubeconfig: read('kubeconfig'),
    'kube-context': read('kube-context').trim(),
    'allow-http': parseBoolean('allow-http', read('allow-http'), false),
    namespace,
  };
}

/** How the release is rolled out, judged, checked and rolled back. */
function rollout(read: InputReader) {
  return {
    'force-conflicts': parseBoolean('force-conflicts', read('force-conflicts'), false),
    preview: parseBoolean('preview', read('preview'), false),
    'preview-values': parsePreviewValues(read('preview-values')),
    timeout: parseDuration('timeout', read('timeout'), 600_000),
    'allowed-restarts': parseCount('allowed-restarts', read('allowed-restarts'), 0),
    bake: parseDuration('bake', read('bake'), 30_000, true),
    rollback: parseBoolean('rollback', read('rollback'), true),
    'rollback-timeout': parseDuration('rollback-timeout', read('rollback-timeout'), 300_000),
    'fail-fast': parseBoolean('fail-fast', read('fail-fast'), true),
    verify: parseVerify(read('verify')),
    'pre-deploy': parseList(read('pre-deploy')),
    ...canaryOf(read),
  };
}

/** Where the result is reported on GitHub. */
function reporting(read: InputReader) {
  return {
    environment: read('environment').trim() || 'default',
    'environment-url': read('environment-url').trim(),
    'github-deployment': parseBoolean('github-deployment', read('github-deployment'), false),
    comment: parseComment(read('comment')),
    'comment-logs': parseBoolean('comment-logs', read('comment-logs'), true),
    'pr-number': parsePrNumber(read('pr-number')),
    'github-token': read('github-token'),
  };
}

/**
 * Reads and validates every input. `sha` is the commit (GITHUB_SHA), the default tag's source. What to deploy is read
 * first: without it nothing else matters, and its error names the inputs that could say it.
 */
export function parseInputs(read: InputReader, sha: string): Inputs {
  const deploy = whatToDeploy(read);
  const where = cluster(read);
  const login = registryLogin(read);
  const image = buildAndPush(read, sha);
  return { ...image, ...login, ...where, ...deploy, ...rollout(read), ...reporting(read) };
}

function canaryOf(read: InputReader): Pick<Inputs, 'canary' | 'canary-route'> {
  const canary = parseCanary(read('canary'));
  return { canary, 'canary-route': parseCanaryRoute(read('canary-route'), canary) };
}

type SecretInput = (typeof SECRET_INPUTS)[number];

/**
 * Registers every secret input (masked line by line, scrubbed from every channel) and takes the secret inputs out
 * of `env`, the environment that docker, credential plugins and every other child process inherit.
 */
export function registerSecretInputs(
  inputs: Pick<Inputs, SecretInput>,
  secrets: Secrets,
  env: NodeJS.ProcessEnv,
): void {
  secrets.add(inputs['registry-password']);
  secrets.add(inputs['github-token']);
  secrets.add(inputs.kubeconfig, { lines: false });
  for (const secret of inputs.secrets) secrets.add(secret.slice(secret.indexOf('=') + 1));
  for (const name of SECRET_INPUTS) delete env[`INPUT_${name.toUpperCase()}`];
}
