/**
 * The checks of `verify`, end to end on the local stack: the simulated pods answer HTTP for real (the test bed's pod
 * app, reached by the real API server's pod and service proxies through its egress selector), a real Prometheus
 * scrapes their request counters, and a release that is Ready but answers 500 is caught and rolled back, while a
 * 503 blip shorter than the grace is not a verdict. Faults: the proxy refused (403), Prometheus unreachable, a
 * check that never answers.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEPLOYER_RULES,
  NAMESPACE,
  ROOT,
  appInputs,
  createDeployment,
  env,
  initialImage,
  kubectl,
  podImages,
  runAction,
  serviceAccountKubeconfig,
  template,
  type ActionRun,
} from './harness.js';

/** A Service in front of the app's pods: port 80 to the pods' 8080. */
function createService(name: string): void {
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NAMESPACE },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
  kubectl(['apply', '-f', '-'], JSON.stringify(service));
}

const checksOf = (run: ActionRun): { check: string; result: string; last: string; runs: number }[] =>
  JSON.parse(run.outputs.checks ?? '[]') as { check: string; result: string; last: string; runs: number }[];

/** Short checks: judged within a few seconds, so a persistent failure ends the deploy quickly. */
const quick = 'grace: 4s, interval: 1s, timeout: 3s';

