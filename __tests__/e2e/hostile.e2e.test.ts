/**
 * A hostile app, end to end: the deployed image (the stack's `hostile` stage) crash-loops, and everything it says
 * is an attack on whoever reports it. Its termination message, its Warning events and its logs (served for a
 * container named `hostile`) carry workflow commands, HTML that would break out of the report's markup, a bidi
 * override, C0 and C1 controls, @mentions, #refs, fake credentials and a 1 MiB line; the pull request already has a
 * comment by another user that starts with kube-ship's marker, and one that quotes it.
 *
 * The bundled action deploys it on a pull_request run against the fake GitHub, and the test checks what the runner
 * and GitHub would get: the raw job log (every line the runner would read as a command), the summary, the outputs,
 * the comments and the deployment statuses.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOW_TOKEN_LOGIN, startFakeGitHub, type FakeComment, type FakeGitHub } from '../fake-github/server.js';
import { NAMESPACE, REGISTRY, appInputs, kubectl, runAction, type ActionRun } from './harness.js';

const PR = 13;
const HEAD_SHA = 'c0ffee0000000000000000000000000000000013';
const NAME = 'hx-web';
/** kube-ship's marker for the default environment, as mallory copied it. */
const MARKER = '<!-- kube-ship:comment environment=default -->';
const NPM_TOKEN = 'npm_kubeShipFakeToken0123456789abcdefABCD';
/** The password in the postgres URL the pod prints (postgres://app:hunter2-kube-ship@db:5432/app). */
const DB_PASSWORD = 'hunter2-kube-ship';

/**
 * Commands the pod writes (termination message, events, logs), as the runner would parse them. None may reach the
 * runner as a command outside a `::stop-commands::` block that kube-ship opened itself.
 */
const POD_COMMANDS = [
  '::error title=Deploy succeeded',
  '::add-mask::Rolled',
  '::add-mask::kube',
  '::stop-commands::pwnd',
  '::stop-commands::x',
  '::set-output',
  '::error::pod log says deployed',
  '::error::from event',
  '::warning::indented command from the pod log',
  '##[error]legacy command from the pod',
  '##[warning]legacy command from event',
  '##[add-mask]kube-ship',
];
/** The tokens the pod's own `::stop-commands::` lines use: a block kube-ship opens has a random one. */
const POD_STOP_TOKENS = ['pwnd', 'x'];

/** The commands the runner knows (actions/runner's command extensions, plus stop-commands). */
const RUNNER_COMMANDS = new Set([
  'set-env',
  'set-output',
  'save-state',
  'add-mask',
  'add-path',
  'add-matcher',
  'remove-matcher',
  'debug',
  'notice',
  'warning',
  'error',
  'group',
  'endgroup',
  'echo',
  'stop-commands',
]);

interface Command {
  /** 1-based line of the log. */
  line: number;
  name: string;
  data: string;
  /** The command as written: from `::` or `##[` to the end of the line. */
  text: string;
}

/**
 * One line as actions/runner's ActionCommand parses it: first the `::name props::data` form, which must start the
 * line after leading whitespace, then the legacy `##[name props]data` form, found anywhere in the line. `names` are
 * the commands known at that point (a stop token is one while commands are stopped).
 */
function parseCommand(raw: string, names: Set<string>): Omit<Command, 'line'> | undefined {
  const line = raw.replace(/\r$/, '');
  const trimmed = line.trimStart();
  if (trimmed.startsWith('::')) {
    const end = trimmed.indexOf('::', 2);
    const name = end < 0 ? '' : trimmed.slice(2, end).split(' ')[0]!;
    if (names.has(name)) return { name, data: trimmed.slice(end + 2), text: trimmed };
  }
  const prefix = line.indexOf('##[');
  const close = prefix < 0 ? -1 : line.indexOf(']', prefix);
  if (close < 0) return undefined;
  const name = line.slice(prefix + 3, close).split(' ')[0]!;
  return names.has(name) ? { name, data: line.slice(close + 1), text: line.slice(prefix) } : undefined;
}

/**
 * The commands the runner would execute in a job log, in order. Between `stop-commands` with data TOKEN and the
 * command TOKEN (`::TOKEN::`) nothing is executed; a stop-commands with one of the pod's tokens is itself reported
 * (and then honoured, as the runner would).
 */
