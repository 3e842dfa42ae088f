/**
 * kube-ship run the way users run it: the workflows in __tests__/workflows, each with `uses: ./` after an
 * `actions/checkout` step, run by nektos/act on this host (`-P ubuntu-latest=-self-hosted`, Node 24 from
 * node_modules/.bin first on PATH) against the local stack. act reads action.yml itself: the inputs' defaults, the
 * outputs, the post step and its `post-if`. Asserted on act's JSON log (`--json`: one object per line, with each
 * step's result, outputs and summary) and on the cluster.
 *
 * act recognises `actions/checkout` of the repository it runs and copies the working tree instead of fetching;
 * these tests run inside a network namespace that has only loopback, and check that the action cache act was given
 * holds no action and that act never tried to clone one. `KUBE_SHIP_ACT_REPO` runs another working tree (e.g. a copy with a change).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from '../fake-github/server.js';
import { NAMESPACE, REGISTRY, ROOT, createDeployment, env, kubectl, podImages, template } from './harness.js';

const REPO = process.env.KUBE_SHIP_ACT_REPO || ROOT;
const AUTH_REGISTRY = env.AUTH_REGISTRY ?? '127.0.0.1:5001';
const ACT = execFileSync('bash', ['-c', `source '${join(ROOT, 'scripts/stack/versions.sh')}'; echo "$ACT_BIN"`], {
  encoding: 'utf8',
}).trim();

/** One line of `act --json`: a log record, a step's result, or a workflow command (set-output, summary, ...). */
interface ActLine {
  level?: string;
  msg?: string;
  stage?: string;
  step?: string;
  stepID?: string[];
  stepResult?: string;
  jobResult?: string;
  raw_output?: boolean;
  command?: string;
  name?: string;
  arg?: string;
  content?: string;
}

interface ActRun {
  exitCode: number;
  lines: ActLine[];
  /** Everything act printed, JSON or not. */
  text: string;
  ms: number;
  /** The action cache act was given: empty afterwards unless something was fetched. */
  cacheDir: string;
  dockerConfig: string;
}

let work = '';
/** GitHub's API for the runs (act would point the step at api.github.com). */
let github: FakeGitHub | undefined;
let sha7 = '';

beforeAll(async () => {
  expect(existsSync(ACT), `act is built by scripts/stack/install.sh (build-act.sh) into ${ACT}`).toBe(true);
  work = mkdtempSync(join(tmpdir(), 'kube-ship-act-'));
  sha7 = execFileSync('git', ['-C', REPO, 'rev-parse', '--short=7', 'HEAD'], { encoding: 'utf8' }).trim();
  // What the repository's settings would hold: variables and secrets (YAML files, as act reads them).
  writeFileSync(join(work, 'empty'), '');
  github = await startFakeGitHub();
  writeFileSync(join(work, 'env'), `GITHUB_API_URL=${github.url}\n`);
  writeFileSync(
    join(work, 'vars.yml'),
    JSON.stringify({ REGISTRY, AUTH_REGISTRY, BASE_IMAGE: env.BASE_IMAGE ?? 'kube-ship/busybox:latest', NAMESPACE }),
  );
});

afterAll(async () => {
  await github?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  const names = ['defaults', 'rollback', 'staging', 'production', 'cancel', 'web', 'worker'].map((n) => `act-${n}`);
  kubectl(['delete', 'deployment', ...names, '-n', NAMESPACE, '--ignore-not-found', '--wait=false']);
});

/**
 * Runs one workflow file with act, as a push to the repository's current commit. The step environment is the
 * runner's: a fresh HOME and Docker config, the stack's Docker engine, and PATH with Node 24 first (act runs a
 * node24 action with the first `node` on PATH). `during` sees every JSON line as it comes, with act's process.
 */
