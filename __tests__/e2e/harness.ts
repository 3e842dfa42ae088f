/**
 * End-to-end harness: the real local stack (Docker engine, registries, Kubernetes control plane with KWOK nodes)
 * and the bundled action run the way the GitHub runner runs it: `node dist/index.js` with INPUT_* and
 * GITHUB_* variables and the runner's files for outputs, summary and state.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import {
  CANARY_ACCESS,
  CANARY_ROUTE_ACCESS,
  REPORT_ACCESS,
  REQUIRED_ACCESS,
  VERIFY_ACCESS,
} from '../../src/cluster/access.js';
import { stepEnvironment, type StepEnvironment } from './step-env.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A new folder inside the workspace (the step's GITHUB_WORKSPACE is ROOT) for files a step reads; git ignores it. */
export function workspaceDir(prefix: string): string {
  const base = join(ROOT, '.stack-files');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}
/** The bundle under test: dist/ by default; another build (e.g. an older one, to see a test fail) with KUBE_SHIP_DIST. */
const DIST = process.env.KUBE_SHIP_DIST || join(ROOT, 'dist');
const NODE = join(ROOT, 'node_modules/.bin/node');

/** The stack's environment (from `.stack/env`, written by `npm run stack:up`). Fails, never skips, without it. */
export function stackEnv(): Record<string, string> {
  const dir = process.env.KUBE_SHIP_STACK_DIR || join(ROOT, '.stack');
  const file = join(dir, 'env');
  if (!existsSync(file)) {
    throw new Error(`The local stack is not up (${file} is missing): run "npm run stack:up" first, or "npm test".`);
  }
  const out = execFileSync('bash', ['-c', `set -a; source '${file}'; env -0`], { encoding: 'utf8' });
  const env: Record<string, string> = {};
  for (const entry of out.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

export const env = stackEnv();
/** The stack's namespace: the least-privilege deployer's ServiceAccount (and the throttled one) live there. */
export const DEPLOYER_NAMESPACE = env.DEPLOYER_NAMESPACE ?? 'kube-ship-e2e';
/**
 * The namespace this test file deploys into: its own (named by the setup file __tests__/e2e/file-namespace.ts), so
 * that files can run at the same time on one stack; the stack's namespace outside vitest (the benches).
 */
export const NAMESPACE = process.env.KUBE_SHIP_E2E_NAMESPACE || DEPLOYER_NAMESPACE;
export const REGISTRY = env.REGISTRY ?? '127.0.0.1:5000';

/** Runs kubectl with the stack's admin kubeconfig; throws with its stderr on failure. */
export function kubectl(args: string[], input?: string, kubeconfig = env.KUBECONFIG ?? ''): string {
  const result = spawnSync('kubectl', args, { env: { ...env, KUBECONFIG: kubeconfig }, input, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

export function kubectlJson<T>(args: string[]): T {
  return JSON.parse(kubectl([...args, '-o', 'json'])) as T;
}

export interface DeploymentOptions {
  replicas?: number;
  readyDelay?: string;
  progressDeadlineSeconds?: number;
  readinessProbe?: boolean;
  extraContainer?: { name: string; image: string };
  namespace?: string;
  /** RollingUpdate maxSurge / maxUnavailable. */
  surge?: number | string;
  unavailable?: number | string;
  nodeSelector?: Record<string, string>;
  /** More pod-template annotations, e.g. `{ 'kube-ship.dev/fault': 'crashloop' }` (scripts/stack/kwok). */
  annotations?: Record<string, string>;
  /** Wait until it is rolled out (default true). */
  wait?: boolean;
}

/** Creates (or replaces) a Deployment in the file's namespace and waits until it is rolled out (unless `wait: false`). */
export function createDeployment(name: string, image: string, options: DeploymentOptions = {}): void {
  const annotations = {
    ...(options.readyDelay ? { 'kube-ship.dev/ready-delay': options.readyDelay } : {}),
    ...options.annotations,
  };
  const probe =
    options.readinessProbe === false
      ? {}
      : { readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1, failureThreshold: 2 } };
  const containers = [{ name: 'app', image, ...probe }];
  if (options.extraContainer) containers.push({ ...options.extraContainer, ...probe });
  const namespace = options.namespace ?? NAMESPACE;
  const strategy =
    options.surge === undefined && options.unavailable === undefined
      ? {}
      : {
          strategy: {
            type: 'RollingUpdate',
            rollingUpdate: { maxSurge: options.surge ?? '25%', maxUnavailable: options.unavailable ?? '25%' },
          },
        };
  const nodeSelector = options.nodeSelector ? { nodeSelector: options.nodeSelector } : {};
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: options.replicas ?? 3,
      progressDeadlineSeconds: options.progressDeadlineSeconds ?? 600,
      selector: { matchLabels: { app: name } },
      ...strategy,
      template: { metadata: { labels: { app: name }, annotations }, spec: { containers, ...nodeSelector } },
    },
  };
  kubectl(['delete', 'deployment', name, '-n', namespace, '--ignore-not-found', '--wait=true']);
  kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
  if (options.wait === false) return;
  kubectl(['rollout', 'status', `deployment/${name}`, '-n', namespace, '--timeout=300s']);
}

/** Creates (or replaces) a StatefulSet or DaemonSet of the sample app and waits until kubectl calls it rolled out. */
export function createWorkload(
  kind: 'statefulset' | 'daemonset',
  name: string,
  image: string,
  options: { replicas?: number; updateStrategy?: string } = {},
): void {
  const probe = { readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1, failureThreshold: 2 } };
  const template = { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image, ...probe }] } };
  const strategy = options.updateStrategy ? { updateStrategy: { type: options.updateStrategy } } : {};
  const spec =
    kind === 'statefulset'
      ? {
          serviceName: name,
          replicas: options.replicas ?? 3,
          selector: { matchLabels: { app: name } },
          template,
          ...strategy,
        }
      : { selector: { matchLabels: { app: name } }, template, ...strategy };
  const manifest = {
    apiVersion: 'apps/v1',
    kind: kind === 'statefulset' ? 'StatefulSet' : 'DaemonSet',
    metadata: { name, namespace: NAMESPACE },
    spec,
  };
  kubectl(['delete', kind, name, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
  kubectl(['delete', 'pods', '-n', NAMESPACE, '-l', `app=${name}`, '--ignore-not-found', '--wait=true']);
  kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
  if (options.updateStrategy !== 'OnDelete') {
    kubectl(['rollout', 'status', `${kind}/${name}`, '-n', NAMESPACE, '--timeout=300s']);
  }
}

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The least-privilege Role's rules, made from what kube-ship may ask for (one source: src/cluster/access.ts). */
export const DEPLOYER_RULES: Rule[] = [
  ...REQUIRED_ACCESS,
  ...REPORT_ACCESS,
  ...VERIFY_ACCESS,
  ...CANARY_ACCESS,
  ...CANARY_ROUTE_ACCESS.route,
  ...CANARY_ROUTE_ACCESS.service,
].map((a) => ({
  apiGroups: [a.group],
  resources: [a.subresource ? `${a.resource}/${a.subresource}` : a.resource],
  verbs: [a.verb],
}));

/**
 * The file's namespace, made if it is missing, with the deployer's Role (the rules the stack gives it in its own
 * namespace) bound to the stack's deployer and throttled ServiceAccounts: their kubeconfigs deploy here as well.
 */
function ensureNamespace(namespace: string): void {
  if (namespace === DEPLOYER_NAMESPACE) return;
  const meta = { name: 'kube-ship-deployer', namespace };
  const subjects = ['kube-ship-deployer', 'kube-ship-throttled'].map((name) => ({
    kind: 'ServiceAccount',
    name,
    namespace: DEPLOYER_NAMESPACE,
  }));
  const items = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta, rules: DEPLOYER_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: meta.name },
      subjects,
    },
  ];
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  // Pods are refused until the controller-manager has made the namespace's default ServiceAccount.
  for (let i = 0; i < 100; i += 1) {
    if (spawnSync('kubectl', ['get', 'serviceaccount', 'default', '-n', namespace], { env }).status === 0) return;
    execFileSync('sleep', ['0.1']);
  }
  throw new Error(`namespace ${namespace}: the controller-manager made no default ServiceAccount in 10 s`);
}
ensureNamespace(NAMESPACE);

