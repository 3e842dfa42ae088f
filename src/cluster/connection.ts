/**
 * One connection to the API server for every request of a run, watches included. client-node makes a new HTTP
 * dispatcher (a new TCP and TLS connection) for every request it sends; here the kubeconfig's one dispatcher is made
 * once and kept, so requests reuse its kept-alive connection. The API server speaks HTTP/2, which carries every
 * request and every open watch as streams of that one connection; a server that speaks HTTP/1.1 only still gets its
 * connections reused (one per open watch).
 *
 * While the first connection is being made, undici's pool holds the requests sent meanwhile until it knows the
 * protocol, so a burst of requests at the start (preflight) waits for that one connection instead of dialling its own.
 * A connection can die without a word (a peer or a middlebox that drops everything, where HTTP/2 would keep sending
 * every new request into it): `redial` sends the next requests on a new dispatcher and closes the old one when its
 * requests have ended. The caller calls it when a request got no answer in time.
 */
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

/** What is used of client-node's dispatcher (undici's Agent): closing it. */
interface Dispatcher {
  close(): Promise<void>;
}

/** KubeConfig's own (private) method that this module takes over on one instance. */
interface Dispatching {
  createDispatcher(cluster: unknown, agentOptions: Record<string, unknown>): Dispatcher | undefined;
}

export interface Connection {
  /**
   * The next request dials a new connection; the old one is closed once the requests still on it have ended (each
   * ends by its own time limit if the connection is dead).
   */
  redial(): void;
}

/**
 * What the dispatcher is made of: the server and the TLS material. A credential plugin that issues a new client
 * certificate during the run gets a new dispatcher; everything else keeps the one it has.
 */
function fingerprint(cluster: unknown, agentOptions: Record<string, unknown>): string {
  const hash = createHash('sha256');
  const { server, proxyUrl, skipTLSVerify } = (cluster ?? {}) as Record<string, unknown>;
  hash.update(JSON.stringify([server, proxyUrl, skipTLSVerify]));
  for (const name of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
    const value = agentOptions[name];
    hash.update(`\0${name}=`);
    if (value !== undefined) hash.update(Buffer.isBuffer(value) ? value : JSON.stringify(value));
  }
  return hash.digest('hex');
}

/** Makes every request sent with `config` share one dispatcher (see the file's comment). */
export function shareConnection(config: KubeConfig): Connection {
  const shared = connections.get(config);
  if (shared !== undefined) return shared;
  const own = config as unknown as Dispatching;
  const make = own.createDispatcher.bind(config);
  let current: { key: string; dispatcher: Dispatcher | undefined } | undefined;

  own.createDispatcher = (cluster, agentOptions) => {
    const key = fingerprint(cluster, agentOptions);
    if (current?.key !== key) {
      const replaced = current?.dispatcher;
      current = { key, dispatcher: make(cluster, agentOptions) };
      void replaced?.close().catch(() => undefined);
    }
    return current.dispatcher;
  };

  const connection: Connection = {
    redial() {
      const dropped = current?.dispatcher;
      current = undefined;
      void dropped?.close().catch(() => undefined);
    },
  };
  connections.set(config, connection);
  return connection;
}

/** Each kubeconfig's connection: a second client of the same kubeconfig shares it too. */
const connections = new WeakMap<KubeConfig, Connection>();
