import { describe, expect, it } from 'vitest';
import {
  DIGEST,
  formatReference,
  imageRepository,
  REPOSITORY,
  splitReference,
  splitRepository,
  TAG,
  type ImageReference,
  type RepositoryParts,
} from '../../src/desired/image-ref.js';

const D = `sha256:${'f'.repeat(64)}`;

describe('splitReference', () => {
  it.each<[string, ImageReference]>([
    ['nginx', { repository: 'nginx' }],
    ['nginx:1.27', { repository: 'nginx', tag: '1.27' }],
    ['docker.io/library/nginx', { repository: 'docker.io/library/nginx' }],
    ['localhost:5000', { repository: 'localhost', tag: '5000' }],
    ['localhost:5000/web', { repository: 'localhost:5000/web' }],
    ['localhost:5000/web:v1', { repository: 'localhost:5000/web', tag: 'v1' }],
    ['127.0.0.1:5000/x', { repository: '127.0.0.1:5000/x' }],
    [`127.0.0.1:5000/x@${D}`, { repository: '127.0.0.1:5000/x', digest: D }],
    ['ghcr.io/a/b:tag', { repository: 'ghcr.io/a/b', tag: 'tag' }],
    [`ghcr.io/a/b@${D}`, { repository: 'ghcr.io/a/b', digest: D }],
    [`ghcr.io/a/b:tag@${D}`, { repository: 'ghcr.io/a/b', tag: 'tag', digest: D }],
    ['ghcr.io/a/b:', { repository: 'ghcr.io/a/b', tag: '' }],
    ['ghcr.io/a/b@', { repository: 'ghcr.io/a/b', digest: '' }],
  ])('%s', (reference, parts) => {
    expect(splitReference(reference)).toStrictEqual(parts);
    expect(formatReference(parts)).toBe(reference);
  });
});

describe('formatReference', () => {
  it.each<[ImageReference, string]>([
    [{ repository: 'ghcr.io/a/b' }, 'ghcr.io/a/b'],
    [{ repository: 'localhost:5000/web', tag: 'v1' }, 'localhost:5000/web:v1'],
    [{ repository: 'ghcr.io/a/b', digest: D }, `ghcr.io/a/b@${D}`],
    [{ repository: 'ghcr.io/a/b', tag: 'tag', digest: D }, `ghcr.io/a/b:tag@${D}`],
  ])('%o -> %s', (parts, reference) => expect(formatReference(parts)).toBe(reference));
});

describe("splitRepository: Docker's host rule", () => {
  const hub = (path: string): RepositoryParts => ({ host: 'docker.io', endpoint: 'registry-1.docker.io', path });
  const own = (host: string, path: string): RepositoryParts => ({ host, endpoint: host, path });
  it.each<[string, RepositoryParts]>([
    ['nginx', hub('library/nginx')],
    ['acme/web', hub('acme/web')],
    ['library/nginx', hub('library/nginx')],
    ['docker.io/library/nginx', hub('library/nginx')],
    ['docker.io/nginx', hub('library/nginx')],
    ['index.docker.io/acme/web', hub('acme/web')],
    ['index.docker.io/nginx', hub('library/nginx')],
    ['ghcr.io/acme/web', own('ghcr.io', 'acme/web')],
    ['registry:5000/web', own('registry:5000', 'web')],
    ['localhost/web', own('localhost', 'web')],
    ['localhost:5000/web', own('localhost:5000', 'web')],
    ['127.0.0.1:5000/x', own('127.0.0.1:5000', 'x')],
    ['127.0.0.1:5000/demo/web', own('127.0.0.1:5000', 'demo/web')],
    ['localhost', hub('library/localhost')],
    ['acme.io', hub('library/acme.io')],
    ['Localhost/web', hub('Localhost/web')],
  ])('%s', (repository, parts) => expect(splitRepository(repository)).toStrictEqual(parts));
});

describe('imageRepository', () => {
  it.each([
    ['nginx', 'docker.io/library/nginx'],
    ['nginx:1.27', 'docker.io/library/nginx'],
    [' nginx:1.27 ', 'docker.io/library/nginx'],
    ['library/nginx', 'docker.io/library/nginx'],
    ['docker.io/nginx', 'docker.io/library/nginx'],
    [`docker.io/library/nginx@${D}`, 'docker.io/library/nginx'],
    ['index.docker.io/acme/web', 'docker.io/acme/web'],
    [`127.0.0.1:5000/web:tag@${D}`, '127.0.0.1:5000/web'],
    ['localhost:5000/web', 'localhost:5000/web'],
    ['localhost/web', 'localhost/web'],
    [`ghcr.io/a/b:tag@${D}`, 'ghcr.io/a/b'],
    ['GHCR.io/acme/web:1', 'ghcr.io/acme/web'],
  ])('%s -> %s', (reference, repository) => expect(imageRepository(reference)).toBe(repository));
});

describe('what the inputs accept', () => {
  it.each([
    ['ghcr.io/acme/web', true],
    ['localhost:5000/web', true],
    ['127.0.0.1:5000/x', true],
    ['my_org/web-app.v2', true],
    ['nginx', true],
    ['ghcr.io/Acme/Web', false],
    ['GHCR.io/acme/web', false],
    ['ghcr.io//web', false],
    ['/web', false],
    ['web/', false],
    ['ghcr.io/acme/web@x', false],
  ])('repository %s: %s', (repository, valid) => expect(REPOSITORY.test(repository)).toBe(valid));

  it.each([
    ['v1.2.3', true],
    ['Latest_2', true],
    ['_x', true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['.x', false],
    ['-x', false],
    ['bad tag!', false],
    ['a:b', false],
    ['', false],
  ])('tag %s: %s', (tag, valid) => expect(TAG.test(tag)).toBe(valid));

  it.each([
    [D, true],
    [`sha256:${'a'.repeat(63)}`, false],
    [`${D}\n`, false],
    [`${D}0`, false],
    [`sha256:${'A'.repeat(64)}`, false],
    [`x${D}`, false],
    ['sha512:abc', false],
  ])('digest %s: %s', (digest, valid) => expect(DIGEST.test(digest)).toBe(valid));
});
