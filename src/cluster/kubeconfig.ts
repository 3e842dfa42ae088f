/**
 * Where the cluster comes from: the `kubeconfig` input (raw YAML or base64), else KUBECONFIG or ~/.kube/config,
 * else the in-cluster service account; never client-node's silent fallback to http://localhost:8080. Every secret a
 * kubeconfig holds is listed so the caller can mask it before anything is logged.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import * as yaml from 'js-yaml';
import { ClientConfig } from './client-config.js';
import { InputError, messageOf, PreflightError } from '../lib/errors.js';

/** Decodes the input: raw YAML as is, otherwise base64 (whitespace ignored). */
export function decodeKubeconfig(raw: string): string {
  const text = raw.trim();
  if (/^(apiVersion|kind|clusters|contexts|users|current-context|preferences)\s*:/m.test(text)) return text;
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/=_-]+$/.test(compact)) {
    throw new InputError('kubeconfig', 'is neither kubeconfig YAML nor base64; paste the file or `base64 -w0` of it.');
  }
  const decoded = Buffer.from(compact, 'base64').toString('utf8');
  if (!/^(apiVersion|kind|clusters|contexts|users|current-context)\s*:/m.test(decoded)) {
    throw new InputError('kubeconfig', 'decodes from base64 to something that is not a kubeconfig; check the secret.');
  }
  return decoded;
}

const SECRET_KEYS = new Set([
  'token',
  'password',
  'client-key-data',
  'client-certificate-data',
  'certificate-authority-data',
  'id-token',
  'refresh-token',
  'access-token',
  'client-secret',
]);

function parseYaml(text: string, source: string): unknown {
  try {
    return yaml.load(text);
  } catch {
    throw new InputError(
      'kubeconfig',
      `${source} is not valid YAML; paste the kubeconfig file or \`base64 -w0\` of it.`,
    );
  }
}

/**
 * Every value in a kubeconfig document that must never appear in a log: tokens, passwords, keys and certificates,
 * an exec plugin's arguments and environment values (they often carry a token), and the contents of token files.
 */
export function kubeconfigSecrets(
  document: unknown,
  readFile: (path: string) => string | undefined = readIfExists,
): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (SECRET_KEYS.has(key) && typeof value === 'string' && value !== '') found.push(value);
        else if (key === 'token-file' && typeof value === 'string') found.push(readFile(value) ?? '');
        else if (key === 'exec' && value !== null && typeof value === 'object') found.push(...execSecrets(value));
        else walk(value);
      }
    }
  };
  walk(document);
  return found.filter((v) => v.trim() !== '');
}

function execSecrets(exec: object): string[] {
  const { args, env } = exec as { args?: unknown; env?: unknown };
  const values = Array.isArray(args)
    ? args.filter((a): a is string => typeof a === 'string' && !a.startsWith('-'))
    : [];
  for (const entry of Array.isArray(env) ? env : []) {
    const value = (entry as { value?: unknown } | null)?.value;
    if (typeof value === 'string') values.push(value);
  }
  return values;
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

interface Named {
  name?: string;
}
interface KubeconfigDocument {
  clusters?: (Named & { cluster?: Record<string, unknown> })[];
  users?: (Named & { user?: Record<string, unknown> })[];
  contexts?: Named[];
  'current-context'?: string;
  [key: string]: unknown;
}

/** Fields that name a file, resolved against the kubeconfig's own directory as kubectl does. */
const PATH_FIELDS = ['certificate-authority', 'client-certificate', 'client-key', 'token-file'];

function resolvePaths(entry: Record<string, unknown> | undefined, dir: string): void {
  if (entry === undefined) return;
  for (const field of PATH_FIELDS) {
    const value = entry[field];
    if (typeof value === 'string' && value !== '' && !isAbsolute(value)) entry[field] = join(dir, value);
  }
}

/**
 * KUBECONFIG with several files, merged as kubectl merges them: the first file that sets current-context wins,
 * and for clusters, users and contexts the first entry of each name wins. Relative paths are resolved against the
 * file that holds them.
 */
export function mergeKubeconfigs(files: { path: string; document: unknown }[]): KubeconfigDocument {
  const merged: KubeconfigDocument = { apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] };
  for (const { path, document } of files) {
    const doc = (document ?? {}) as KubeconfigDocument;
    const dir = dirname(path);
    for (const kind of ['clusters', 'users', 'contexts'] as const) {
      for (const entry of doc[kind] ?? []) {
        const list = merged[kind] as Named[];
        if (list.some((e) => e.name === entry.name)) continue;
        const copy = structuredClone(entry) as Named & {
          cluster?: Record<string, unknown>;
          user?: Record<string, unknown>;
        };
        resolvePaths(copy.cluster, dir);
        resolvePaths(copy.user, dir);
        list.push(copy);
      }
    }
    if (!merged['current-context'] && doc['current-context']) merged['current-context'] = doc['current-context'];
  }
  return merged;
}

/** The command a kubeconfig user runs for credentials: an exec plugin, or a gcp/azure auth provider's cmd-path. */
export function credentialCommand(
  user: { exec?: { command?: string } | null; authProvider?: { config?: Record<string, string> } } | null | undefined,
): string | undefined {
  if (user?.exec) return user.exec.command ?? 'an exec plugin';
  return user?.authProvider?.config?.['cmd-path'] || undefined;
}