/**
 * An identity of its own: a ServiceAccount in the file's namespace bound to a Role with exactly `rules`, and a
 * kubeconfig (YAML, context namespace set) with a fresh token for it, made from the deployer's kubeconfig.
 */
export function serviceAccountKubeconfig(name: string, rules: Rule[], duration = '1h'): string {
  const meta = { name, namespace: NAMESPACE };
  const items = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', ...meta }],
    },
  ];
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  const token = kubectl(['create', 'token', name, '-n', NAMESPACE, `--duration=${duration}`]).trim();
  return readFileSync(env.DEPLOYER_KUBECONFIG ?? '', 'utf8')
    .replace(/token: \S+/, `token: ${token}`)
    .replace(/namespace: [a-z0-9-]+\}/, `namespace: ${NAMESPACE}}`)
    .replaceAll('kube-ship-deployer', name);
}

/**
 * The least-privilege deployer as an identity of the file's own (the stack's deployer's rules, in the file's
 * namespace): its requests are told apart from other files' in the audit log.
 */
export function ownDeployer(): string {
  return serviceAccountKubeconfig('deployer', DEPLOYER_RULES, '2h');
}

/**
 * The least-privilege deployer as an identity of the calling file's own, made before its tests (so the requests it
 * makes, counted at the server, are that file's alone): a getter of its kubeconfig.
 */
