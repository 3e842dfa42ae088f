/**
 * Where the cluster comes from: the `kubeconfig` input (raw YAML or base64), else KUBECONFIG or ~/.kube/config,
 * else the in-cluster service account; never client-node's silent fallback to http://localhost:8080. Every secret a
 * kubeconfig holds is listed so the caller can mask it before anything is logged.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { InputError, PreflightError } from './errors.js';

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

/** Every value in a kubeconfig document that must never appear in a log. */
export function kubeconfigSecrets(text: string): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (SECRET_KEYS.has(key) && typeof value === 'string' && value !== '') found.push(value);
        else walk(value);
      }
    }
  };
  try {
    walk(yaml.load(text));
  } catch {
    throw new InputError('kubeconfig', 'is not valid YAML; paste the kubeconfig file or `base64 -w0` of it.');
  }
  return found;
}

export interface ClusterConfig {
  config: KubeConfig;
  /** Where the kubeconfig came from, for the log. */
  source: string;
  /** The namespace of the current context, if it names one. */
  contextNamespace: string | undefined;
  /** True when a user entry runs a command (exec plugin) to get credentials. */
  usesExec: boolean;
}

/** Loads the cluster configuration; `mask` is called with each secret before anything else happens. */
export function loadCluster(
  input: string,
  context: string,
  env: NodeJS.ProcessEnv,
  mask: (secret: string) => void,
): ClusterConfig {
  const config = new KubeConfig();
  let source: string;
  if (input.trim() !== '') {
    mask(input.trim());
    const text = decodeKubeconfig(input);
    kubeconfigSecrets(text).forEach(mask);
    try {
      config.loadFromString(text);
    } catch (error) {
      throw new InputError('kubeconfig', `could not be loaded (${error instanceof Error ? error.message : error}).`);
    }
    source = 'the kubeconfig input';
  } else {
    const files = (env.KUBECONFIG ?? '').split(':').filter((f) => f !== '');
    const defaultFile = join(env.HOME ?? homedir(), '.kube', 'config');
    const existing =
      files.length > 0 ? files.filter((f) => existsSync(f)) : existsSync(defaultFile) ? [defaultFile] : [];
    if (existing.length > 0) {
      for (const file of existing) kubeconfigSecrets(readFileSync(file, 'utf8')).forEach(mask);
      if (existing.length === 1) config.loadFromFile(existing[0] ?? '');
      else config.loadFromDefault();
      source = existing.join(':');
    } else if (env.KUBERNETES_SERVICE_HOST) {
      config.loadFromCluster();
      source = 'the in-cluster service account';
    } else {
      throw new InputError(
        'kubeconfig',
        'is empty and no KUBECONFIG, ~/.kube/config or in-cluster service account was found; ' +
          'pass the kubeconfig as a secret (kubeconfig: ${{ secrets.KUBECONFIG }}) or set up credentials in an earlier step.',
      );
    }
    for (const user of config.users) {
      for (const value of [user.token, user.password, user.keyData, user.certData]) if (value) mask(value);
    }
  }
  if (context !== '') {
    if (!config.getContextObject(context)) {
      const names = config.getContexts().map((c) => c.name);
      throw new InputError('kube-context', `"${context}" is not in ${source} (it has: ${names.join(', ') || 'none'}).`);
    }
    config.setCurrentContext(context);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster?.server) {
    throw new PreflightError(
      `${source} has no cluster for context "${config.getCurrentContext()}"; set kube-context or fix the kubeconfig.`,
    );
  }
  const contextObject = config.getContextObject(config.getCurrentContext());
  const user = config.getCurrentUser();
  return {
    config,
    source,
    contextNamespace: contextObject?.namespace || undefined,
    usesExec: user?.exec !== undefined && user.exec !== null,
  };
}
