/**
 * The pod app of the test bed: the simulated pods' HTTP servers, all in one process on 127.0.0.1:10260.
 *
 * kube-apiserver's egress selector sends every connection it makes to the cluster (pods and services through its
 * proxies, kubelets for pod logs) as `CONNECT host:port` to this server's unix socket
 * (scripts/stack/apiserver/egress-selector.yaml); the 127.0.0.1 port answers the same.
 * A loopback target (KWOK's kubelet on 127.0.0.1:10250) is piped to; the IP of a Running pod (KWOK's pod CIDR,
 * data that nothing connects to) is answered by this server itself, as that pod; anything else is refused. So this
 * process never dials anything but loopback.
 *
 * A pod's behaviour comes from its image references and its kube-ship.dev/fault annotation, the way the KWOK
 * stages read them (scripts/stack/kwok/pod-stages.yaml): `http500` answers 500, `http503blip` answers 503 for the
 * first 15 s after the pod became Ready (kube-ship.dev/blip-seconds), everything else answers 200 `ok <pod>`.
 * Each Ready pod counts http_requests_total{code} at 10 requests a second as if it had traffic, plus the requests
 * really served; a pod serves its own series on GET /metrics, and GET http://127.0.0.1:10260/metrics has every
 * pod's series with the labels namespace and pod (for a Prometheus scraping with honor_labels). GET /pods lists the
 * pods it knows (namespace, name, IP, phase, deleting), GET /healthz says whether it has listed them yet.
 *
 * Run by Node 24 as it is (types stripped): node server.ts --listen 127.0.0.1:10260 --socket PATH --apiserver URL
 * --ca FILE --cert FILE --key FILE (the admin's client certificate: it lists and watches all pods).
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const SIMULATED_RPS = 10;
const DEFAULT_BLIP_SECONDS = 15;
const DEFAULT_PORT = 8080;
const CODES = ['200', '500', '503'] as const;
type Code = (typeof CODES)[number];

interface PodObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: { containers: { image?: string; ports?: { containerPort: number }[] }[] };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: { state?: { running?: unknown } }[];
  };
}

/** What a simulated pod is and does, and what it has counted so far. */
interface SimulatedPod {
  object: PodObject;
  kind: 'ok' | 'http500' | 'http503blip';
  blipMs: number;
  /** The Ready condition's lastTransitionTime (ms) while Ready is True, else undefined. */
  readySince: number | undefined;
  counts: Record<Code, number>;
  /** Up to when (ms) its Ready time has been counted: the Ready time after it counts from its lastTransitionTime. */
  countedUntil: number;
}

const { values: args } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:10260' },
    socket: { type: 'string' },
    apiserver: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});
const apiserver = new URL(args.apiserver ?? 'https://127.0.0.1:6443');
const tls = { ca: readFileSync(args.ca ?? ''), cert: readFileSync(args.cert ?? ''), key: readFileSync(args.key ?? '') };
const log = (message: string): void => console.log(`${new Date().toISOString()} ${message}`);

// ---- pod behaviour and counters ---------------------------------------------------------------------------

/** The words of each container, as the KWOK stages test them: the image reference, a space, the fault annotation. */
function kindOf(pod: PodObject): SimulatedPod['kind'] {
  const fault = pod.metadata.annotations?.['kube-ship.dev/fault'] ?? '';
  const words = pod.spec.containers.map((c) => `${c.image ?? ''} ${fault}`);
  if (words.some((w) => w.includes('http500'))) return 'http500';
  if (words.some((w) => w.includes('http503blip'))) return 'http503blip';
  return 'ok';
}

function readySinceOf(pod: PodObject): number | undefined {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True' || !ready.lastTransitionTime) return undefined;
  return Date.parse(ready.lastTransitionTime);
}

/** The code the pod answers at `at` (ms). */
function codeAt(pod: SimulatedPod, at: number): Code {
  if (pod.kind === 'http500') return '500';
  if (pod.kind === 'http503blip' && (pod.readySince === undefined || at < pod.readySince + pod.blipMs)) return '503';
  return '200';
}

/** Adds the simulated traffic of a Ready pod from where it was counted until `now`, split at the end of a blip. */
function countUntil(pod: SimulatedPod, now: number): void {
  if (pod.readySince === undefined) return;
  const from = Math.max(pod.countedUntil, pod.readySince);
  const cuts = [from, now];
  const blipEnd = pod.readySince + pod.blipMs;
  if (pod.kind === 'http503blip' && from < blipEnd && blipEnd < now) cuts.splice(1, 0, blipEnd);
  for (let i = 0; i + 1 < cuts.length; i += 1) {
    const [a = 0, b = 0] = [cuts[i], cuts[i + 1]];
    if (b > a) pod.counts[codeAt(pod, a)] += ((b - a) / 1000) * SIMULATED_RPS;
  }
  pod.countedUntil = Math.max(pod.countedUntil, now);
}

