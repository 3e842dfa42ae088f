/**
 * One connection to the API server for every request of a run, watches included. The API server speaks HTTP/2 over
 * TLS: every request and every open watch is a stream of that one connection (node:http2, no HTTP library loaded).
 * A server that offers only HTTP/1.1 (a proxy in front of it, plain http://) gets kept-alive connections, reused.
 *
 * The first connection is dialled once and offers both protocols; requests sent meanwhile wait for it instead of
 * dialling their own. A connection can die without a word (a peer or a middlebox that drops everything, where HTTP/2
 * would keep sending every new request into it): `redial` sends the next requests on a new connection and closes the
 * old one when its streams have ended. The caller calls it when a request got no answer in time. A credential plugin
 * that issues a new client certificate during the run gets a new connection too.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import * as tls from 'node:tls';
import type { ClientConfig, TlsMaterial } from './client-config.js';

export interface HttpRequest {
  method: string;
  /** Path and query, already encoded. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as it arrives (a watch's never ends until it is closed). */
  body: Readable;
}

export interface Transport {
  /** The server, as the kubeconfig names it. */
  readonly server: string;
  send(request: HttpRequest): Promise<HttpResponse>;
  /** The next request dials a new connection; the old one is closed once the requests still on it have ended. */
  redial(): void;
}

/** A dialled connection: HTTP/2 (a session for every stream), or HTTP/1.1 (an agent of kept-alive sockets). */
type Line =
  | { protocol: 'h2'; key: string; session: http2.ClientHttp2Session; active: number }
  | { protocol: 'http/1.1'; key: string; agent: http.Agent };

/**
 * What a connection is made of: the TLS material, by its fingerprint (a new certificate means a new connection), taken
 * once per material object (client-config hands on the kubeconfig's own material as one object).
 */
const fingerprints = new WeakMap<TlsMaterial, string>();

function fingerprint(material: TlsMaterial): string {
  const known = fingerprints.get(material);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  for (const name of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) {
    const value = material[name];
    hash.update(`\0${name}=`);
    if (value !== undefined) hash.update(Buffer.isBuffer(value) ? value : JSON.stringify(value));
  }
  const key = hash.digest('hex');
  fingerprints.set(material, key);
  return key;
}

/** An HTTP/1.1 agent that hands out the socket the protocol was probed on first, then dials its own. */
class ProbedAgent extends https.Agent {
  constructor(
    options: https.AgentOptions,
    private spare: tls.TLSSocket | undefined,
    private readonly dial: (cb: (err: Error | null, socket?: net.Socket) => void) => void,
  ) {
    super(options);
  }

  override createConnection(
    _options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | undefined {
    const spare = this.spare;
    this.spare = undefined;
    if (spare !== undefined && !spare.destroyed) return spare;
    this.dial((err, socket) => callback?.(err, socket as Duplex));
    return undefined;
  }
}

/** Where the API server is, as the kubeconfig's cluster says: its address, and the proxy in between, if any. */
interface Endpoint {
  server: string;
  plain: boolean;
  host: string;
  port: number;
  /** The server's path prefix (a server behind a path-routing proxy), prepended to every request's path. */
  base: string;
  proxy: string | undefined;
}

function endpointOf(config: ClientConfig): Endpoint {
  const server = config.getCurrentCluster()?.server ?? '';
  const url = new URL(server);
  const plain = url.protocol === 'http:';
  return {
    server,
    plain,
    port: Number(url.port || (plain ? 80 : 443)),
    host: url.hostname.replace(/^\[|\]$/g, ''),
    base: url.pathname.replace(/\/$/, ''),
    proxy: config.getCurrentCluster()?.proxyUrl,
  };
}

/** A TLS connection to the server, directly or through the proxy; it fails if the peer hangs up. */
async function secureSocket(to: Endpoint, material: TlsMaterial, protocols: string[]): Promise<tls.TLSSocket> {
  const socket = to.proxy ? await tunnel(to.proxy, to.host, to.port) : undefined;
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    if (socket?.destroyed) return reject(new Error('the connection was closed before TLS started'));
    const secure = tls.connect({
      ...(socket ? { socket } : { port: to.port }),
      host: to.host, // what the certificate is checked against (tls-server-name, when set, instead)
      ca: material.ca,
      cert: material.cert,
      key: material.key,
      rejectUnauthorized: material.rejectUnauthorized,
      servername: material.servername ?? (net.isIP(to.host) ? undefined : to.host),
      ALPNProtocols: protocols,
    });
    const closed = (): void => reject(new Error('the connection was closed during the TLS handshake'));
    secure.once('secureConnect', () => {
      secure.removeListener('error', reject);
      secure.removeListener('close', closed);
      resolve(secure);
    });
    secure.once('error', reject);
    secure.once('close', closed);
  });
}

