/**
 * A TCP relay on 127.0.0.1 that counts bytes: put between one client and the API server (TLS passes through
 * untouched: the server's certificate is valid for 127.0.0.1 whatever the port), it tells how many bytes the client
 * read from the API server and wrote to it, all connections told. Used by the bench's P8 "crowded namespace" case.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Relay {
  port: number;
  /** Bytes the API server sent to the client (what the client read), over all connections so far. */
  down(): number;
  /** Bytes the client sent to the API server. */
  up(): number;
  connections(): number;
  /** When the first connection came (the bench's clock: performance.timeOrigin + performance.now()), NaN before. */
  firstAt(): number;
  /** A copy of `kubeconfig` (YAML) whose `server:` points at this relay. */
  kubeconfig(kubeconfig: string): string;
  close(): Promise<void>;
}

/** Starts a relay to `target` (e.g. `https://127.0.0.1:6443`, loopback only). */
export async function startRelay(target: string): Promise<Relay> {
  const url = new URL(target);
  const host = url.hostname;
  const port = Number(url.port || 443);
  if (!/^127\./.test(host)) throw new Error(`the relay forwards to loopback only, not ${host}`);
  let down = 0;
  let up = 0;
  let connections = 0;
  let firstAt = NaN;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    connections += 1;
    if (connections === 1) firstAt = performance.timeOrigin + performance.now();
    const upstream = connect({ host, port });
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => (up += d.length));
    upstream.on('data', (d: Buffer) => (down += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const listening = typeof address === 'object' && address ? address.port : 0;
  return {
    port: listening,
    down: () => down,
    up: () => up,
    connections: () => connections,
    firstAt: () => firstAt,
    kubeconfig: (kc) => kc.replace(/server: https:\/\/[^\s/]+/, `server: https://127.0.0.1:${listening}`),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