/** The in-cluster service account token, as client-node reads it. */
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface ClusterConfig {
  config: ClientConfig;
  /** Where the kubeconfig came from, for the log. */
  source: string;
  /** The namespace of the current context, if it names one. */
  contextNamespace: string | undefined;
  /** The command the current user runs on this runner for credentials (exec plugin, gcp/azure cmd-path), if any. */
  credentialCommand: string | undefined;
}

export interface ClusterOptions {
  /** Allow a cluster server on plain http:// (input `allow-http`). */
  allowHttp?: boolean;
  /** Reads a file (token files, the in-cluster token); tests pass their own. */
  readFile?: (path: string) => string | undefined;
}

/**
 * Loads the cluster configuration; `mask` is called with each secret before anything else happens (with
 * `whole: true` for the kubeconfig document itself, which is masked as one value, not line by line).
 */
export function loadCluster(
  input: string,
  context: string,
  env: NodeJS.ProcessEnv,
  mask: (secret: string, whole?: boolean) => void,
  options: ClusterOptions = {},
): ClusterConfig {
  const { config, source } = loadSource(input, env, mask, options.readFile ?? readIfExists);
  if (context !== '') useContext(config, context, source);
  checkServer(config, source, options.allowHttp ?? false);
  const contextObject = config.getContextObject(config.getCurrentContext());
  return {
    config,
    source,
    contextNamespace: contextObject?.namespace || undefined,
    credentialCommand: credentialCommand(config.getCurrentUser()),
  };
}

/**
 * The kubeconfig from the first source there is: the input, else KUBECONFIG's files or ~/.kube/config, else the
 * in-cluster service account. Its secrets are masked before it is loaded.
 */
function loadSource(
  input: string,
  env: NodeJS.ProcessEnv,
  mask: (secret: string, whole?: boolean) => void,
  readFile: (path: string) => string | undefined,
): { config: ClientConfig; source: string } {
  const config = new ClientConfig();
  const load = (document: unknown, source: string): { config: ClientConfig; source: string } => {
    kubeconfigSecrets(document, readFile).forEach((secret) => mask(secret));
    try {
      config.loadFromDocument(document);
    } catch (error) {
      throw new InputError('kubeconfig', `${source} could not be loaded (${messageOf(error)}).`);
    }
    return { config, source };
  };
  if (input.trim() !== '') {
    mask(input.trim(), true);
    const source = 'the kubeconfig input';
    return load(parseYaml(decodeKubeconfig(input), source), source);
  }
  const files = (env.KUBECONFIG ?? '').split(':').filter((f) => f !== '');
  const defaultFile = join(env.HOME ?? homedir(), '.kube', 'config');
  const existing = files.length > 0 ? files.filter((f) => existsSync(f)) : existsSync(defaultFile) ? [defaultFile] : [];
  if (existing.length > 0) {
    const documents = existing.map((path) => ({ path, document: parseYaml(readFileSync(path, 'utf8'), path) }));
    return load(mergeKubeconfigs(documents), existing.join(':'));
  }
  if (env.KUBERNETES_SERVICE_HOST) {
    config.loadFromCluster(env);
    const token = readFile(IN_CLUSTER_TOKEN);
    if (token) mask(token);
    return { config, source: 'the in-cluster service account' };
  }
  throw new InputError(
    'kubeconfig',
    'is empty and no KUBECONFIG, ~/.kube/config or in-cluster service account was found; ' +
      'pass the kubeconfig as a secret (kubeconfig: ${{ secrets.KUBECONFIG }}) or set up credentials in an earlier step.',
  );
}

/** Makes the `kube-context` input the current context; a name the kubeconfig lacks is refused with those it has. */
function useContext(config: ClientConfig, context: string, source: string): void {
  if (!config.getContextObject(context)) {
    const names = config.getContexts().map((c) => c.name);
    throw new InputError('kube-context', `"${context}" is not in ${source} (it has: ${names.join(', ') || 'none'}).`);
  }
  config.setCurrentContext(context);
}

/** The current context must name a cluster with a server, on https:// unless `allow-http` (then it is used as is). */
function checkServer(config: ClientConfig, source: string, allowHttp: boolean): void {
  const cluster = config.getCurrentCluster();
  if (!cluster?.server) {
    throw new PreflightError(
      `${source} has no cluster for context "${config.getCurrentContext()}"; set kube-context or fix the kubeconfig.`,
    );
  }
  if (/^http:\/\//i.test(cluster.server) && !allowHttp) {
    throw new InputError(
      'kubeconfig',
      `${source}: cluster "${cluster.name}" is served on plain ${cluster.server}, so its credentials would travel ` +
        'unencrypted; use its https:// address, or set allow-http: true if that is really meant (e.g. a proxy on localhost).',
    );
  }
}

/**
 * The bearer token the current user sends, got the way client-node gets it (running an exec plugin or auth
 * provider once), so that a token a plugin issues is masked before any request could log it.
 */
export async function issuedToken(config: ClientConfig): Promise<string | undefined> {
  const header = (await config.requestAuth()).headers.Authorization ?? '';
  return header.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}
