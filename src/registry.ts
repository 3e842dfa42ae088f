/**
 * Reading digests from an OCI / Docker registry: `HEAD /v2/<repo>/manifests/<ref>` and its
 * `Docker-Content-Digest`, with basic auth or the Bearer token flow. The Accept header always lists the Docker v2
 * and list/index types: with only the OCI type, distribution 2.8 converts to schema1 and answers another digest.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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

export interface RepositoryParts {
  /** Host as Docker names it (docker.io for Docker Hub). */
  host: string;
  /** Host to send requests to. */
  endpoint: string;
  path: string;
}

/** Splits `ghcr.io/acme/web` into host and path, with Docker Hub's defaults. */
export function splitRepository(repository: string): RepositoryParts {
  const first = repository.split('/')[0] ?? '';
  const hasHost = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasHost ? first : 'docker.io';
  let path = hasHost ? repository.slice(first.length + 1) : repository;
  if (host === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return { host, endpoint: host === 'docker.io' ? 'registry-1.docker.io' : host, path };
}

/** Plain HTTP only for loopback registries (as the Docker engine treats 127.0.0.0/8 as insecure by default). */
export function registryUrl(endpoint: string): string {
  const hostname = endpoint.replace(/:\d+$/, '');
  const loopback = hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]';
  return `${loopback ? 'http' : 'https'}://${endpoint}`;
}

/** Credentials for a registry host from a Docker config file (`auths[host].auth`), if any. */
export function dockerConfigAuth(configJson: string, host: string): string | undefined {
  try {
    const config = JSON.parse(configJson) as { auths?: Record<string, { auth?: string }> };
    const keys =
      host === 'docker.io'
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

/** Parses `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1] ?? ''] = m[2] ?? '';
  return { scheme, params };
}

/**
 * A registry client for one set of credentials: `basic` is base64 `user:password` (from the inputs), else the
 * Docker config is read for the host.
 */
export function createRegistry(basic: string | undefined, env: NodeJS.ProcessEnv = process.env): Registry {
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
      let response = await fetch(url, { method: 'HEAD', headers });
      if (response.status === 401) {
        const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '');
        if (challenge.scheme === 'basic' && credentials) {
          headers.Authorization = `Basic ${credentials}`;
        } else if (challenge.scheme === 'bearer' && challenge.params.realm) {
          const tokenUrl = new URL(challenge.params.realm);
          if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
          tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${path}:pull`);
          const tokenResponse = await fetch(
            tokenUrl,
            credentials ? { headers: { Authorization: `Basic ${credentials}` } } : {},
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
        response = await fetch(url, { method: 'HEAD', headers });
      }
      if (response.status === 404) return undefined;
      if (!response.ok) throw new Error(`registry ${host} answered HTTP ${response.status} for ${path}:${reference}`);
      const digest = response.headers.get('docker-content-digest');
      if (!digest) throw new Error(`registry ${host} sent no Docker-Content-Digest for ${path}:${reference}`);
      return digest;
    },
  };
}
