/**
 * A small API server on loopback (plain HTTP/1.1) for the real adapter's tests: each request goes to the test's
 * handler with its parsed URL, and the adapter made for it reaches it with a token.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientConfig } from '../../src/cluster/client-config.js';
import { createKube, type KubeOptions } from '../../src/cluster/kube-client.js';
import type { Kube } from '../../src/cluster/kube.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export interface LoopbackApi {
  kube: Kube;
  /** Closes every connection (open watches included) and the server. */
  close(): Promise<void>;
}

/**
 * Answers with `handler` (JSON unless it says otherwise); `options` go to createKube. A server of these tests lists,
 * then watches, unless `streamingLists` says otherwise (streaming-list.test.ts); a Deployment watched alone is watched
 * in full unless `leanWatch` says otherwise (lean-watch.test.ts).
 */
export async function loopbackApi(handler: Handler, options: KubeOptions = {}): Promise<LoopbackApi> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    handler(req, res, new URL(req.url ?? '/', 'http://127.0.0.1'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = new ClientConfig();
  config.loadFromClusterAndUser(
    { name: 'test', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    { name: 'test', token: 'secret-token' },
  );
  return {
    kube: createKube(config, { streamingLists: false, leanWatch: false, ...options }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