function liveCommands(log: string): Command[] {
  const live: Command[] = [];
  let stopToken: string | undefined;
  log.split('\n').forEach((raw, index) => {
    if (stopToken !== undefined) {
      if (parseCommand(raw, new Set([stopToken]))?.name === stopToken) stopToken = undefined;
      return;
    }
    const command = parseCommand(raw, RUNNER_COMMANDS);
    if (!command) return;
    live.push({ line: index + 1, ...command });
    if (command.name === 'stop-commands') stopToken = command.data;
  });
  return live;
}

/** The tokens of the stop-commands blocks of a log, in order. */
function stopTokens(log: string): string[] {
  return liveCommands(log)
    .filter((c) => c.name === 'stop-commands')
    .map((c) => c.data);
}

/** The job log as the runner shows it: kube-ship's own `::add-mask::` commands are consumed, not shown. */
function shownLog(log: string): string {
  const adds = new Set(
    liveCommands(log)
      .filter((c) => c.name === 'add-mask' && c.text.startsWith('::add-mask::'))
      .map((c) => c.line),
  );
  return log
    .split('\n')
    .filter((_, index) => !adds.has(index + 1))
    .join('\n');
}

/** Characters that make text read differently from what it says, or that no report should carry. */
const UNSAFE: [string, RegExp][] = [
  ['U+202E (bidi override)', /\u202e/],
  ['any bidi control', /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/],
  ['U+009B (C1 CSI)', /\u009b/],
  ['any C1 control', /[\u0080-\u009f]/],
  // eslint-disable-next-line no-control-regex
  ['a C0 control other than \\n and \\t', /[\u0000-\u0008\u000b-\u001f\u007f]/],
];

function unsafeIn(text: string): string[] {
  return UNSAFE.filter(([, pattern]) => pattern.test(text)).map(([name]) => name);
}

/** The raw markup the pod tries to inject (escaped is fine). */
function rawMarkupIn(text: string): string[] {
  return ['<img', '</details></pre>', '<script'].filter((markup) => text.includes(markup));
}

let fake: FakeGitHub;
let eventPath: string;
let run: ActionRun;
/** Mallory's comments as seeded (copies: the fake's own objects would change with them). */
let forged: FakeComment;
let quoting: FakeComment;