export function deployerOfThisFile(): () => string {
  let kubeconfig = '';
  beforeAll(() => {
    kubeconfig = ownDeployer();
  });
  return () => kubeconfig;
}

export interface ActionRun {
  exitCode: number;
  log: string;
  outputs: Record<string, string>;
  summary: string;
  state: Record<string, string>;
  ms: number;
}

/** The log as the runner shows it: `::add-mask::` commands are consumed by the runner, never displayed. */
export function withoutMasks(log: string): string {
  return log
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');
}

/** A namespace made anew (deleted first, waiting for it to be gone), for a test that needs one of its own. */
export function freshNamespace(ns: string): string {
  kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=true']);
  kubectl(['create', 'namespace', ns]);
  return ns;
}

/** Parses the runner's `name<<delimiter` output file format. */
export function parseRunnerFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i] ?? '');
    if (!m) continue;
    const [, name = '', delimiter] = m;
    const value: string[] = [];
    for (i += 1; i < lines.length && lines[i] !== delimiter; i += 1) value.push(lines[i] ?? '');
    values[name] = value.join('\n');
  }
  return values;
}

/**
 * What the runner gives a step (see `stepEnvironment`), on top of the stack's environment: kubectl, docker and the
 * kubeconfig of the stack. `extra` overrides any of it.
 */
export function runnerEnvironment(inputs: Record<string, string>, extra: Record<string, string> = {}): StepEnvironment {
  const step = stepEnvironment(env, inputs, extra);
  stepFolders.push(step.dir);
  return step;
}

/**
 * Each step's RUNNER_TEMP: removed when the test file ends (a bench, which imports this file outside vitest: when its
 * process exits), as the runner empties it after a job.
 */
const stepFolders: string[] = [];
const removeStepFolders = (): void => {
  for (const dir of stepFolders.splice(0)) rmSync(dir, { recursive: true, force: true });
};
if (process.env.VITEST) afterAll(removeStepFolders);
else process.once('exit', removeStepFolders);

/** What the step has written so far: its saved state and its log. */
export interface StepProgress {
  state: Record<string, string>;
  log: string;
}

/** Something to do to the running step once `when` holds: send a signal, cancel as the runner does, or run code. */
export interface DuringStep {
  when: (seen: StepProgress) => boolean;
  act: NodeJS.Signals | 'runner-cancel' | (() => void);
}

/**
 * The runner's cancel, exactly (actions/runner ProcessInvoker): SIGINT, then SIGTERM 7.5 s later, then SIGKILL
 * 2.5 s after that, each only if the step is still running.
 */
function cancelAsRunner(child: ChildProcess): void {
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  child.kill('SIGINT');
  setTimeout(() => alive() && child.kill('SIGTERM'), 7500);
  setTimeout(() => alive() && child.kill('SIGKILL'), 10_000);
}

/** Runs the bundled action (main step, or post step with the state the main step saved). */
export async function runAction(
  inputs: Record<string, string>,
  options: {
    post?: boolean;
    state?: Record<string, string>;
    env?: Record<string, string>;
    /** Sends `signal` to the step once the state it saved satisfies `when` (e.g. records saved = patched). */
    interrupt?: { when: (state: Record<string, string>) => boolean; signal: NodeJS.Signals };
    /** Runs `run` once, while the step goes on, as soon as it has patched its targets (saved its records). */
    whenPatched?: () => void;
    /** More of the same, by the state and the log. */
    during?: DuringStep[];
  } = {},
): Promise<ActionRun> {
  const state = options.post ? { isPost: 'true', ...options.state } : (options.state ?? {});
  const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]));
  const { env: childEnv, files } = runnerEnvironment(inputs, { ...stateEnv, ...options.env });
  // One bundle for both steps, as action.yml says: the post step is told apart by the isPost state.
  const script = join(DIST, 'index.js');
  const started = Date.now();
  const child = spawn(NODE, [script], { env: childEnv, cwd: ROOT });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const pending: DuringStep[] = [...(options.during ?? [])];
  if (options.interrupt) {
    const { when, signal } = options.interrupt;
    pending.push({ when: (seen) => when(seen.state), act: signal });
  }
  if (options.whenPatched) pending.push({ when: (seen) => patched(seen.state), act: options.whenPatched });
  const poll = setInterval(() => {
    const seen = { state: parseRunnerFile(readFileSync(files.GITHUB_STATE, 'utf8')), log };
    for (const step of pending.filter((p) => p.when(seen))) {
      pending.splice(pending.indexOf(step), 1);
      if (step.act === 'runner-cancel') cancelAsRunner(child);
      else if (typeof step.act === 'string') child.kill(step.act);
      else step.act();
    }
  }, 50);
  const exitCode = await new Promise<number>((done) =>
    child.on('close', (code, signal) => done(code ?? (signal ? 128 : -1))),
  );
  clearInterval(poll);
  return {
    exitCode,
    log,
    outputs: parseRunnerFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
    state: parseRunnerFile(readFileSync(files.GITHUB_STATE, 'utf8')),
    ms: Date.now() - started,
  };
}