async function runAct(
  workflow: string,
  options: { actor?: string; token?: string; during?: (line: ActLine, act: ChildProcess) => void } = {},
): Promise<ActRun> {
  const dir = mkdtempSync(join(work, `${workflow}-`));
  const cacheDir = join(dir, 'act-cache');
  const home = join(dir, 'home');
  const dockerConfig = join(dir, 'docker');
  const secrets = join(dir, 'secrets.yml');
  writeFileSync(
    secrets,
    JSON.stringify({
      KUBECONFIG: readFileSync(env.DEPLOYER_KUBECONFIG ?? '', 'utf8'),
      // The runner always has a workflow token; kube-ship only uses it here to look at the event (a push).
      GITHUB_TOKEN: options.token ?? 'act-local-token',
    }),
  );
  const args = [
    'push',
    '--workflows',
    `__tests__/workflows/${workflow}.yml`,
    '--platform',
    'ubuntu-latest=-self-hosted',
    '--json',
    '--no-cache-server',
    '--action-cache-path',
    cacheDir,
    '--secret-file',
    secrets,
    '--var-file',
    join(work, 'vars.yml'),
    '--env-file',
    join(work, 'env'),
    '--input-file',
    join(work, 'empty'),
    '--actor',
    options.actor ?? 'octocat',
  ];
  const childEnv: Record<string, string> = {
    PATH: `${join(ROOT, 'node_modules/.bin')}:${env.PATH ?? ''}`,
    HOME: home,
    DOCKER_HOST: env.DOCKER_HOST ?? '',
    DOCKER_CONFIG: dockerConfig,
    TMPDIR: dir,
    ACT_DISABLE_VERSION_CHECK: '1', // act's one call home (api.nektosact.com), off
  };
  const started = Date.now();
  const child = spawn(ACT, args, { cwd: REPO, env: childEnv });
  let text = '';
  const lines: ActLine[] = [];
  // act's JSON records on either stream, one per line; each stream is split into lines on its own.
  const reader = (): ((chunk: Buffer) => void) => {
    let pending = '';
    return (chunk) => {
      text += chunk.toString();
      pending += chunk.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) {
        if (!part.startsWith('{')) continue;
        let line: ActLine;
        try {
          line = JSON.parse(part) as ActLine;
        } catch {
          continue;
        }
        lines.push(line);
        options.during?.(line, child);
      }
    };
  };
  const [out, err] = [reader(), reader()];
  child.stdout.on('data', out);
  child.stderr.on('data', err);
  const exitCode = await new Promise<number>((done) => child.on('close', (code) => done(code ?? -1)));
  for (const flush of [out, err]) flush(Buffer.from('\n')); // a last line without its newline
  return { exitCode, lines, text, ms: Date.now() - started, cacheDir, dockerConfig };
}

/** Each step's result in a stage (`Main` or `Post`), by step id (act numbers steps without an id from 0). */
function results(run: ActRun, stage = 'Main'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of run.lines) if (l.stage === stage && l.stepResult) out[l.stepID?.[0] ?? ''] = l.stepResult;
  return out;
}

function outputs(run: ActRun, id: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of run.lines) {
    if (l.command === 'set-output' && l.stepID?.[0] === id && l.name) out[l.name] = l.arg ?? '';
  }
  return out;
}

/** What a step printed (its raw output lines) in a stage. */
function stepLog(run: ActRun, id: string, stage = 'Main'): string {
  return run.lines
    .filter((l) => l.raw_output && l.stage === stage && l.stepID?.[0] === id)
    .map((l) => l.msg ?? '')
    .join('');
}

function summaries(run: ActRun): string[] {
  return run.lines.filter((l) => l.command === 'summary').map((l) => l.content ?? '');
}

/** For assertion messages: each step's result line and what act said outside the steps. */
function brief(run: ActRun): string {
  const said = run.lines.filter(
    (l) => l.stepResult || l.jobResult || l.command === 'error' || l.level === 'error' || !l.stage,
  );
  return said.map((l) => l.msg ?? '').join('\n');
}

function jobResult(run: ActRun): string | undefined {
  return run.lines.find((l) => l.jobResult)?.jobResult;
}

/**
 * Nothing fetched: act's cache holds no action (a fetched one is a directory named after it, e.g.
 * `actions-checkout@v5`), only the job's own working directories (16 hex digits; act leaves them after a failed job).
 */
