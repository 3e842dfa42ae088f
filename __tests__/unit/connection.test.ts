/**
 * One connection for every request of a run: the real adapter against a small TLS API server on loopback that speaks
 * HTTP/2 (as the API server does) and HTTP/1.1, counting the TLS connections it accepts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientConfig } from '../../src/cluster/client-config.js';
import { createKube } from '../../src/cluster/kube-client.js';
import type { Kube, WatchScope } from '../../src/cluster/kube.js';

let tls: { key: Buffer; cert: Buffer };
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube-ship-connection-'));
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
      ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  );
  tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'ns', resourceVersion: '5' },
  spec: { replicas: 1, selector: {}, template: {} },
};

/** Returns true when it took the request (answered it, or leaves it unanswered). */
type Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => boolean;

/** Answers every GET with the Deployment (or a list of it), watches stay open; `handler` first. */
async function apiServer(handler: Handler = () => false, { http1Only = false } = {}) {
  let connections = 0;
  const protocols: string[] = [];
  const answer = (req: Http2ServerRequest | IncomingMessage, response: Http2ServerResponse | ServerResponse): void => {
    protocols.push(req.httpVersion);
    if ('stream' in req && handler(req, response as Http2ServerResponse)) return;
    const res = response as ServerResponse; // the methods used here are the same on both
    res.setHeader('content-type', 'application/json');
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200);
      res.write('');
      return;
    }
    const listed = /\/(deployments|replicasets|pods)$/.test(url.pathname);
    res.end(JSON.stringify(listed ? { metadata: { resourceVersion: '5' }, items: [deployment] } : deployment));
  };
  const server = http1Only ? createServer(tls, answer) : createSecureServer({ ...tls, allowHTTP1: true }, answer);
  server.on('secureConnection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = new ClientConfig();
  config.loadFromClusterAndUser(
    {
      name: 'test',
      server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      caData: tls.cert.toString('base64'),
      skipTLSVerify: false,
    },
    { name: 'test', token: 'secret-token' },
  );
  return {
    config,
    connections: () => connections,
    protocols,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

const ref = { kind: 'deployment' as const, namespace: 'ns', name: 'web' };
const scope: WatchScope = { ...ref, selector: 'app=web' };
/** Five requests at once, as preflight sends them. */
const preflight = (kube: Kube) => Promise.all(Array.from({ length: 5 }, () => kube.getWorkload(ref)));

describe('one connection for every request', () => {
  it('sends requests started all at once, then watches, over one HTTP/2 connection', async () => {
    const server = await apiServer();
    close = server.close;
    const kube = createKube(server.config, { streamingLists: false, leanWatch: false }); // lists, then watches, in full
    await preflight(kube);
    const stop = new AbortController();
    let seen = 0;
    const watching = kube.observe(scope, () => (seen += 1), stop.signal);
    // 5 requests, 3 lists, 3 watches; then 5 more while the watches are open.
    for (let i = 0; i < 200 && server.protocols.length < 11; i += 1) await new Promise((r) => setTimeout(r, 10));
    await preflight(kube);
    stop.abort();
    await watching;
    expect(seen).toBeGreaterThan(0);
    expect(server.protocols).toEqual(Array<string>(16).fill('2.0'));
    expect(server.connections()).toBe(1);
  });

  it('reuses kept-alive connections with a server that speaks HTTP/1.1 only', async () => {
    const server = await apiServer(undefined, { http1Only: true });
    close = server.close;
    const kube = createKube(server.config);
    await preflight(kube);
    const first = server.connections();
    await preflight(kube);
    await preflight(kube);
    expect(server.protocols).toEqual(Array<string>(15).fill('1.1'));
    // A connection per request at once (HTTP/1.1 has no streams), but reused after: not 15 connections for 15.
    expect(first).toBeLessThanOrEqual(5);
    expect(server.connections()).toBeLessThanOrEqual(first + 1);
  });

  it("goes through the cluster's proxy-url (HTTP CONNECT), TLS to the API server inside the tunnel", async () => {
    const server = await apiServer();
    close = server.close;
    const tunnels: string[] = [];
    const open = new Set<Socket>();
    const proxy = createHttpServer();
    proxy.on('connect', (req: IncomingMessage, client: Socket) => {
      tunnels.push(req.url ?? '');
      open.add(client);
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const cluster = server.config.getCurrentCluster();
    const config = new ClientConfig();
    config.loadFromClusterAndUser(
      { ...cluster!, proxyUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` },
      { name: 'test', token: 'secret-token' },
    );
    try {
      await preflight(createKube(config));
      expect(tunnels).toEqual([cluster!.server.replace('https://', '')]);
      expect(server.protocols).toEqual(Array<string>(5).fill('2.0'));
    } finally {
      for (const socket of open) socket.destroy(); // a tunnel is no longer the server's to close
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('dials a new connection after a request got no answer in time, and the next request is answered on it', async () => {
    // The first connection stops answering after its first request (as a dead one would); a new one is answered.
    const dead = new WeakSet<object>();
    const server = await apiServer((req) => {
      const session = req.stream.session;
      if (session === undefined) return false;
      if (dead.has(session)) return true;
      dead.add(session);
      return false;
    });
    close = server.close;
    const kube = createKube(server.config, { requestTimeoutMs: 200 });
    await kube.getWorkload(ref);
    await expect(kube.getWorkload(ref)).rejects.toMatchObject({ status: 0 });
    await expect(kube.getWorkload(ref)).resolves.toMatchObject({ metadata: { name: 'web' } });
    expect(server.connections()).toBe(2);
  });
});
