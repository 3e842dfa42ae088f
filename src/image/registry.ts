/**
 * Reading digests from an OCI / Docker registry: `HEAD /v2/<repo>/manifests/<ref>` and its
 * `Docker-Content-Digest`, with basic auth or the Bearer token flow. The Accept header always lists the Docker v2
 * and list/index types: with only the OCI type, distribution 2.8 converts to schema1 and answers another digest.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DIGEST, DOCKER_HUB, splitRepository } from '../desired/image-ref.js';

export interface Registry {
  /** The manifest digest the registry serves for a tag or digest, or undefined when it has none. */
  manifestDigest(repository: string, reference: string): Promise<string | undefined>;
}

export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

const isLoopback = (hostname: string): boolean =>
  hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]' || hostname === '::1';

/** Plain HTTP only for loopback registries (as the Docker engine treats 127.0.0.0/8 as insecure by default). */
export function registryUrl(endpoint: string): string {
  return `${isLoopback(endpoint.replace(/:\d+$/, '')) ? 'http' : 'https'}://${endpoint}`;
}

/** Credentials for a registry host from a Docker config file (`auths[host].auth`), if any. */
export function dockerConfigAuth(configJson: string, host: string): string | undefined {
  try {
    const config = JSON.parse(configJson) as { auths?: Record<string, { auth?: string }> };
    const keys =
      host === DOCKER_HUB
        ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io']
        : [host, `https://${host}`, `http://${host}`];
    for (const key of keys) {
      const auth = config.auths?.[key]?.auth;
      if (auth) return auth;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Token hosts that serve registries on other hosts: Docker Hub's and GitLab.com's. */
const KNOWN_TOKEN_HOSTS = new Set(['auth.docker.io', 'gitlab.com']);

/** The parent domain of a host name (`registry.example.com` -> `example.com`), for a sibling token host. */
const parentDomain = (hostname: string): string => hostname.split('.').slice(1).join('.');

/**
 * The token realm a registry's Bearer challenge names, checked before any credentials go there: HTTPS (plain HTTP
 * only on loopback), and on the registry's own host, a sibling under the same parent domain
 * (registry.example.com -> gitlab.example.com), or a known token host. Anything else could be a registry (or a
 * man in the middle) collecting the credentials.
 */
export function checkRealm(realm: string, endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new Error(`registry ${endpoint} named a token realm that is not a URL ("${realm}")`);
  }
  const registryHost = endpoint.replace(/:\d+$/, '');
  const scheme = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
  const parent = parentDomain(registryHost);
  const host =
    url.hostname === registryHost ||
    KNOWN_TOKEN_HOSTS.has(url.hostname) ||
    (parent.includes('.') && parentDomain(url.hostname) === parent);
  if (!scheme || !host) {
    throw new Error(
      `registry ${endpoint} asked for credentials at ${url.origin}, which is not ${scheme ? 'its own host or a known token host' : 'HTTPS'}; refusing to send them there`,
    );
  }
  return url;
}

/** Parses `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1] ?? ''] = m[2] ?? '';
  return { scheme, params };
}

/** How long one registry request may take: a registry that accepts and never answers must not hold the job. */
export const REGISTRY_TIMEOUT_MS = 15_000;
/** How long the digest check rides out a registry that refuses, resets or answers 5xx / 429. */
export const REGISTRY_RETRY_MS = 20_000;

/**
 * A registry problem. `transient` when asking again may succeed: a refused or reset connection, a 5xx or a 429
 * (a registry that blinks between the push and the digest check). A request that got no answer in time is not:
 * it has already waited its whole limit.
 */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** A registry request, its failure said in one line that names the registry (no answer, refused, reset). */
async function bounded(host: string, request: () => Promise<Response>): Promise<Response> {
  try {
    return await request();
  } catch (error) {
    const name = (error as { name?: string } | null)?.name;
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
    const timedOut = name === 'TimeoutError';
    const why = timedOut ? 'did not answer in time' : `could not be reached${cause}`;
    throw new RegistryError(`registry ${host} ${why}; check that it is up and reachable from the runner`, !timedOut);
  }
}

/** How long the digest check keeps asking a registry whose failures are transient, and how it waits. */
export interface RetryOptions {
  budgetMs: number;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /** Told of each failure that will be asked again, with the wait before the next try. */
  onRetry: (message: string, waitMs: number) => void;
}

/**
 * The registry, asked again with backoff (0.5 s doubling to 4 s) while its failures are transient and the budget
 * lasts; the last failure is thrown as it was once the budget is spent.
 */
export function withRetries(registry: Registry, options: RetryOptions): Registry {
  return {
    async manifestDigest(repository, reference) {
      const started = options.now();
      for (let wait = 500; ; wait = Math.min(wait * 2, 4000)) {
        try {
          return await registry.manifestDigest(repository, reference);
        } catch (error) {
          const left = options.budgetMs - (options.now() - started);
          if (!(error instanceof RegistryError) || !error.transient || left <= 0) throw error;
          const pause = Math.min(wait, left);
          options.onRetry(error.message, pause);
          await options.sleep(pause);
        }
      }
    },
  };
}

/**
 * A registry client for one set of credentials: `basic` is base64 `user:password` (from the inputs), else the
 * Docker config is read for the host.
 */
export function createRegistry(
  basic: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs: number = REGISTRY_TIMEOUT_MS,
): Registry {
  const configAuth = (host: string): string | undefined => {
    if (basic) return basic;
    try {
      const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
      return dockerConfigAuth(readFileSync(join(dir, 'config.json'), 'utf8'), host);
    } catch {
      return undefined;
    }
  };

  return {
    async manifestDigest(repository, reference) {
      const { host, endpoint, path } = splitRepository(repository);
      const url = `${registryUrl(endpoint)}/v2/${path}/manifests/${reference}`;
      const credentials = configAuth(host);
      const headers: Record<string, string> = { Accept: MANIFEST_ACCEPT };
      let response = await bounded(host, () =>
        fetch(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(timeoutMs) }),
      );
      if (response.status === 401) {
        const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '');
        if (challenge.scheme === 'basic' && credentials) {
          headers.Authorization = `Basic ${credentials}`;
        } else if (challenge.scheme === 'bearer' && challenge.params.realm) {
          const tokenUrl = checkRealm(challenge.params.realm, endpoint);
          if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
          tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${path}:pull`);
          const tokenResponse = await bounded(host, () =>
            fetch(tokenUrl, {
              signal: AbortSignal.timeout(timeoutMs),
              ...(credentials ? { headers: { Authorization: `Basic ${credentials}` } } : {}),
            }),
          );
          if (!tokenResponse.ok)
            throw new Error(
              `registry ${host} refused a pull token (HTTP ${tokenResponse.status}); check the registry login`,
            );
          const body = (await tokenResponse.json()) as { token?: string; access_token?: string };
          headers.Authorization = `Bearer ${body.token ?? body.access_token ?? ''}`;
        } else {
          throw new Error(
            `registry ${host} needs credentials; set registry-username and registry-password, or log in first`,
          );
        }
        response = await bounded(host, () =>
          fetch(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(timeoutMs) }),
        );
      }
      if (response.status === 404) return undefined;
      if (!response.ok) {
        throw new RegistryError(
          `registry ${host} answered HTTP ${response.status} for ${path}:${reference}`,
          response.status >= 500 || response.status === 429,
        );
      }
      const digest = response.headers.get('docker-content-digest');
      if (!digest) throw new Error(`registry ${host} sent no Docker-Content-Digest for ${path}:${reference}`);
      if (!DIGEST.test(digest)) {
        throw new Error(
          `registry ${host} sent a Docker-Content-Digest that is not sha256:<64 hex> for ${path}:${reference}`,
        );
      }
      return digest;
    },
  };
}