/** Whether the state the step saved says it has patched its targets (this bundle's key, or an older one's). */
export function patched(state: Record<string, string>): boolean {
  return state['records-file'] !== undefined || state.records !== undefined;
}

/** Kills one part of the stack by its PID and starts it again with the stack's own scripts. */
export function restartStackPart(name: string, secondsDown = 0): void {
  execFileSync('bash', [join(ROOT, 'scripts/stack/restart.sh'), name, String(secondsDown)], {
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
}

/** The images of every pod of a Deployment's current pods (by its selector). */
export function podImages(name: string): string[] {
  const pods = kubectlJson<{
    items: { metadata: { deletionTimestamp?: string }; spec: { containers: { image: string }[] } }[];
  }>(['get', 'pods', '-n', NAMESPACE, '-l', `app=${name}`]);
  return pods.items.filter((p) => !p.metadata.deletionTimestamp).flatMap((p) => p.spec.containers.map((c) => c.image));
}

export function template(name: string, namespace = NAMESPACE): unknown {
  return kubectlJson<{ spec: { template: unknown } }>(['get', 'deployment', name, '-n', namespace]).spec.template;
}

/** The image of a Deployment's first container, as its template has it now. */
export const imageOf = (name: string): string | undefined =>
  (template(name) as { spec: { containers: { image: string }[] } }).spec.containers[0]?.image;

/** The image a test's Deployment starts on (the stack pushes `:initial` for every name the tests use). */
export const initialImage = (name: string): string => `${REGISTRY}/e2e/${name}:initial`;

/** A multi-stage sample app (examples/web) with a variant baked in, so each variant has its own digest. */
export function appInputs(
  name: string,
  tag: string,
  variant: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    image: `${REGISTRY}/e2e/${name}`,
    tags: tag,
    context: join(ROOT, 'examples/web'),
    'build-args': `VARIANT=${variant}\nBASE_IMAGE=${env.BASE_IMAGE ?? 'kube-ship/busybox:latest'}`,
    deployments: `${NAMESPACE}/${name}`,
    ...extra,
  };
}

export interface AuditEvent {
  user: string;
  verb: string;
  uri: string;
  received: number;
  code: number;
}

/** The audit log written by scripts/stack/up.sh (level Metadata, ServiceAccounts only, not kube-system's). */
export class Audit {
  readonly path = join(env.KUBE_SHIP_STACK_DIR ?? join(ROOT, '.stack'), 'logs/audit.log');
  mark(): number {
    return existsSync(this.path) ? statSync(this.path).size : 0;
  }
  /** Events written after `mark` (from the start if the log was rotated since), optionally for one user or some. */
  since(mark: number, user?: string | ((user: string) => boolean)): AuditEvent[] {
    const size = this.mark();
    const from = size < mark ? 0 : mark;
    const fd = openSync(this.path, 'r');
    const buffer = Buffer.alloc(size - from);
    readSync(fd, buffer, 0, buffer.length, from);
    closeSync(fd);
    const events: AuditEvent[] = [];
    for (const line of buffer.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as {
        user?: { username?: string };
        verb: string;
        requestURI: string;
        requestReceivedTimestamp: string;
        responseStatus?: { code?: number };
      };
      const event = {
        user: e.user?.username ?? '',
        verb: e.verb,
        uri: e.requestURI,
        received: Date.parse(e.requestReceivedTimestamp) + micros(e.requestReceivedTimestamp),
        code: e.responseStatus?.code ?? 0,
      };
      if (user === undefined || (typeof user === 'string' ? event.user === user : user(event.user))) events.push(event);
    }
    return events;
  }
}
/** Date.parse keeps milliseconds only: add the microseconds' remainder. */
function micros(ts: string): number {
  const m = /\.(\d+)Z$/.exec(ts);
  return m ? (Number(`0.${m[1]}`) * 1000) % 1 : 0;
}

/** How the API server (and so the audit log) names a ServiceAccount. */
export const serviceAccountUser = (namespace: string, name: string): string =>
  `system:serviceaccount:${namespace}:${name}`;