function series(pod: SimulatedPod, withPodLabels: boolean): string {
  countUntil(pod, Date.now());
  const { namespace, name } = pod.object.metadata;
  const labels = withPodLabels ? `namespace="${namespace}",pod="${name}",` : '';
  return CODES.map((code) => `http_requests_total{${labels}code="${code}"} ${Math.floor(pod.counts[code])}\n`).join('');
}

const HEADER =
  '# HELP http_requests_total HTTP requests the simulated pod answered, by status code.\n' +
  '# TYPE http_requests_total counter\n';

// ---- the pods, from a watch of all pods ---------------------------------------------------------------------

const pods = new Map<string, SimulatedPod>(); // by uid
let listed = false;

/** Keeps the newest object of each pod: a watch event older than a fresh read is dropped. */
function upsert(object: PodObject): void {
  const now = Date.now();
  const known = pods.get(object.metadata.uid);
  if (known && Number(object.metadata.resourceVersion ?? 0) < Number(known.object.metadata.resourceVersion ?? 0))
    return;
  if (known) countUntil(known, now);
  const readySince = readySinceOf(object);
  const blip = Number(object.metadata.annotations?.['kube-ship.dev/blip-seconds'] ?? DEFAULT_BLIP_SECONDS);
  const pod: SimulatedPod = known ?? {
    object,
    kind: 'ok',
    blipMs: 0,
    readySince,
    counts: { '200': 0, '500': 0, '503': 0 },
    countedUntil: 0,
  };
  pod.object = object;
  pod.kind = kindOf(object);
  pod.blipMs = (Number.isFinite(blip) && blip >= 0 ? blip : DEFAULT_BLIP_SECONDS) * 1000;
  pod.readySince = readySince;
  pods.set(object.metadata.uid, pod);
}

/**
 * The Running pod with this IP whose containers run, or undefined. KWOK hands a deleted pod's IP to a new pod while
 * the old one may still be listed (terminating, or its DELETED event not here yet): the newest pod not being
 * deleted wins.
 */
function podByIP(ip: string): SimulatedPod | undefined {
  const rank = (pod: SimulatedPod): string =>
    `${pod.object.metadata.deletionTimestamp ? 0 : 1} ${pod.object.metadata.creationTimestamp ?? ''}`;
  let best: SimulatedPod | undefined;
  for (const pod of pods.values()) {
    const status = pod.object.status;
    if (status?.podIP !== ip || status.phase !== 'Running') continue;
    if (!(status.containerStatuses ?? []).some((c) => c.state?.running !== undefined)) continue;
    if (!best || rank(pod) > rank(best)) best = pod;
  }
  return best;
}

function openPorts(pod: SimulatedPod): Set<number> {
  const ports = pod.object.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
  return new Set([DEFAULT_PORT, ...ports]);
}

function getJson(path: string, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, apiserver), { ...tls, headers: { accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${path}: HTTP ${res.statusCode}`));
        return;
      }
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          onLine(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      });
      res.on('end', () => {
        if (buffer.trim()) onLine(buffer);
        resolve();
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Lists all pods, then watches them from that list's resourceVersion; lists again after an error (e.g. 410 Gone). */
async function followPods(): Promise<void> {
  for (;;) {
    try {
      let body = '';
      await getJson('/api/v1/pods', (line) => (body += line));
      const list = JSON.parse(body) as { metadata: { resourceVersion: string }; items: PodObject[] };
      const uids = new Set(list.items.map((p) => p.metadata.uid));
      for (const uid of pods.keys()) if (!uids.has(uid)) forget(uid);
      for (const item of list.items) upsert(item);
      listed = true;
      let version = list.metadata.resourceVersion;
      for (let gone = false; !gone;) {
        const path = `/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${version}`;
        await getJson(path, (line) => {
          const event = JSON.parse(line) as { type: string; object: PodObject };
          if (event.type === 'ERROR') {
            gone = true;
            return;
          }
          version = event.object.metadata.resourceVersion ?? version;
          if (event.type === 'DELETED') forget(event.object.metadata.uid);
          else if (event.type === 'ADDED' || event.type === 'MODIFIED') upsert(event.object);
        });
      }
    } catch (error) {
      log(`pod watch: ${error instanceof Error ? error.message : String(error)}; again in 1 s`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// ---- HTTP: the pods, and the server's own endpoints --------------------------------------------------------

/** The pod each tunnelled socket speaks as. */
const podOfSocket = new WeakMap<Socket, SimulatedPod>();
/**
 * The open connections of each pod (by uid). A deleted pod's connections are closed, as a real pod's would be:
 * the API server keeps idle connections to a pod IP, and KWOK gives a deleted pod's IP to the next pod.
 */
const socketsOfPod = new Map<string, Set<Socket>>();

function forget(uid: string): void {
  pods.delete(uid);
  for (const socket of socketsOfPod.get(uid) ?? []) socket.destroy();
  socketsOfPod.delete(uid);
}

const podServer: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const bound = podOfSocket.get(req.socket);
  const pod = bound && pods.get(bound.object.metadata.uid);
  // Gone, or no longer the running pod of its IP: the connection breaks.
  if (!pod || podByIP(pod.object.status?.podIP ?? '') !== pod) {
    req.socket.destroy();
    return;
  }
  const name = pod.object.metadata.name;
  if (req.url === '/metrics' || req.url?.startsWith('/metrics?')) {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(HEADER + series(pod, false));
    return;
  }
  const code = codeAt(pod, Date.now());
  countUntil(pod, Date.now());
  pod.counts[code] += 1;
  const body = code === '200' ? `ok ${name}\n` : `${code === '500' ? 'internal error' : 'unavailable'} ${name}\n`;
  res.writeHead(Number(code), { 'content-type': 'text/plain' }).end(body);
});

function isLoopback(host: string): boolean {
  return (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
}

function refuse(socket: Socket, status: string, reason: string): void {
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reason}\n`);
}

function tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
  const target = /^\[?([0-9a-fA-F.:]+?)\]?:(\d+)$/.exec(req.url ?? '');
  const [host = '', port = 0] = target ? [target[1], Number(target[2])] : [];
  client.on('error', () => client.destroy());
  if (isIP(host) === 0) {
    refuse(client, '400 Bad Request', `CONNECT wants an IP address and a port, not ${req.url ?? ''}`);
  } else if (isLoopback(host)) {
    const upstream = connect({ host, port }, () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () =>
      client.writable ? refuse(client, '502 Bad Gateway', 'connect failed') : client.destroy(),
    );
    client.on('close', () => upstream.destroy());
  } else {
    void podAt(host).then((pod) => connectToPod(client, head, pod, host, port));
  }
}

/**
 * The pod a connection to `ip` reaches, as the API server knows it now. The API server's proxy asks for a pod by name
 * and dials its IP, which KWOK may have just given to a pod created in place of a deleted one (a StatefulSet's pod of
 * the same name): this server's watch can bring that pod later than the request, so the pods at the IP are read
 * afresh (a field selector on status.podIP), and a pod the watch still holds there but the API server no longer has
 * is forgotten.
 */
async function podAt(ip: string): Promise<SimulatedPod | undefined> {
  try {
    let body = '';
    await getJson(`/api/v1/pods?fieldSelector=${encodeURIComponent(`status.podIP=${ip}`)}`, (line) => (body += line));
    const items = (JSON.parse(body) as { items: PodObject[] }).items;
    const uids = new Set(items.map((p) => p.metadata.uid));
    for (const [uid, pod] of pods) if (pod.object.status?.podIP === ip && !uids.has(uid)) forget(uid);
    for (const item of items) upsert(item);
  } catch (error) {
    log(`pods at ${ip}: ${error instanceof Error ? error.message : String(error)}; the watch's view is used`);
  }
  return podByIP(ip);
}

function connectToPod(client: Socket, head: Buffer, pod: SimulatedPod | undefined, host: string, port: number): void {
  {
    if (!pod) {
      refuse(client, '502 Bad Gateway', `no running pod has the IP ${host}`);
    } else if (!openPorts(pod).has(port)) {
      refuse(client, '502 Bad Gateway', `pod ${pod.object.metadata.name} does not listen on port ${port}`);
    } else {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      podOfSocket.set(client, pod);
      const uid = pod.object.metadata.uid;
      const sockets = socketsOfPod.get(uid) ?? new Set<Socket>();
      socketsOfPod.set(uid, sockets.add(client));
      client.on('close', () => socketsOfPod.get(uid)?.delete(client));
      if (head.length > 0) client.unshift(head);
      podServer.emit('connection', client);
    }
  }
}

function serve(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
    const running = [...pods.values()].filter((p) => p.object.status?.phase === 'Running');
    const text = HEADER + running.map((p) => series(p, true)).join('');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
  } else if (req.method === 'GET' && req.url === '/pods') {
    const lines = [...pods.values()].map(({ object: { metadata: m, status: st } }) =>
      [m.namespace, m.name, st?.podIP ?? '-', st?.phase ?? '-', m.deletionTimestamp ? 'deleting' : '-'].join(' '),
    );
    res.writeHead(200, { 'content-type': 'text/plain' }).end(lines.map((l) => `${l}\n`).join(''));
  } else if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(listed ? 200 : 503, { 'content-type': 'text/plain' }).end(listed ? 'ok\n' : 'no pod list yet\n');
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}

const [listenHost = '127.0.0.1', listenPort = '10260'] = (args.listen ?? '').split(/:(?=\d+$)/);
if (!isLoopback(listenHost)) throw new Error(`--listen must be a loopback address, not ${listenHost}`);
createServer(serve)
  .on('connect', tunnel)
  .listen(Number(listenPort), listenHost, () => log(`pod app listening on ${listenHost}:${listenPort}`));
if (args.socket) {
  const socket = args.socket;
  rmSync(socket, { force: true });
  createServer(serve)
    .on('connect', tunnel)
    .listen(socket, () => log(`pod app listening on ${socket}`));
}
void followPods();