function expectNothingFetched(run: ActRun): void {
  const entries = existsSync(run.cacheDir) ? readdirSync(run.cacheDir) : [];
  expect(entries.filter((e) => !/^[0-9a-f]{16}$/.test(e))).toEqual([]);
  for (const e of entries) expect(readdirSync(join(run.cacheDir, e)).sort()).toEqual(['act', 'hostexecutor', 'tmp']);
  // act's own messages (not the steps' output, which may say anything): no clone, no failed connection.
  // Paths are left out first: the working tree's own path may contain such a word (a CI clone in `.../ci-clone`).
  const own = run.lines
    .filter((l) => !l.raw_output && !l.command)
    .map((l) => (l.msg ?? '').replace(/(unix:\/\/)?\/[^\s'",]+/g, '<path>'));
  expect(own.filter((m) => /\bclone\b|\bfetch|dial tcp|no such host|network is unreachable/i.test(m))).toEqual([]);
}

const image = (name: string, tag: string) => `${REGISTRY}/act/${name}:${tag}`;
const appImage = (name: string) =>
  kubectl(['get', 'deployment', name, '-n', NAMESPACE, '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);

describe('kube-ship under act', () => {
  it('runs in a network namespace with only loopback, so act can fetch nothing', () => {
    expect(Object.keys(networkInterfaces())).toEqual(['lo']);
  });

  it("deploys with action.yml's defaults, and the next step reads steps.ship.outputs", async () => {
    createDeployment('act-defaults', image('defaults', 'v0'), { replicas: 2 });
    const run = await runAct('defaults');
    console.log(`act defaults: ${run.ms} ms`);
    expect(run.exitCode, brief(run)).toBe(0);
    expect(jobResult(run)).toBe('success');
    // checkout (skipped by act: the working tree is copied), the login step, kube-ship, the check.
    expect(results(run)).toEqual({ '0': 'success', '1': 'success', ship: 'success', '3': 'success' });
    expect(results(run, 'Post')).toEqual({ ship: 'success' });
    const out = outputs(run, 'ship');
    expect(out.result).toBe('success');
    expect(out.image).toMatch(new RegExp(`^${REGISTRY}/act/defaults:${sha7}@sha256:[0-9a-f]{64}$`));
    expect(out.image.endsWith(`@${out.digest}`)).toBe(true);
    expect(JSON.parse(out['previous-images'] ?? '{}')).toEqual({
      [`${NAMESPACE}/act-defaults`]: { app: image('defaults', 'v0') },
    });
    expect(stepLog(run, '3')).toContain(`outputs checked: result=success image=${out.image}`);
    // The defaults at work: the kubeconfig from KUBECONFIG, the 30 s bake, no GitHub publishing on a push; GitHub
    // is only asked (at GITHUB_API_URL, the fake) which pull request was merged as the commit, for its preview.
    expect(stepLog(run, 'ship')).toContain('baking 30s');
    expect(github?.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(github?.requests.some((r) => /\/commits\/[0-9a-f]{40}\/pulls$/.test(r.path))).toBe(true);
    expect(run.lines.filter((l) => l.command === 'warning' || l.command === 'error')).toEqual([]);
    expect(summaries(run).join('')).toContain('Deployed');
    expect(appImage('act-defaults')).toBe(out.image);
    expect(new Set(podImages('act-defaults'))).toEqual(new Set([out.image]));
    expectNothingFetched(run);
  });

  it('rolls back a crash-looping release; an if: failure() step reads failure-reason', async () => {
    createDeployment('act-rollback', image('rollback', 'v0'), { replicas: 2 });
    const recorded = template('act-rollback');
    const run = await runAct('rollback');
    console.log(`act rollback: ${run.ms} ms`);
    expect(run.exitCode).not.toBe(0);
    expect(jobResult(run)).toBe('failure');
    expect(results(run), brief(run)).toEqual({ '0': 'success', ship: 'failure', '2': 'success' });
    const out = outputs(run, 'ship');
    expect(out.result).toBe('rolled-back');
    expect(out['failure-reason']).toContain('CrashLoopBackOff');
    expect(out.image).toContain(':crashloop-act@sha256:');
    expect(stepLog(run, '2')).toContain(`failure-reason=${out['failure-reason']}`);
    expect(run.lines.some((l) => l.command === 'error' && l.stepID?.[0] === 'ship')).toBe(true);
    expect(summaries(run).join('')).toMatch(/rolled back/i);
    expect(template('act-rollback')).toEqual(recorded);
    expectNothingFetched(run);
  });

  it('deploys two environments in one job: staging builds, production gets the same digest', async () => {
    createDeployment('act-staging', image('envs', 'v0'), { replicas: 2 });
    createDeployment('act-production', image('envs', 'v0'), { replicas: 2 });
    const run = await runAct('environments');
    console.log(`act environments: ${run.ms} ms`);
    expect(run.exitCode, brief(run)).toBe(0);
    expect(results(run)).toEqual({ '0': 'success', staging: 'success', production: 'success', '3': 'success' });
    expect(results(run, 'Post')).toEqual({ staging: 'success', production: 'success' });
    const staging = outputs(run, 'staging');
    const production = outputs(run, 'production');
    expect(staging.result).toBe('success');
    expect(production.result).toBe('success');
    expect(production.digest).toBe(staging.digest);
    expect(production.image).toBe(staging.image);
    expect(stepLog(run, '3')).toContain(`production: success ${staging.digest}`);
    expect(summaries(run)).toHaveLength(2);
    expect(appImage('act-staging')).toBe(staging.image);
    expect(appImage('act-production')).toBe(staging.image);
    // Neither post step undoes anything after a finished deploy.
    expect(stepLog(run, 'staging', 'Post') + stepLog(run, 'production', 'Post')).not.toContain('undoing');
    expectNothingFetched(run);
  });

  it("is restored by its post step when act's cancel kills it mid-rollout", async () => {
    createDeployment('act-cancel', image('cancel', 'v0'), { replicas: 2 });
    const recorded = template('act-cancel');
    let patchedTo = '';
    const run = await runAct('cancel', {
      // act's cancel (SIGINT, as Ctrl-C) once the rollout is being watched: act SIGKILLs the step, then runs the
      // post steps.
      during: (line, act) => {
        if (!patchedTo && line.stepID?.[0] === 'ship' && /updated, \d+ available/.test(line.msg ?? '')) {
          patchedTo = appImage('act-cancel');
          act.kill('SIGINT');
        }
      },
    });
    console.log(`act cancel: ${run.ms} ms`);
    expect(patchedTo, brief(run)).toContain(':neverready-act@sha256:');
    expect(run.exitCode).not.toBe(0);
    expect(results(run)).toEqual({ '0': 'success', ship: 'failure' });
    expect(run.text).toContain('this step has been cancelled: signal: killed');
    // Killed: the main step wrote no result of its own.
    expect(outputs(run, 'ship').result).toBeUndefined();
    expect(results(run, 'Post')).toEqual({ ship: 'success' });
    const post = stepLog(run, 'ship', 'Post');
    expect(run.text).toContain(`The deploy did not finish: undoing what it changed in ${NAMESPACE}/act-cancel`);
    expect(post).toContain(`${NAMESPACE}/act-cancel: restored the recorded template`);
    expect(template('act-cancel')).toEqual(recorded);
    kubectl(['rollout', 'status', 'deployment/act-cancel', '-n', NAMESPACE, '--timeout=60s']);
    expect(new Set(podImages('act-cancel'))).toEqual(new Set([image('cancel', 'v0')]));
    expectNothingFetched(run);
  });

  it("runs the README's main example (adapted to the local stack)", async () => {
    // readme.yml is the README's first example: the same kube-ship inputs, those the stack does not change as they are.
    type Step = { uses?: string; with?: Record<string, string> };
    const stepOf = (workflow: string, uses: RegExp): Step => {
      const doc = yaml.load(workflow) as { jobs: Record<string, { steps: Step[] }> };
      const step = Object.values(doc.jobs)[0]?.steps.find((s) => uses.test(s.uses ?? ''));
      expect(step, workflow).toBeDefined();
      return step ?? {};
    };
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = stepOf(/```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? '', /^kube-ship\/kube-ship@/);
    const adapted = stepOf(readFileSync(join(ROOT, '__tests__/workflows/readme.yml'), 'utf8'), /^\.\/$/);
    expect(Object.keys(adapted.with ?? {})).toEqual(expect.arrayContaining(Object.keys(example.with ?? {})));
    for (const key of [
      'registry-username',
      'registry-password',
      'target',
      'kubeconfig',
      'environment-url',
      'timeout',
    ]) {
      expect(adapted.with?.[key], key).toBe(example.with?.[key]);
    }

    const before = `${AUTH_REGISTRY}/acme/web:v0`;
    createDeployment('act-web', before, { replicas: 2 });
    createDeployment('act-worker', before, { replicas: 2, extraContainer: { name: 'worker', image: before } });
    const password = env.AUTH_REGISTRY_PASSWORD ?? '';
    const run = await runAct('readme', { actor: env.AUTH_REGISTRY_USER ?? 'kube-ship', token: password });
    console.log(`act readme: ${run.ms} ms`);
    expect(run.exitCode, brief(run)).toBe(0);
    expect(results(run)).toEqual({ '0': 'success', ship: 'success', '2': 'success' });
    const out = outputs(run, 'ship');
    expect(out.result).toBe('success');
    expect(out.image).toMatch(new RegExp(`^${AUTH_REGISTRY}/acme/web:${sha7}@sha256:[0-9a-f]{64}$`));
    expect(stepLog(run, '2')).toContain(`deployed ${out.image} (success)`);
    // staging/web: its matching container; staging/worker:worker: only the container named worker.
    expect(appImage('act-web')).toBe(out.image);
    const worker = kubectl(['get', 'deployment', 'act-worker', '-n', NAMESPACE, '-o', 'json']);
    const containers = (
      JSON.parse(worker) as { spec: { template: { spec: { containers: { name: string; image: string }[] } } } }
    ).spec.template.spec.containers;
    expect(Object.fromEntries(containers.map((c) => [c.name, c.image]))).toEqual({ app: before, worker: out.image });
    expect(summaries(run).join('')).toContain('https://staging.acme.example');
    // The registry password (the workflow's GITHUB_TOKEN here) is masked: it shows only in act's JSON record of
    // the add-mask command itself (the runner's log has "***"), and the post step logged out.
    expect(run.lines.some((l) => l.command === 'add-mask' && l.arg === password)).toBe(true);
    const shown = run.text.split('\n').filter((l) => l.includes(password) && !l.includes('"command":"add-mask"'));
    expect(shown).toEqual([]);
    const config = join(run.dockerConfig, 'config.json');
    const auths = existsSync(config)
      ? Object.keys((JSON.parse(readFileSync(config, 'utf8')) as { auths?: object }).auths ?? {})
      : [];
    expect(auths).not.toContain(AUTH_REGISTRY);
    expectNothingFetched(run);
  });
});
