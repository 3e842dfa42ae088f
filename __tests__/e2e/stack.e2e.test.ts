/**
 * The test bed is real: scripts/stack/smoke.sh builds and pushes through the real engine and registries, rolls a
 * Deployment through the real controller, crash-loops it into ProgressDeadlineExceeded, undoes it, and checks the
 * least-privilege kubeconfig against real RBAC. Each check prints one "ok" line; all of them must be there. And the
 * KWOK fault stages keyed on the pod annotation kube-ship.dev/fault instead of the image; the simulated pods
 * answering HTTP through the API server's pod and service proxies (the pod app, scripts/stack/pod-app/server.ts),
 * their metrics, and Jobs that complete or fail. And the stack's real Prometheus answers PromQL over its HTTP API,
 * directly and through its toxiproxy proxy, which fault.sh can cut.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NAMESPACE, REGISTRY, ROOT, createDeployment, env, kubectl, kubectlJson } from './harness.js';

it('the local stack passes its smoke test', () => {
  // The API server's fault proxy belongs to faults-network.e2e.test.ts while the files run at once.
  const result = spawnSync('bash', [join(ROOT, 'scripts/stack/smoke.sh')], {
    env: { ...env, KUBE_SHIP_SMOKE_SHARED: '1' },
    encoding: 'utf8',
    timeout: 180_000,
  });
  const output = `${result.stdout}\n${result.stderr}`;
  expect(result.status, output).toBe(0);
  for (const check of [
    /ok .* multi-stage BuildKit build from .* \(no pull\)/,
    /ok .* Docker-Content-Digest sha256:[0-9a-f]{64} equals the pushed digest/,
    /ok .* auth registry: 401 without login, push after login, same digest/,
    /ok .* \d+ nodes Ready/,
    /ok .* set image to the pushed digest: rollout status succeeded/,
    /ok .* crashloop image: CrashLoopBackOff, restartCount rising/,
    /ok .* rollout status failed: Progressing=False reason ProgressDeadlineExceeded/,
    /ok .* kubectl logs --previous through the API server ends with: panic: cannot connect to database/,
    /ok .* rollout undo brought back/,
    /ok .* deployer kubeconfig: patch in \S+ allowed, 403 Forbidden in default/,
    /ok .* pullfail image: Pending, ErrImagePull then ImagePullBackOff, Warning Failed event/,
    /ok .* neverready image: Running, container running with ready=false/,
  ]) {
    expect(output).toMatch(check);
  }
  expect(output).toMatch(/smoke test passed/);
});

interface FaultPod {
  metadata: { name: string; deletionTimestamp?: string };
  status: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      restartCount: number;
      state?: { waiting?: { reason?: string } };
      lastState?: { terminated?: { exitCode?: number; message?: string } };
    }[];
  };
}

const podsOf = (name: string): FaultPod[] =>
  kubectlJson<{ items: FaultPod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `app=${name}`]).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );
const crashLooping = (pod: FaultPod): boolean =>
  (pod.status.containerStatuses ?? []).some(
    (c) =>
      c.restartCount >= 1 &&
      c.state?.waiting?.reason === 'CrashLoopBackOff' &&
      c.lastState?.terminated?.exitCode === 2 &&
      c.lastState.terminated.message === 'panic: cannot connect to database',
  );
const backOffEvents = (pod: string): number =>
  kubectlJson<{ items: { type: string }[] }>([
    'get',
    'events',
    '-n',
    NAMESPACE,
    '--field-selector',
    `involvedObject.name=${pod},reason=BackOff`,
  ]).items.filter((e) => e.type === 'Warning').length;

// A config change breaks pods without a new image: the KWOK stages read the pod annotation kube-ship.dev/fault as
// if every container's image reference had the word in it (scripts/stack/kwok/pod-stages.yaml).
it('a fault annotation (crashloop) crash-loops the pods of a normal image; a pod without it is Ready', async () => {
  const image = `${REGISTRY}/e2e/fault-annotation:initial`;
  try {
    createDeployment('fault-plain', image, { replicas: 1 });
    createDeployment('fault-crash', image, {
      replicas: 1,
      annotations: { 'kube-ship.dev/fault': 'crashloop' },
      wait: false,
    });
    const [plain] = podsOf('fault-plain');
    expect(plain?.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    expect(plain?.status.containerStatuses?.[0]?.restartCount).toBe(0);

    const deadline = Date.now() + 20_000;
    let pod: FaultPod | undefined;
    while (Date.now() < deadline) {
      pod = podsOf('fault-crash').find(crashLooping);
      if (pod && backOffEvents(pod.metadata.name) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(pod, JSON.stringify(podsOf('fault-crash'), null, 1)).toBeDefined();
    const status = pod?.status.containerStatuses?.[0];
    expect(status?.restartCount).toBeGreaterThanOrEqual(1);
    expect(status?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(status?.lastState?.terminated?.exitCode).toBe(2);
    expect(pod?.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'False' }));
    expect(backOffEvents(pod?.metadata.name ?? '')).toBeGreaterThan(0);
    expect(podsOf('fault-plain').every((p) => (p.status.containerStatuses?.[0]?.restartCount ?? 0) === 0)).toBe(true);
  } finally {
    kubectl([
      'delete',
      'deployment',
      'fault-plain',
      'fault-crash',
      '-n',
      NAMESPACE,
      '--ignore-not-found',
      '--wait=false',
    ]);
  }
});

interface InstantVector {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** An instant query through Prometheus' HTTP API at BASE. */
async function promQuery(base: string, query: string): Promise<InstantVector> {
  const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`, {
    signal: AbortSignal.timeout(5_000),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as InstantVector;
}

/** Seconds since Prometheus last scraped itself, once that is under 10 (it scrapes every 2 s), or after 15 s. */
async function secondsSinceSelfScrape(base: string): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [sample] = (await promQuery(base, 'time() - timestamp(up{job="prometheus"})')).data.result;
    const age = sample ? Number(sample.value[1]) : Infinity;
    if (age < 10 || Date.now() > deadline) return age;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

it("the stack's Prometheus answers PromQL: it scrapes itself (up is 1), a query matching nothing is empty", async () => {
  const base = env.PROMETHEUS_URL ?? '';
  expect(base).toBe('http://127.0.0.1:9090');
  expect(await secondsSinceSelfScrape(base)).toBeLessThan(10);
  const up = await promQuery(base, 'up{job="prometheus"}');
  expect(up.status).toBe('success');
  expect(up.data.resultType).toBe('vector');
  expect(up.data.result).toHaveLength(1);
  expect(up.data.result[0]?.metric).toMatchObject({ job: 'prometheus', instance: '127.0.0.1:9090' });
  expect(up.data.result[0]?.value[1]).toBe('1');

  const none = await promQuery(base, 'up{job="no-such-job"}');
  expect(none.status).toBe('success');
  expect(none.data.result).toEqual([]);
});

/** scripts/stack/fault.sh on the proxy in front of Prometheus ($FAULT_PROMETHEUS_URL goes through it). */
function prometheusFault(...args: string[]): void {
  execFileSync('bash', [join(ROOT, 'scripts/stack/fault.sh'), '--proxy=prometheus', ...args], { env, stdio: 'pipe' });
}

/**
 * GET URL on a new connection (no pool: a kept-alive connection that the proxy cut would fail differently): the
 * status and body, or the error code of the connection.
 */
function getOnNewConnection(url: string): Promise<{ status?: number; body?: string; code?: string }> {
  return new Promise((resolve) => {
    const request = httpGet(url, { agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode, body }));
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ code: error.code }));
  });
}

it('fault.sh --proxy=prometheus down refuses connections to FAULT_PROMETHEUS_URL until up', async () => {
  const base = env.FAULT_PROMETHEUS_URL ?? '';
  expect(base).toBe('http://127.0.0.1:19090');
  const query = `${base}/api/v1/query?query=${encodeURIComponent('up{job="prometheus"}')}`;
  try {
    expect(await getOnNewConnection(query)).toMatchObject({ status: 200, body: expect.stringContaining('"success"') });
    prometheusFault('down');
    expect(await getOnNewConnection(query)).toEqual({ code: 'ECONNREFUSED' });
    prometheusFault('up');
    expect(await getOnNewConnection(query)).toMatchObject({ status: 200, body: expect.stringContaining('"success"') });
  } finally {
    prometheusFault('clear');
  }
});

// ---- the pod app: simulated pods answer HTTP through the API server ------------------------------------------

const PKI = join(env.KUBE_SHIP_STACK_DIR ?? '', 'pki');
const adminTls = (): { ca: Buffer; cert: Buffer; key: Buffer } => ({
  ca: readFileSync(join(PKI, 'ca.crt')),
  cert: readFileSync(join(PKI, 'admin.crt')),
  key: readFileSync(join(PKI, 'admin.key')),
});

/** GET `path` from the API server as the admin: the status and the body, whatever the status. */
function apiGet(path: string): Promise<{ status: number; body: string }> {
  const server = new URL(`https://127.0.0.1:6443${path}`);
  return new Promise((resolve, reject) => {
    const req = request(server, adminTls(), (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const podProxy = (pod: string, path: string, port = 8080): Promise<{ status: number; body: string }> =>
  apiGet(`/api/v1/namespaces/${NAMESPACE}/pods/${pod}:${port}/proxy${path}`);

interface ReadyPod {
  metadata: { name: string; deletionTimestamp?: string };
  status: { podIP?: string; conditions?: { type: string; status: string; lastTransitionTime: string }[] };
}
/** The one pod of a Deployment, and when it became Ready (ms). */
function onlyPod(app: string): { name: string; readyAt: number; ip: string } {
  const pods = kubectlJson<{ items: ReadyPod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `app=${app}`]).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );
  expect(pods).toHaveLength(1);
  const ready = pods[0]?.status.conditions?.find((c) => c.type === 'Ready');
  expect(ready?.status).toBe('True');
  return {
    name: pods[0]?.metadata.name ?? '',
    readyAt: Date.parse(ready?.lastTransitionTime ?? ''),
    ip: pods[0]?.status.podIP ?? '',
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `http_requests_total{...labels, code} N` of a Prometheus text page: N, or undefined without that series. */
function counter(page: string, labels: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`http_requests_total{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

it('pods answer HTTP through the pod proxy: 200 by default, 500 for http500, 503 then 200 for http503blip', async () => {
  const image = `${REGISTRY}/e2e/pod-http:initial`;
  try {
    createDeployment('http-ok', image, { replicas: 1 });
    createDeployment('http-500', image, { replicas: 1, annotations: { 'kube-ship.dev/fault': 'http500' } });
    createDeployment('http-blip', image, {
      replicas: 1,
      annotations: { 'kube-ship.dev/fault': 'http503blip', 'kube-ship.dev/blip-seconds': '6' },
    });
    createDeployment('http-blip15', `${REGISTRY}/e2e/pod-http503blip:initial`, { replicas: 1 });
    const ok = onlyPod('http-ok');
    const blip = onlyPod('http-blip');
    const blip15 = onlyPod('http-blip15');
    expect(ok.ip).toMatch(/^10\.244\./); // pod IPs are data: never loopback, never dialled

    const first = await podProxy(blip.name, '/healthz');
    expect(Date.now() - blip.readyAt).toBeLessThan(6000);
    expect(first.status).toBe(503);

    expect(await podProxy(ok.name, '/healthz')).toEqual({ status: 200, body: `ok ${ok.name}\n` });
    expect(await podProxy(ok.name, '/any/path?x=1')).toEqual({ status: 200, body: `ok ${ok.name}\n` });
    const failing = await podProxy(onlyPod('http-500').name, '/');
    expect(failing.status).toBe(500);
    // A port the pod does not listen on is refused (the API server says 503).
    expect((await podProxy(ok.name, '/', 9999)).status).toBe(503);

    await sleep(blip.readyAt + 6500 - Date.now());
    expect((await podProxy(blip.name, '/healthz')).status).toBe(200);
    // Its steady 10 requests a second were 503 for the 6 s of the blip (plus the one answered above), 200 after.
    const counted = (await podProxy(blip.name, '/metrics')).body;
    expect(counter(counted, 'code="503"')).toBeGreaterThanOrEqual(60);
    expect(counter(counted, 'code="503"')).toBeLessThanOrEqual(62);
    expect(counter(counted, 'code="200"')).toBeGreaterThanOrEqual(1);
    // Without kube-ship.dev/blip-seconds the blip lasts 15 s (an image word this time).
    expect(Date.now() - blip15.readyAt).toBeLessThan(15_000);
    expect((await podProxy(blip15.name, '/healthz')).status).toBe(503);
  } finally {
    kubectl(['delete', 'deployment', 'http-ok', 'http-500', 'http-blip', 'http-blip15', '-n', NAMESPACE]);
  }
});

it("a Service's ready pods answer through the service proxy; pod logs still come through the API server", async () => {
  const image = `${REGISTRY}/e2e/pod-http:initial`;
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'http-svc', namespace: NAMESPACE },
    spec: { selector: { app: 'http-svc' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
  try {
    createDeployment('http-svc', image, { replicas: 2 });
    kubectl(['apply', '-f', '-'], JSON.stringify(service));
    let addresses = 0;
    for (let i = 0; i < 100 && addresses < 2; i += 1) {
      const endpoints = kubectlJson<{ subsets?: { addresses?: { ip: string }[] }[] }>([
        'get',
        'endpoints',
        'http-svc',
        '-n',
        NAMESPACE,
      ]);
      addresses = (endpoints.subsets ?? []).flatMap((s) => s.addresses ?? []).length;
      if (addresses < 2) await sleep(100);
    }
    expect(addresses).toBe(2);
    const answer = await apiGet(`/api/v1/namespaces/${NAMESPACE}/services/http-svc:80/proxy/`);
    expect(answer.status, answer.body).toBe(200);
    const known = await fetch(`${env.POD_APP_URL}/pods`).then((r) => r.text());
    const eps = kubectl(['get', 'endpoints', 'http-svc', '-n', NAMESPACE, '-o', 'wide']);
    expect(answer.body, known + eps).toMatch(/^ok http-svc-[a-z0-9]+-[a-z0-9]+\n$/);

    const pods = kubectlJson<{ items: ReadyPod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', 'app=http-svc']).items;
    const log = kubectl(['logs', '-n', NAMESPACE, pods[0]?.metadata.name ?? '']);
    expect(log).toContain('listening on :8080');
  } finally {
    kubectl(['delete', 'deployment,service', 'http-svc', '-n', NAMESPACE, '--ignore-not-found']);
  }
});

it("a pod's /metrics and the pod app's /metrics count its requests by code; a deleted pod's series go", async () => {
  const image = `${REGISTRY}/e2e/pod-http:initial`;
  try {
    createDeployment('metrics-ok', image, { replicas: 1 });
    createDeployment('metrics-500', image, { replicas: 1, annotations: { 'kube-ship.dev/fault': 'http500' } });
    const ok = onlyPod('metrics-ok').name;
    const bad = onlyPod('metrics-500').name;
    await sleep(1000);

    const own = await podProxy(bad, '/metrics');
    expect(own.status).toBe(200);
    expect(own.body).toContain('# TYPE http_requests_total counter');
    expect(counter(own.body, 'code="500"')).toBeGreaterThanOrEqual(5);
    expect(counter(own.body, 'code="200"')).toBe(0);

    const all = (): Promise<string> => fetch(`${env.POD_APP_URL}/metrics`).then((r) => r.text());
    const before = await all();
    const okLabels = `namespace="${NAMESPACE}",pod="${ok}",code="200"`;
    const badLabels = `namespace="${NAMESPACE}",pod="${bad}",code="500"`;
    expect(counter(before, okLabels)).toBeGreaterThanOrEqual(5);
    expect(counter(before, badLabels)).toBeGreaterThanOrEqual(5);
    expect(counter(before, `namespace="${NAMESPACE}",pod="${ok}",code="500"`)).toBe(0);
    // A request served through the proxy counts too, on top of the steady 10 a second.
    await podProxy(bad, '/');
    await sleep(500);
    expect(counter(await all(), badLabels)).toBeGreaterThan((counter(before, badLabels) ?? 0) + 5);

    kubectl(['delete', 'deployment', 'metrics-500', '-n', NAMESPACE, '--wait=true']);
    kubectl(['wait', '--for=delete', `pod/${bad}`, '-n', NAMESPACE, '--timeout=30s']);
    const after = await all();
    expect(counter(after, badLabels)).toBeUndefined();
    expect(counter(after, okLabels)).toBeGreaterThan(0);
  } finally {
    kubectl(['delete', 'deployment', 'metrics-ok', 'metrics-500', '-n', NAMESPACE, '--ignore-not-found']);
  }
});

interface JobStatus {
  status: { conditions?: { type: string; status: string }[] };
}
interface JobPod {
  status: {
    phase: string;
    containerStatuses?: { state?: { terminated?: { exitCode: number; reason?: string; message?: string } } }[];
  };
}

it("a Job's pod completes with exit code 0; a jobfail Job's pods fail with exit code 1, retried per backoffLimit", () => {
  const job = (name: string, annotations: Record<string, string>): object => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      backoffLimit: 1,
      template: {
        metadata: { annotations },
        spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: `${REGISTRY}/e2e/migrate:1` }] },
      },
    },
  });
  const podsOfJob = (name: string): JobPod[] =>
    kubectlJson<{ items: JobPod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `job-name=${name}`]).items;
  try {
    kubectl(['apply', '-f', '-'], JSON.stringify(job('job-ok', {})));
    kubectl(['apply', '-f', '-'], JSON.stringify(job('job-fail', { 'kube-ship.dev/fault': 'jobfail' })));
    kubectl(['wait', 'job/job-ok', '-n', NAMESPACE, '--for=condition=Complete', '--timeout=60s']);
    const [done] = podsOfJob('job-ok');
    expect(done?.status.phase).toBe('Succeeded');
    expect(done?.status.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });

    kubectl(['wait', 'job/job-fail', '-n', NAMESPACE, '--for=condition=Failed', '--timeout=90s']);
    const failed = kubectlJson<JobStatus>(['get', 'job', 'job-fail', '-n', NAMESPACE]);
    expect(failed.status.conditions).toContainEqual(expect.objectContaining({ type: 'Failed', status: 'True' }));
    expect(failed.status.conditions).not.toContainEqual(expect.objectContaining({ type: 'Complete', status: 'True' }));
    const pods = podsOfJob('job-fail');
    expect(pods).toHaveLength(2); // the first try and one retry (backoffLimit: 1)
    for (const pod of pods) {
      expect(pod.status.phase).toBe('Failed');
      expect(pod.status.containerStatuses?.[0]?.state?.terminated).toMatchObject({
        exitCode: 1,
        reason: 'Error',
        message: 'migration failed: relation "users" already exists',
      });
    }
  } finally {
    kubectl(['delete', 'job', 'job-ok', 'job-fail', '-n', NAMESPACE, '--ignore-not-found', '--cascade=foreground']);
  }
});
