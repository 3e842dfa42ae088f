import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkRealm,
  createRegistry,
  dockerConfigAuth,
  MANIFEST_ACCEPT,
  parseChallenge,
  RegistryError,
  registryUrl,
  withRetries,
  type Registry,
} from '../../src/image/registry.js';

const DIGEST_V1 = `sha256:${'1'.repeat(64)}`;

describe('registry helpers', () => {
  it('uses plain HTTP for loopback only', () => {
    expect(registryUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(registryUrl('localhost:5000')).toBe('http://localhost:5000');
    expect(registryUrl('ghcr.io')).toBe('https://ghcr.io');
  });

  it('reads auths from a docker config', () => {
    const config = JSON.stringify({
      auths: { '127.0.0.1:5001': { auth: 'dTpw' }, 'https://index.docker.io/v1/': { auth: 'aHViOnA=' } },
    });
    expect(dockerConfigAuth(config, '127.0.0.1:5001')).toBe('dTpw');
    expect(dockerConfigAuth(config, 'docker.io')).toBe('aHViOnA=');
    expect(dockerConfigAuth(config, 'ghcr.io')).toBeUndefined();
    expect(dockerConfigAuth('not json', 'ghcr.io')).toBeUndefined();
  });

  it('parses a Bearer challenge', () => {
    expect(
      parseChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/web:pull"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:acme/web:pull' },
    });
  });
});

// A tiny registry on loopback that asks for a Bearer token, as ghcr.io and Docker Hub do.
describe('createRegistry against a token-auth registry', () => {
  const seen: { accept?: string; authorization?: string }[] = [];
  let port = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/token')) {
      const ok = req.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'T' }));
      return;
    }
    seen.push({ accept: req.headers.accept, authorization: req.headers.authorization });
    if (req.headers.authorization !== 'Bearer T') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test"` }).end();
      return;
    }
    if (req.url === '/v2/acme/web/manifests/v1') res.writeHead(200, { 'docker-content-digest': DIGEST_V1 }).end();
    else if (req.url === '/v2/acme/web/manifests/forged')
      res.writeHead(200, { 'docker-content-digest': 'sha256:abc' }).end();
    else res.writeHead(404).end();
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('gets a token with the credentials and reads the digest, sending the Docker v2 Accept types', async () => {
    const registry = createRegistry(Buffer.from('u:p').toString('base64'));
    expect(await registry.manifestDigest(`127.0.0.1:${port}/acme/web`, 'v1')).toBe(DIGEST_V1);
    await expect(registry.manifestDigest(`127.0.0.1:${port}/acme/web`, 'forged')).rejects.toThrow(
      'sent a Docker-Content-Digest that is not sha256:<64 hex>',
    );
    expect(await registry.manifestDigest(`127.0.0.1:${port}/acme/web`, 'missing')).toBeUndefined();
    expect(seen[0]?.accept).toBe(MANIFEST_ACCEPT);
    expect(seen.at(-1)?.authorization).toBe('Bearer T');
  });

  it('says the credentials were refused', async () => {
    const registry = createRegistry(Buffer.from('u:wrong').toString('base64'));
    await expect(registry.manifestDigest(`127.0.0.1:${port}/acme/web`, 'v1')).rejects.toThrow(
      `registry 127.0.0.1:${port} refused a pull token (HTTP 401); check the registry login`,
    );
  });
});

describe('checkRealm', () => {
  it.each([
    ['https://ghcr.io/token', 'ghcr.io'],
    ['https://auth.docker.io/token', 'registry-1.docker.io'],
    ['https://gitlab.example.com/jwt/auth', 'registry.example.com'],
    ['http://127.0.0.1:5001/token', '127.0.0.1:5001'],
  ])('accepts %s for %s', (realm, endpoint) => {
    expect(checkRealm(realm, endpoint).href).toBe(realm);
  });

  it.each([
    ['http://ghcr.io/token', 'ghcr.io', 'is not HTTPS'],
    ['https://collector.evil.example/token', 'ghcr.io', 'is not its own host or a known token host'],
    ['https://example.com/token', 'registry.example.com', 'is not its own host or a known token host'],
    ['file:///etc/passwd', 'ghcr.io', 'is not HTTPS'],
  ])('refuses %s for %s', (realm, endpoint, why) => {
    expect(() => checkRealm(realm, endpoint)).toThrow(why);
  });
});