/** An HTTP/2 session on `socket`, which ends every stream when the peer hangs up and is idle unreferenced. */
function h2Line(to: Endpoint, socket: tls.TLSSocket, key: string): Line {
  const session = http2.connect(to.server, { createConnection: () => socket });
  session.on('error', () => undefined); // each stream gets the error; the session is then dropped
  // A peer that hangs up (a reset the TLS layer reads as an end) ends every stream now, not at its time limit.
  const hungUp = (): void => void session.destroy(new Error('the API server closed the connection'));
  socket.once('end', hungUp);
  socket.once('close', hungUp);
  session.unref(); // an idle connection does not keep the process alive; a stream in flight does (sendH2)
  return { protocol: 'h2', key, session, active: 0 };
}

/** A new connection made of `material`: HTTP/2 where the server speaks it, else kept-alive HTTP/1.1. */
async function dialLine(to: Endpoint, material: TlsMaterial, key: string): Promise<Line> {
  if (to.plain) {
    const agent = new http.Agent({ keepAlive: true });
    if (to.proxy) (agent as unknown as { createConnection: unknown }).createConnection = viaProxy(to);
    return { protocol: 'http/1.1', key, agent };
  }
  const socket = await secureSocket(to, material, ['h2', 'http/1.1']);
  socket.setKeepAlive(true, 30_000);
  if (socket.alpnProtocol === 'h2') return h2Line(to, socket, key);
  const dial = (cb: (err: Error | null, socket?: net.Socket) => void): void => {
    secureSocket(to, material, ['http/1.1']).then(
      (s) => cb(null, s),
      (err: Error) => cb(err),
    );
  };
  socket.on('error', () => undefined); // until a request takes it, an idle socket's reset is no one's failure
  return { protocol: 'http/1.1', key, agent: new ProbedAgent({ keepAlive: true }, socket, dial) };
}

export function openTransport(config: ClientConfig): Transport {
  const to = endpointOf(config);
  let current: Promise<Line> | undefined;

  const drop = (line: Promise<Line>): void => {
    if (current === line) current = undefined;
    void line.then(closeLine, () => undefined);
  };

  /** The connection for `material`: the current one if it is made of it and alive, else a new one. */
  const lineFor = async (material: TlsMaterial): Promise<Line> => {
    const key = fingerprint(material);
    const existing = current;
    if (existing !== undefined) {
      const line = await existing.catch(() => undefined);
      if (line !== undefined && line.key === key && alive(line)) return line;
      if (current === existing) drop(existing);
    }
    if (current === undefined) {
      const dialled = dialLine(to, material, key);
      current = dialled;
      dialled.catch(() => {
        if (current === dialled) current = undefined;
      });
    }
    return current;
  };

  return {
    server: to.server,
    async send(request) {
      const auth = await config.requestAuth();
      const line = await lineFor(auth.tls);
      const sent = { ...request, path: `${to.base}${request.path}`, headers: { ...request.headers, ...auth.headers } };
      return line.protocol === 'h2' ? sendH2(line, sent) : sendH1(line.agent, to, auth.tls, sent);
    },
    redial() {
      if (current !== undefined) drop(current);
    },
  };
}

function alive(line: Line): boolean {
  return line.protocol === 'http/1.1' || !(line.session.closed || line.session.destroyed);
}