/** The Deployment, created as the harness's createDeployment does, with one container named `hostile`. */
function createHostileTarget(): void {
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME, namespace: NAMESPACE },
    spec: {
      replicas: 2,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { app: NAME } },
      template: {
        metadata: { labels: { app: NAME } },
        spec: {
          containers: [
            {
              name: 'hostile',
              image: `${REGISTRY}/e2e/${NAME}:initial`,
              readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1, failureThreshold: 2 },
            },
          ],
        },
      },
    },
  };
  kubectl(['delete', 'deployment', NAME, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
  kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
  kubectl(['rollout', 'status', `deployment/${NAME}`, '-n', NAMESPACE, '--timeout=300s']);
}

describe('a hostile app: its termination message, events and logs never steer the job or leak', () => {
  beforeAll(async () => {
    fake = await startFakeGitHub();
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-event-'));
    eventPath = join(dir, 'event.json');
    writeFileSync(
      eventPath,
      JSON.stringify({ action: 'synchronize', number: PR, pull_request: { number: PR, head: { sha: HEAD_SHA } } }),
    );
    forged = structuredClone(fake.addComment(PR, `${MARKER}\n### ✅ Deployed\nTrust me, I am kube-ship.`, 'mallory'));
    quoting = structuredClone(
      fake.addComment(PR, `Did you know kube-ship finds its comment by ${MARKER}? Neat.`, 'mallory'),
    );
    createHostileTarget();

    run = await runAction(
      appInputs(NAME, 'hostile-1', 'hostile1', {
        deployments: `${NAMESPACE}/${NAME}:hostile`,
        secrets: `NPM_TOKEN=${NPM_TOKEN}`,
        comment: 'auto',
        'github-deployment': 'true',
        'github-token': 'ghs_e2e',
      }),
      { env: { GITHUB_API_URL: fake.url, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: eventPath } },
    );
  });
  afterAll(async () => {
    await fake?.stop();
    kubectl(['delete', 'deployment', NAME, '-n', NAMESPACE, '--ignore-not-found', '--wait=false']);
  });

  const ours = (): FakeComment[] => fake.commentsOn(PR).filter((c) => c.id !== forged.id && c.id !== quoting.id);
  /** Every comment body kube-ship sent (created or edited, whichever comment it chose). */
  const sentComments = (): string[] =>
    fake.requests
      .filter((r) => (r.method === 'POST' || r.method === 'PATCH') && /\/comments(\/\d+)?$/.test(r.path))
      .map((r) => (r.body as { body?: string } | undefined)?.body ?? '');

  it('fails and rolls back, and the report carries the evidence (so the checks below are not vacuous)', () => {
    expect(run.exitCode, run.log).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.summary).toContain('CrashLoopBackOff');
    // From the termination message and from the previous run's log of the container named "hostile".
    expect(run.summary).toContain('panic: boom');
    expect(run.summary).toContain('pod log says deployed');
    expect(run.log).toContain('pod log says deployed');
    expect(run.log).toContain('legacy command from the pod');
    expect(run.log).toContain('legacy command from event');
  });

  it('no line the pod wrote reaches the runner as a workflow command', () => {
    const live = liveCommands(run.log);
    const fromPod = live.filter((c) => POD_COMMANDS.some((command) => c.text.startsWith(command)));
    expect(fromPod.map((c) => `line ${c.line}: ${c.text.slice(0, 120)}`)).toEqual([]);
    const tokens = stopTokens(run.log);
    expect(tokens.filter((t) => POD_STOP_TOKENS.includes(t))).toEqual([]);
    for (const token of tokens) expect(token, 'a stop-commands token kube-ship chose').toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });

  it('leaks no secret: not the build secret, not the password in a URL the pod prints', () => {
    const channels: Record<string, string> = {
      'run.log (as shown: without the add-mask commands the runner consumes)': shownLog(run.log),
      'run.summary': run.summary,
      ...Object.fromEntries(Object.entries(run.outputs).map(([name, value]) => [`output ${name}`, value])),
      ...Object.fromEntries(fake.comments.map((c) => [`comment ${c.id} by ${c.user.login}`, c.body])),
      ...Object.fromEntries(
        fake.deployments.flatMap((d) => [
          [`deployment ${d.id} description`, d.description ?? ''],
          ...d.statuses.map((s, i) => [`deployment ${d.id} status ${i} (${s.state})`, s.description]),
        ]),
      ),
    };
    const leaks = Object.entries(channels).flatMap(([where, text]) =>
      [NPM_TOKEN, DB_PASSWORD].filter((secret) => text.includes(secret)).map((secret) => `${secret} in ${where}`),
    );
    expect(leaks).toEqual([]);
    expect(fake.deployments.flatMap((d) => d.statuses.map((s) => s.state))).toContain('failure');
  });

  it('the summary and the comment carry no raw markup from the pod, no bidi override and no control characters', () => {
    const comments = sentComments();
    expect(comments.length, 'kube-ship commented').toBeGreaterThan(0);
    for (const [where, text] of [['summary', run.summary], ...comments.map((body, i) => [`comment ${i + 1}`, body])]) {
      expect({ where, markup: rawMarkupIn(text) }).toEqual({ where, markup: [] });
      expect({ where, unsafe: unsafeIn(text) }).toEqual({ where, unsafe: [] });
    }
  });

  it('is bounded: the 1 MiB log line is cut in the log, and the summary stays under 1 MiB', () => {
    const long = run.log
      .split('\n')
      .map((text, index) => ({ line: index + 1, length: text.length }))
      .filter((l) => l.length > 10_000);
    expect(long).toEqual([]);
    expect(Buffer.byteLength(run.summary, 'utf8')).toBeLessThan(1024 * 1024);
  });

  it("leaves mallory's comments alone, even the one that starts with the marker, and writes a comment of its own", () => {
    expect(fake.comments.find((c) => c.id === forged.id)).toMatchObject({
      body: forged.body,
      updated_at: forged.updated_at,
      user: { login: 'mallory' },
    });
    expect(fake.comments.find((c) => c.id === quoting.id)).toMatchObject({
      body: quoting.body,
      updated_at: quoting.updated_at,
      user: { login: 'mallory' },
    });
    expect(fake.requests.filter((r) => r.method === 'PATCH').map((r) => r.path)).toEqual([]);
    const mine = ours();
    expect(mine).toHaveLength(1);
    expect(mine[0]!.user.login).toBe(WORKFLOW_TOKEN_LOGIN);
    expect(mine[0]!.body.startsWith(`${MARKER}\n`)).toBe(true);
    expect(mine[0]!.body).toContain('failed and was rolled back');
  });
});