describe('a registry that does not answer', () => {
  it('is given up on after the limit, naming the registry', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const started = Date.now();
    await expect(createRegistry(undefined, {}, 30).manifestDigest(`127.0.0.1:${port}/acme/web`, 'v1')).rejects.toThrow(
      `registry 127.0.0.1:${port} did not answer in time; check that it is up and reachable from the runner`,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    silent.closeAllConnections();
    silent.close();
  });
});

describe('the digest check asked again while the registry blinks', () => {
  /** A registry that fails with each of `failures` in turn, then serves DIGEST_V1; and a clock that sleeps. */
  function blinking(failures: Error[]) {
    let clock = 0;
    const asked: number[] = [];
    const waits: number[] = [];
    const registry: Registry = {
      manifestDigest: () => {
        asked.push(clock);
        const failure = failures.shift();
        return failure ? Promise.reject(failure) : Promise.resolve(DIGEST_V1);
      },
    };
    const retries = (budgetMs: number) =>
      withRetries(registry, {
        budgetMs,
        now: () => clock,
        sleep: (ms) => {
          clock += ms;
          return Promise.resolve();
        },
        onRetry: (_message, waitMs) => waits.push(waitMs),
      });
    return { retries, asked, waits };
  }
  const refused = () => new RegistryError('registry r could not be reached', true);

  it('rides out refused connections and 5xx, backing off 0.5 s doubling to 4 s', async () => {
    const { retries, asked, waits } = blinking([refused(), refused(), refused(), refused(), refused()]);
    expect(await retries(20_000).manifestDigest('r/web', 'v1')).toBe(DIGEST_V1);
    expect(waits).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(asked).toEqual([0, 500, 1500, 3500, 7500, 11_500]);
  });

  it('gives up with the last failure once the budget is spent, the last wait cut to what is left', async () => {
    const { retries, waits } = blinking(Array.from({ length: 20 }, refused));
    await expect(retries(5000).manifestDigest('r/web', 'v1')).rejects.toThrow('could not be reached');
    expect(waits).toEqual([500, 1000, 2000, 1500]);
  });

  it.each([
    ['a request that got no answer in time', new RegistryError('registry r did not answer in time', false)],
    ['a failure that is not the registry', new Error('boom')],
  ])('does not ask again after %s', async (_name, failure) => {
    const { retries, asked } = blinking([failure]);
    await expect(retries(20_000).manifestDigest('r/web', 'v1')).rejects.toThrow(failure.message);
    expect(asked).toHaveLength(1);
  });
});

describe('which registry failures are transient', () => {
  let status = 200;
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'docker-content-digest': DIGEST_V1 }).end();
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    [503, true],
    [502, true],
    [429, true],
    [403, false],
    [400, false],
  ])('HTTP %i: transient %s', async (code, transient) => {
    status = code;
    const failure = await createRegistry(undefined, {})
      .manifestDigest(`127.0.0.1:${port}/acme/web`, 'v1')
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RegistryError);
    expect((failure as RegistryError).transient).toBe(transient);
  });

  it('a refused connection is transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freed = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const failure = await createRegistry(undefined, {})
      .manifestDigest(`127.0.0.1:${freed}/acme/web`, 'v1')
      .catch((error: unknown) => error);
    expect((failure as RegistryError).transient).toBe(true);
    expect((failure as Error).message).toContain('could not be reached');
  });
});
