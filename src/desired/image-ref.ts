/**
 * Image references as Docker reads them: `[HOST/]PATH[:TAG][@DIGEST]`. The one place that knows Docker's host rule,
 * so that the registry asked for a digest, the `docker login` host, the inputs and the containers matched in a pod
 * template all agree on what a reference names.
 */

/** Docker Hub as Docker names it in references and logins. */
export const DOCKER_HUB = 'docker.io';
/** Docker Hub's older name, which Docker reads as docker.io. */
const DOCKER_HUB_LEGACY = 'index.docker.io';
/** Where Docker Hub's registry API answers. */
const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';

/** A repository as the inputs accept it: lower case, components joined by `.`, `_`, `:`, `/` or `-`. */
export const REPOSITORY = /^[a-z0-9]+([._:/-][a-z0-9]+)*$/;
/** A tag as Docker accepts it. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** A manifest digest as kube-ship deploys it and registries must send it. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface ImageReference {
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * An image reference split into repository, tag and digest (`ghcr.io/acme/web:1.2@sha256:...`). A `:` is a tag only
 * after the last `/`, so the port of `localhost:5000/web` stays in the repository.
 */
export function splitReference(reference: string): ImageReference {
  const at = reference.indexOf('@');
  const name = at >= 0 ? reference.slice(0, at) : reference;
  const digest = at >= 0 ? reference.slice(at + 1) : undefined;
  const colon = name.lastIndexOf(':');
  const hasTag = colon > name.lastIndexOf('/');
  return {
    repository: hasTag ? name.slice(0, colon) : name,
    ...(hasTag ? { tag: name.slice(colon + 1) } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** The reference `splitReference` splits: `repository[:tag][@digest]`. */
export function formatReference({ repository, tag, digest }: ImageReference): string {
  return `${repository}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
}

export interface RepositoryParts {
  /** Host as Docker names it (docker.io for Docker Hub). */
  host: string;
  /** Host to send requests to. */
  endpoint: string;
  path: string;
}

/**
 * Splits `ghcr.io/acme/web` into host and path by Docker's rule: the first component is a registry host when more
 * follow and it has a `.` or a `:` or is `localhost`; otherwise the host is Docker Hub, where a single name is an
 * official image under `library/` (and index.docker.io is Docker Hub's older name).
 */
export function splitRepository(repository: string): RepositoryParts {
  const first = repository.split('/')[0] ?? '';
  const hasHost = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = !hasHost || first === DOCKER_HUB_LEGACY ? DOCKER_HUB : first;
  let path = hasHost ? repository.slice(first.length + 1) : repository;
  if (host === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  return { host, endpoint: host === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : host, path };
}

/**
 * The repository part of an image reference: without tag and digest, with Docker Hub's implicit
 * `docker.io/library/` made explicit and in lower case, so that `nginx`, `library/nginx` and
 * `docker.io/library/nginx` compare equal.
 */
export function imageRepository(reference: string): string {
  const { host, path } = splitRepository(splitReference(reference.trim()).repository);
  return `${host}/${path}`.toLowerCase();
}