describe('verify: http checks through the API server', () => {
  it('a good release passes a check of every new pod and of its Service; the summary shows each', async () => {
    createDeployment('v-good', initialImage('v-good'), { replicas: 2 });
    createService('v-good');
    const verify = `- http: {port: 8080, path: /healthz, ${quick}}\n- http: {service: v-good, port: 80, path: /, body: '^ok', ${quick}}`;
    const run = await runAction(appInputs('v-good', 'v2', 'v-good', { bake: '0s', verify }));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(checksOf(run)).toMatchObject([
      { check: 'http #1', result: 'passing', last: '200 from 2 pods' },
      { check: 'http #2', result: 'passing', last: '200' },
    ]);
    expect(run.log).toContain('The bake lasts 5s instead of 0s');
    expect(run.summary).toContain('Checks of what users see');
    expect(run.summary).toContain('GET :8080/healthz on every new pod');
  });

  it('a release that is Ready but answers 500 is rolled back, with the status and body as evidence', async () => {
    createDeployment('v-500', initialImage('v-500'), { replicas: 2 });
    const recorded = template('v-500');
    const verify = `- http: {port: 8080, path: /, ${quick}}`;
    const run = await runAction(appInputs('v-500', 'http500-1', 'v-500', { bake: '0s', verify }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/verify http #1 failed: pod v-500-[a-z0-9-]+: 500 /);
    expect(checksOf(run)[0]).toMatchObject({ result: 'failed' });
    expect(run.summary).toContain('VerifyFailed');
    expect(template('v-500')).toEqual(recorded);
  });

  it('a 503 for 15 s after Ready is no verdict within the default 20 s grace: the release stands', async () => {
    createDeployment('v-blip', initialImage('v-blip'), { replicas: 2 });
    const run = await runAction(
      appInputs('v-blip', 'http503blip-1', 'v-blip', { bake: '0s', verify: '- http: {port: 8080}' }),
    );
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log).toMatch(/verify http #1: failing: pod v-blip-\S+: 503 .* grace\)/);
    expect(checksOf(run)[0]).toMatchObject({ result: 'passing' });
    expect(new Set(podImages('v-blip'))).toEqual(new Set([run.outputs.image]));
  });

  it('a check of a URL from the runner: a refused connection is an error, never a pass, and rolls back', async () => {
    createDeployment('v-url', initialImage('v-url'), { replicas: 1 });
    const recorded = template('v-url');
    const verify = `- http: {url: '${env.PROMETHEUS_URL ?? ''}/-/healthy', ${quick}}\n- http: {url: 'http://127.0.0.1:9/', ${quick}}`;
    const run = await runAction(appInputs('v-url', 'v2', 'v-url', { bake: '0s', verify }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(checksOf(run)).toMatchObject([{ result: 'passing' }, { check: 'http #2', result: 'failed' }]);
    expect(template('v-url')).toEqual(recorded);
  });
});

describe('verify: cancelled while the checks run', () => {
  it('the release is taken back and the step says cancelled, before the runner would kill it', async () => {
    createDeployment('v-cancel', initialImage('v-cancel'), { replicas: 1 });
    const recorded = template('v-cancel');
    const verify = '- http: {port: 8080, grace: 30s, interval: 1s}';
    const run = await runAction(appInputs('v-cancel', 'http500-c', 'v-cancel', { bake: '0s', verify }), {
      during: [{ when: ({ log }) => log.includes('verify http #1: failing'), act: 'runner-cancel' }],
    });
    expect(run.outputs.result).toBe('cancelled');
    expect(template('v-cancel')).toEqual(recorded);
    expect(run.ms).toBeLessThan(60_000);
  });
});

describe('verify: prometheus', () => {
  const errors = (max: string) =>
    `- prometheus: {url: '${env.PROMETHEUS_URL ?? ''}', query: 'sum(rate(http_requests_total{code=~"5..",namespace="$namespace",pod=~"$pods"}[30s]))', max: ${max}, grace: 10s, interval: 2s}`;

  it("a Ready-but-500 release's error rate, scraped by the real Prometheus, rolls it back", async () => {
    createDeployment('p-500', initialImage('p-500'), { replicas: 2 });
    const recorded = template('p-500');
    const run = await runAction(appInputs('p-500', 'http500-1', 'p-500', { bake: '0s', verify: errors('0') }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(
      /verify prometheus #1 failed: value [\d.]+ \(\d+ samples\) above max 0/,
    );
    expect(template('p-500')).toEqual(recorded);
  });

  it('no data (a series the pods never report) is inconclusive: a failure unless on-no-data: pass', async () => {
    createDeployment('p-nodata', initialImage('p-nodata'), { replicas: 1 });
    const none = (more: string) =>
      `- prometheus: {url: '${env.PROMETHEUS_URL ?? ''}', query: 'sum(rate(checkout_errors_total{pod=~"$pods"}[30s]))', max: 0, grace: 4s, interval: 1s${more}}`;
    const failed = await runAction(appInputs('p-nodata', 'v2', 'p-nodata', { bake: '0s', verify: none('') }));
    expect(failed.outputs.result, failed.log).toBe('rolled-back');
    expect(failed.outputs['failure-reason']).toContain('no data for the query');
    const passed = await runAction(
      appInputs('p-nodata', 'v3', 'p-nodata', { bake: '0s', verify: none(', on-no-data: pass') }),
    );
    expect(passed.exitCode, passed.log).toBe(0);
    expect(checksOf(passed)[0]).toMatchObject({
      result: 'passing',
      last: 'no data for the query, passed as on-no-data: pass says',
    });
  });

  it('a query Prometheus refuses is an error with its reason, never a pass', async () => {
    createDeployment('p-bad', initialImage('p-bad'), { replicas: 1 });
    const verify = `- prometheus: {url: '${env.PROMETHEUS_URL ?? ''}', query: 'sum(rate(http_requests_total[30s]', max: 0, ${quick}}`;
    const run = await runAction(appInputs('p-bad', 'v2', 'p-bad', { bake: '0s', verify }));
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(
      /verify prometheus #1 failed: Prometheus refused the query: .*parse error/,
    );
  });

  it('Prometheus unreachable: the error fails the check after its grace, never counted as a pass', async () => {
    createDeployment('p-down', initialImage('p-down'), { replicas: 1 });
    const recorded = template('p-down');
    const fault = (action: string) =>
      execFileSync('bash', [join(ROOT, 'scripts/stack/fault.sh'), '--proxy=prometheus', action], {
        env: { ...process.env, ...env },
        stdio: 'pipe',
      });
    fault('down');
    try {
      const verify = `- prometheus: {url: '${env.FAULT_PROMETHEUS_URL ?? ''}', query: 'vector(0)', max: 0, grace: 3s, interval: 1s, timeout: 2s}`;
      const run = await runAction(appInputs('p-down', 'v2', 'p-down', { bake: '0s', verify }));
      expect(run.outputs.result).toBe('rolled-back');
      expect(run.outputs['failure-reason']).toMatch(/verify prometheus #1 failed: .*(fetch failed|refused|closed)/i);
      expect(template('p-down')).toEqual(recorded);
    } finally {
      fault('up');
    }
  });
});

describe('verify: faults of the check itself', () => {
  let silent: Server;
  let port = 0;
  beforeAll(async () => {
    // Accepts connections and never answers a byte.
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(() => silent.close());

  it('a check that never answers is bounded by its own timeout, then fails after its grace', async () => {
    createDeployment('f-hang', initialImage('f-hang'), { replicas: 1 });
    const verify = `- http: {url: 'http://127.0.0.1:${port}/', grace: 3s, interval: 1s, timeout: 1s}`;
    const run = await runAction(appInputs('f-hang', 'v2', 'f-hang', { bake: '0s', verify }));
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/verify http #1 failed: .*(timeout|aborted)/i);
    expect(checksOf(run)[0]?.runs).toBeGreaterThanOrEqual(2);
  });

  it('preflight names the permission a check needs and the identity lacks, before anything is built', async () => {
    createDeployment('f-perm', initialImage('f-perm'), { replicas: 1 });
    const rules = DEPLOYER_RULES.filter((r) => !r.resources.includes('services/proxy'));
    const kubeconfig = serviceAccountKubeconfig('f-perm', rules);
    const verify = `- http: {service: f-perm, port: 80, ${quick}}`;
    const run = await runAction(appInputs('f-perm', 'v2', 'f-perm', { verify, kubeconfig, namespace: '' }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs['failure-reason']).toContain(`may not get services/proxy in namespace ${NAMESPACE}`);
    expect(run.log).not.toContain('::group::Build and push');
  });

  it('the pod proxy refused (403) mid-deploy: an error, reported as the API server answered, and rolled back', async () => {
    createDeployment('f-403', initialImage('f-403'), { replicas: 1 });
    const recorded = template('f-403');
    const verify = `- http: {port: 8080, ${quick}}`;
    // An identity of its own, whose Role loses pods/proxy once the patch has landed.
    const kubeconfig = serviceAccountKubeconfig('f-403', DEPLOYER_RULES);
    const revoke = (): void => {
      const rules = DEPLOYER_RULES.filter((r) => !r.resources.includes('pods/proxy'));
      const role = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'f-403', namespace: NAMESPACE },
        rules,
      };
      kubectl(['apply', '-f', '-'], JSON.stringify(role));
    };
    const inputs = appInputs('f-403', 'v2', 'f-403', { bake: '0s', verify, kubeconfig, namespace: '' });
    const run = await runAction(inputs, { whenPatched: revoke });
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/the API server answered 403/);
    expect(template('f-403')).toEqual(recorded);
  });
});