/**
 * Closes a connection once the requests on it have ended: an HTTP/2 session ends after its last stream; an HTTP/1.1
 * agent closes its idle sockets now and every other one as its request ends.
 */
function closeLine(line: Line): void {
  if (line.protocol === 'h2') {
    line.session.close();
    return;
  }
  (line.agent as { keepAlive?: boolean }).keepAlive = false;
  for (const sockets of Object.values(line.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/** A TCP tunnel to host:port through an HTTP(S) proxy (CONNECT), or a SOCKS proxy (its client loaded then). */
async function tunnel(proxyUrl: string, host: string, port: number): Promise<net.Socket> {
  const proxy = new URL(proxyUrl);
  if (proxy.protocol.startsWith('socks')) {
    const { SocksClient } = await import('socks');
    const { socket } = await SocksClient.createConnection({
      proxy: {
        host: proxy.hostname,
        port: Number(proxy.port || 1080),
        type: proxy.protocol === 'socks4:' ? 4 : 5,
        userId: decodeURIComponent(proxy.username) || undefined,
        password: decodeURIComponent(proxy.password) || undefined,
      },
      command: 'connect',
      destination: { host, port },
    });
    return socket;
  }
  const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.username) {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['proxy-authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  const request = (proxy.protocol === 'https:' ? https : http).request({
    host: proxy.hostname,
    port: Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80)),
    method: 'CONNECT',
    path: authority,
    headers,
  });
  return new Promise((resolve, reject) => {
    request.once('connect', (response: http.IncomingMessage, socket: net.Socket) => {
      if (response.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`the proxy ${proxy.host} refused the tunnel: HTTP ${response.statusCode}`));
      }
    });
    request.once('error', reject);
    request.end();
  });
}

/** An http.Agent's createConnection that goes through the proxy (a plain http:// server behind one). */
function viaProxy(to: Endpoint) {
  return (_options: unknown, callback: (err: Error | null, socket?: net.Socket) => void): undefined => {
    tunnel(to.proxy ?? '', to.host, to.port).then(
      (s) => callback(null, s),
      (err: Error) => callback(err),
    );
    return undefined;
  };
}

function sendH2(line: Extract<Line, { protocol: 'h2' }>, request: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = line.session.request(
        { ':method': request.method, ':path': request.path, ...request.headers },
        { signal: request.signal, endStream: request.body === undefined },
      );
    } catch (error) {
      reject(error as Error);
      return;
    }
    if (line.active++ === 0) line.session.ref();
    stream.once('close', () => {
      if (--line.active === 0 && !line.session.destroyed) line.session.unref();
    });
    stream.once('error', reject);
    stream.once('response', (headers) => {
      stream.removeListener('error', reject);
      stream.on('error', () => undefined); // a read of the body gets it
      const plainHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(headers)) {
        if (!name.startsWith(':') && value !== undefined) plainHeaders[name] = String(value);
      }
      resolve({ status: Number(headers[':status'] ?? 0), headers: plainHeaders, body: stream });
    });
    if (request.body !== undefined) stream.end(request.body);
  });
}

function sendH1(agent: http.Agent, to: Endpoint, material: TlsMaterial, request: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    const options: https.RequestOptions = {
      host: to.host,
      port: to.port,
      method: request.method,
      path: request.path,
      headers,
      agent,
      signal: request.signal,
      ...(to.plain ? {} : material),
    };
    const req = (to.plain ? http : https).request(options, (response) => {
      response.on('error', () => undefined);
      const plainHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) plainHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      resolve({ status: response.statusCode ?? 0, headers: plainHeaders, body: response });
    });
    req.once('error', reject);
    req.end(request.body);
  });
}

/** The body as text, at most `limit` characters kept (the rest is read and dropped). */
export async function readText(body: Readable, limit = Infinity): Promise<string> {
  let text = '';
  body.setEncoding('utf8');
  for await (const chunk of body as AsyncIterable<string>) {
    if (text.length < limit) text += chunk;
  }
  return text.length > limit ? text.slice(0, limit) : text;
}
