/**
 * `npm run bench:startup [-- BUNDLE...]`: start-up without the stack (issue 11), measured as bench case P5 measures
 * it: process start -> the first request to the Kubernetes API server. The bundle (dist/index.js by default; several
 * are run in turn, so that a loaded machine weighs on each alike) is started the way the runner starts it, with the
 * variables of __tests__/e2e/harness.ts, against a fake API server on loopback (TLS, a self-signed CA made with
 * openssl, in the kubeconfig) that answers preflight; the registry is a closed port, so the step ends there.
 * STARTUP_RUNS runs per bundle (default 15). Prints per bundle the median, min and max of start -> first request
 * and of the step's main-thread CPU time by then (from /proc, Linux), which a busy machine inflates less.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stepEnvironment } from '../__tests__/e2e/step-env.js';

const ROOT = resolve(import.meta.dirname, '..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const RUNS = Number(process.env.STARTUP_RUNS ?? 15);
const bundles = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [join(ROOT, 'dist/index.js')];
const now = (): number => performance.timeOrigin + performance.now();

/** Main-thread CPU time of a process so far (ms), or NaN where /proc has no schedstat. */
function cpuMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'kube-ship-startup-'));
execFileSync(
  'openssl',
  [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
    ...['-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem'), '-subj', '/CN=127.0.0.1'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1'],
  ],
  { stdio: 'ignore' },
);
const cert = readFileSync(join(tmp, 'cert.pem'));

const IMAGE = '127.0.0.1:1/app';
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'apps', uid: 'u', generation: 1, resourceVersion: '1' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: `${IMAGE}:old` }] } },
  },
};

/** Called with the arrival time of the next first request, then cleared. */
let onFirst: ((t: number) => void) | undefined;
const server: Server = createServer({ cert, key: readFileSync(join(tmp, 'key.pem')) }, (req, res) => {
  const t = now();
  onFirst?.(t);
  onFirst = undefined;
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'POST' && req.url?.endsWith('/selfsubjectaccessreviews')) {
      res.end(JSON.stringify({ ...(JSON.parse(body) as object), status: { allowed: true } }));
    } else if (req.method === 'GET' && req.url === '/apis/apps/v1/namespaces/apps/deployments/web') {
      res.end(JSON.stringify(deployment));
    } else {
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }));
    }
  });
});
await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
const kubeconfig = [
  'apiVersion: v1',
  'kind: Config',
  'clusters:',
  '- name: fake',
  '  cluster:',
  `    server: https://127.0.0.1:${(server.address() as AddressInfo).port}`,
  `    certificate-authority-data: ${cert.toString('base64')}`,
  'users:',
  '- name: deployer',
  '  user:',
  '    token: startup-bench-token-0123456789',
  'contexts:',
  '- name: fake',
  '  context: {cluster: fake, user: deployer, namespace: apps}',
  'current-context: fake',
].join('\n');

/** The runner's variables and files for one step (the end-to-end tests' `stepEnvironment`). */
function runnerEnvironment(): { env: Record<string, string>; dir: string } {
  const inputs = { build: 'false', image: IMAGE, tags: 'v1', deployments: 'apps/web', kubeconfig };
  return stepEnvironment(process.env as Record<string, string>, inputs, { INPUT_TIMEOUT: '5m', INPUT_BAKE: '0s' });
}

interface Sample {
  firstMs: number;
  cpuMs: number;
}

/** One step: start -> first request (and the step's CPU time by then); resolves once the step has exited. */
async function once(bundle: string): Promise<Sample> {
  let sample: Sample | undefined;
  const step = runnerEnvironment();
  const started = now();
  const child = spawn(NODE, [bundle], { env: step.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  onFirst = (t) => (sample = { firstMs: t - started, cpuMs: cpuMs(child.pid ?? 0) });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await new Promise((done) => child.on('close', done));
  clearTimeout(kill);
  rmSync(step.dir, { recursive: true, force: true });
  if (sample === undefined) {
    const shown = log.split('\n').filter((l) => !l.startsWith('::add-mask::'));
    throw new Error(`${bundle} sent no request to the API server:\n${shown.slice(-15).join('\n')}`);
  }
  return sample;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};
const stats = (xs: number[]): string =>
  `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;

try {
  const samples = new Map<string, Sample[]>(bundles.map((b) => [b, []]));
  for (let run = 1; run <= RUNS; run += 1) {
    for (const bundle of bundles) samples.get(bundle)?.push(await once(bundle));
  }
  for (const [bundle, list] of samples) {
    console.log(`${bundle}, ${RUNS} runs:`);
    console.log(`  start -> first API request  ${stats(list.map((s) => s.firstMs))}`);
    console.log(`  main-thread CPU by then     ${stats(list.map((s) => s.cpuMs))}`);
  }
} finally {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
}
