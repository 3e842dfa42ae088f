/**
 * The test bed is real: scripts/stack/smoke.sh builds and pushes through the real engine and registries, rolls a
 * Deployment through the real controller, crash-loops it into ProgressDeadlineExceeded, undoes it, and checks the
 * least-privilege kubeconfig against real RBAC. Each check prints one "ok" line; all of them must be there. And the
 * KWOK fault stages keyed on the pod annotation kube-ship.dev/fault instead of the image. And the stack's real
 * Prometheus answers PromQL over its HTTP API, directly and through its toxiproxy proxy, which fault.sh can cut.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NAMESPACE, REGISTRY, ROOT, createDeployment, env, kubectl, kubectlJson } from './harness.js';

it('the local stack passes its smoke test', () => {
  const result = spawnSync('bash', [join(ROOT, 'scripts/stack/smoke.sh')], { env, encoding: 'utf8', timeout: 180_000 });
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
