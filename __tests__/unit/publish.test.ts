/**
 * Publishing through the real adapter (Octokit from @actions/github) against the fake GitHub server: the same HTTP
 * a run on GitHub makes, answered by a local server that records it and can fail the way GitHub does. The adapter
 * gets a clock and a sleep that record the waits GitHub asks for instead of taking them.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, createGitHub } from '../../src/report/github-client.js';
import { retryDelaySeconds, type Connection } from '../../src/report/github.js';
import { parseInputs, type Inputs } from '../../src/desired/inputs.js';
import type { Log } from '../../src/lib/log.js';
import { commentMarker, createPublisher, deploymentStatusOf, type Publisher } from '../../src/report/publish.js';
import type { Report } from '../../src/report/report.js';
import {
  ACCEPTED_WITHOUT_DEPLOYMENT,
  READ_ONLY_MESSAGE,
  startFakeGitHub,
  type FakeGitHub,
} from '../fake-github/server.js';
import { errorReport, noOpReport, rolledBackReport, successReport } from '../fixtures/reports.js';

const HEAD_SHA = 'feedfacecafebeef0123456789abcdef01234567';
/** When each test starts, on the clock the adapter is given (a whole second, as HTTP dates are). */
const T0 = 1_000_000_000_000;

class RecordingLog implements Log {
  infos: string[] = [];
  warnings: string[] = [];
  debugs: string[] = [];
  info(message: string): void {
    this.infos.push(message);
  }
  warning(message: string): void {
    this.warnings.push(message);
  }
  debug(message: string): void {
    this.debugs.push(message);
  }
  group<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}

function inputsOf(raw: Record<string, string> = {}): Inputs {
  const values: Record<string, string> = {
    image: 'ghcr.io/acme/web',
    deployments: 'web/frontend',
    environment: 'staging',
    ...raw,
  };
  return parseInputs((name) => values[name] ?? '', HEAD_SHA);
}

let fake: FakeGitHub;
let log: RecordingLog;
/** The waits the adapter asked for, in ms: none is really taken; each moves `clock` on. */
let sleeps: number[];
let clock: number;
/** How often a publisher opened its connection to GitHub. */
let connects: number;

interface RunOptions {
  /** GITHUB_EVENT_NAME of the run. */
  event?: string;
  /** The pull request of the event's payload. */
  pullRequest?: number | undefined;
  /** The adapter's budget for rate-limit waits. */
  maxWaitSeconds?: number;
}

/** The real adapter against the fake GitHub, on a clock that only moves when it sleeps. */
function connection(pullRequest: number | undefined, maxWaitSeconds: number): Connection {
  return {
    github: createGitHub({
      token: 'ghs_test',
      owner: 'acme',
      repo: 'web',
      apiUrl: fake.url,
      log,
      retry: {
        maxWaitSeconds,
        sleep: (ms) => {
          sleeps.push(ms);
          clock += ms;
          return Promise.resolve();
        },
        now: () => clock,
      },
    }),
    context: { owner: 'acme', repo: 'web', sha: HEAD_SHA, pullRequest },
  };
}

/** The publisher of one run, as main.ts makes it, with the adapter above. */
function publisher(raw: Record<string, string> = {}, run: RunOptions = {}): Publisher {
  const { event = 'pull_request', maxWaitSeconds = 5 } = run;
  const pullRequest = 'pullRequest' in run ? run.pullRequest : 7;
  return createPublisher({
    inputs: inputsOf(raw),
    event,
    connect: () => {
      connects += 1;
      return Promise.resolve(connection(pullRequest, maxWaitSeconds));
    },
    log,
  });
}

/** One run that publishes only its report (no GitHub Deployment unless `raw` asks for one). */
async function publish(report: Report, raw: Record<string, string> = {}, run: RunOptions = {}): Promise<void> {
  const publishing = publisher(raw, run);
  await publishing.startDeployment();
  await publishing.publish(report);
}

/** The requests that change something: GraphQL's viewer query is a POST that only reads. */
const writes = () => fake.requests.filter((r) => r.method !== 'GET' && r.path !== '/graphql');

beforeAll(async () => {
  fake = await startFakeGitHub();
});
afterAll(async () => {
  await fake.stop();
});
beforeEach(() => {
  fake.reset();
  log = new RecordingLog();
  sleeps = [];
  clock = T0;
  connects = 0;
});

describe('the sticky PR comment', () => {
  it('is created on the first run and updated in place on the next: never a second one', async () => {
    await publish(rolledBackReport());
    await publish(successReport());

    const comments = fake.commentsOn(7);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body.startsWith(`${commentMarker('staging')}\n### ✅ Deployed to staging`)).toBe(true);
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /repos/acme/web/issues/7/comments',
      `PATCH /repos/acme/web/issues/comments/${comments[0]!.id}`,
    ]);
    expect(fake.requests[0]!.headers.authorization).toBe('token ghs_test');
    expect(log.infos).toEqual([
      `Commented on pull request #7: https://github.com/acme/web/pull/7#issuecomment-${comments[0]!.id}`,
      `Updated the comment on pull request #7: https://github.com/acme/web/pull/7#issuecomment-${comments[0]!.id}`,
    ]);
    expect(log.warnings).toEqual([]);
  });

  it("carries a failed deploy's evidence", async () => {
    await publish(rolledBackReport());
    const body = fake.commentsOn(7)[0]!.body;
    expect(body).toContain('### ↩️ Deploy to staging failed and was rolled back');
    expect(body).toContain('CrashLoopBackOff in pod <code>frontend-7d9f8c6b5-x2k4q</code>');
    expect(body).toContain('**Last 8 log lines**, previous run (before the last restart):');
    expect(body).toContain('ERROR config: DATABASE_URL is not set');
  });

  it('is found again on a later page among many other comments', async () => {
    for (let i = 0; i < 130; i++) fake.addComment(7, `comment ${i}`);
    await publish(successReport());
    for (let i = 0; i < 20; i++) fake.addComment(7, `later comment ${i}`);
    await publish(noOpReport());

    const ours = fake.commentsOn(7).filter((c) => c.body.includes(commentMarker('staging')));
    expect(ours).toHaveLength(1);
    expect(ours[0]!.body).toContain('Nothing to deploy');
    const pages = fake.requests
      .filter((r) => r.method === 'GET' && r.path.endsWith('/comments'))
      .map((r) => r.query.page ?? '1');
    expect(pages).toEqual(['1', '2', '1', '2']);
  });

  it("never edits another user's comment, even one that starts with the marker", async () => {
    const forged = fake.addComment(7, `${commentMarker('staging')}\nlooks like kube-ship`, 'mallory');
    const quoting = fake.addComment(7, `as the bot said: ${commentMarker('staging')}`, 'github-actions[bot]');
    await publish(successReport());
    expect(fake.comments.find((c) => c.id === forged.id)?.body).toBe(
      `${commentMarker('staging')}\nlooks like kube-ship`,
    );
    expect(fake.comments.find((c) => c.id === quoting.id)?.body).toBe(`as the bot said: ${commentMarker('staging')}`);
    const ours = fake
      .commentsOn(7)
      .filter((c) => c.user.login === 'github-actions[bot]' && c.body.startsWith(commentMarker('staging')));
    expect(ours).toHaveLength(1);
    expect(fake.requests.some((r) => r.method === 'PATCH')).toBe(false);
  });

  it("with a GitHub App's installation token, finds its own comment again and leaves the workflow bot's alone", async () => {
    fake.tokenApp('acme-deployer');
    const workflowBots = fake.addComment(
      7,
      `${commentMarker('staging')}\nwritten by another workflow`,
      'github-actions[bot]',
    );
    await publish(rolledBackReport());
    await publish(successReport());

    const ours = fake.commentsOn(7).filter((c) => c.user.login === 'acme-deployer[bot]');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.body).toContain('### ✅ Deployed to staging');
    expect(fake.comments.find((c) => c.id === workflowBots.id)?.body).toBe(
      `${commentMarker('staging')}\nwritten by another workflow`,
    );
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /repos/acme/web/issues/7/comments',
      `PATCH /repos/acme/web/issues/comments/${ours[0]!.id}`,
    ]);
  });

  it("with a personal access token, finds its user's comment again", async () => {
    fake.tokenUser('release-bot-user');
    await publish(rolledBackReport());
    await publish(successReport());
    expect(fake.commentsOn(7).map((c) => c.user.login)).toEqual(['release-bot-user']);
  });

  it('leaves the log lines out of the comment with comment-logs: false, and says so', async () => {
    await publish(rolledBackReport(), { 'comment-logs': 'false' });
    const body = fake.commentsOn(7)[0]?.body ?? '';
    expect(body).not.toContain('DATABASE_URL is not set');
    expect(body).toMatch(/\d+ log lines not shown here \(comment-logs: false\)/);
  });

  it('is one per environment', async () => {
    await publish({ ...successReport(), environment: 'staging' });
    await publish({ ...successReport(), environment: 'production' }, { environment: 'production' });
    await publish({ ...rolledBackReport(), environment: 'production' }, { environment: 'production' });

    const bodies = fake.commentsOn(7).map((c) => c.body.split('\n').slice(0, 2).join('\n'));
    expect(bodies).toEqual([
      `${commentMarker('staging')}\n### ✅ Deployed to staging`,
      `${commentMarker('production')}\n### ↩️ Deploy to production failed and was rolled back`,
    ]);
  });

  it('comment: auto on a push opens no connection (so Octokit is never loaded): no request, no warning', async () => {
    await publish(successReport(), {}, { event: 'push', pullRequest: undefined });
    expect(connects).toBe(0);
    expect(fake.requests).toEqual([]);
    expect(log.warnings).toEqual([]);
    expect(log.debugs).toContain('No PR comment: the event is push and pr-number is not set.');
  });

  it.each<[string, Record<string, string>, RunOptions, number | undefined, string[], number]>([
    ['auto on a pull_request event', {}, {}, 7, [], 1],
    ['auto on a push, no PR', {}, { event: 'push', pullRequest: undefined }, undefined, [], 0],
    ['auto on a push with pr-number', { 'pr-number': '12' }, { event: 'push', pullRequest: undefined }, 12, [], 1],
    ['auto on a pull_request_target event', {}, { event: 'pull_request_target', pullRequest: 9 }, 9, [], 1],
    ['never on a pull_request event', { comment: 'never' }, {}, undefined, [], 0],
    [
      'always without a PR',
      { comment: 'always' },
      { event: 'workflow_dispatch', pullRequest: undefined },
      undefined,
      [
        'comment is "always" but there is no pull request to comment on: the event is workflow_dispatch and pr-number is not set.',
      ],
      1,
    ],
  ])('comment mode: %s', async (_name, raw, run, issue, warnings, opened) => {
    await publish(successReport(), raw, run);
    expect(writes().map((r) => r.path)).toEqual(
      issue === undefined ? [] : [`/repos/acme/web/issues/${issue}/comments`],
    );
    expect(log.warnings).toEqual(warnings);
    expect(connects).toBe(opened);
  });
});

describe('GitHub Deployments', () => {
  it('creates the deployment, sets it in progress, then success with the environment URL', async () => {
    const publishing = publisher({ 'github-deployment': 'true', 'environment-url': 'https://staging.acme.example' });
    await publishing.startDeployment();
    expect(fake.deployments.map((d) => d.statuses.map((s) => s.state))).toEqual([['in_progress']]);
    await publishing.publish(successReport());

    expect(fake.deployments).toHaveLength(1);
    const deployment = fake.deployments[0]!;
    expect(deployment).toMatchObject({
      ref: HEAD_SHA,
      environment: 'staging',
      required_contexts: [],
      auto_merge: false,
      transient_environment: false,
    });
    expect(deployment.statuses).toEqual([
      { state: 'in_progress', description: 'Deploying ghcr.io/acme/web to staging' },
      {
        state: 'success',
        description: 'Deployed ghcr.io/acme/web:3f9c2ab@4f6e1b2c9d8a',
        environment_url: 'https://staging.acme.example',
        log_url: 'https://github.com/acme/web/actions/runs/9876543210/attempts/1',
      },
    ]);
    expect(fake.commentsOn(7)).toHaveLength(1);
    expect(connects).toBe(1);
    expect(log.warnings).toEqual([]);
  });

  it.each<[string, string, () => Report]>([
    ['rolled back', 'failure', rolledBackReport],
    ['failed before any change', 'inactive', errorReport],
    ['no-op', 'success', noOpReport],
  ])('%s ends %s, with a description GitHub accepts', async (_name, state, make) => {
    const report = { ...make(), failureReason: `${make().failureReason} ${'very long reason '.repeat(20)}` };
    await publish(report, { 'github-deployment': 'true', comment: 'never' });
    const final = fake.deployments[0]!.statuses[1]!;
    expect(final.state).toBe(state);
    expect(final.description.length).toBeLessThan(140);
    expect(deploymentStatusOf(report).state).toBe(state);
    expect(log.warnings).toEqual([]);
  });

  it('handles a 202 without a deployment with a warning and no statuses', async () => {
    fake.fail(ACCEPTED_WITHOUT_DEPLOYMENT);
    await publish(successReport(), { 'github-deployment': 'true' });

    expect(fake.requests.filter((r) => r.path.endsWith('/statuses'))).toEqual([]);
    expect(log.warnings).toEqual([
      'GitHub accepted the deployment for staging without creating one (202: Auto-merged main into topic branch on deployment.); no deployment statuses will be set.',
    ]);
    expect(fake.commentsOn(7)).toHaveLength(1);
  });

  it('does nothing unless github-deployment is true', async () => {
    await publisher({ comment: 'never' }).startDeployment();
    expect(connects).toBe(0);
    expect(fake.requests).toEqual([]);
  });
});

describe('a read-only token, and rate limits', () => {
  it('warns once for the whole run and never throws', async () => {
    fake.readOnly();
    await publish(rolledBackReport(), { 'github-deployment': 'true' });

    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain(`403 "${READ_ONLY_MESSAGE}"`);
    expect(log.warnings[0]).toContain('pull-requests: write');
    expect(log.debugs.some((d) => d.includes('(a GitHub problem was already reported)'))).toBe(true);
    expect(fake.comments).toEqual([]);
  });

  it('a GitHub API answering 502 to every call: one warning, and the deploy result stands', async () => {
    for (let i = 0; i < 6; i++) fake.fail({ status: 502, message: 'Bad Gateway' });
    await publish(rolledBackReport(), { 'github-deployment': 'true' });
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain('HTTP 502');
    expect(log.warnings[0]).toContain('The deploy result stands');
  });

  it('warns once when only the comment is refused', async () => {
    fake.readOnly();
    await publish(successReport());
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(/^Could not comment on pull request #7: the github-token may not write here/);
  });

  it('a connection that cannot be opened (an empty token) is tried once and warned about once', async () => {
    const publishing = createPublisher({
      inputs: inputsOf({ 'github-deployment': 'true' }),
      event: 'pull_request',
      connect: () => {
        connects += 1;
        return Promise.resolve(connect('', log));
      },
      log,
    });
    await publishing.startDeployment();
    await publishing.publish(successReport());
    expect(connects).toBe(1);
    expect(log.warnings).toEqual([
      'Could not publish to GitHub: the github-token input is empty; leave it unset to use the workflow token.',
    ]);
  });

  it.each<[string, number, Record<string, string>, number]>([
    ['429 with Retry-After', 429, { 'retry-after': '2' }, 2000],
    ['403 with Retry-After (secondary rate limit)', 403, { 'retry-after': '2' }, 2000],
    ['Retry-After as an HTTP date', 429, { 'retry-after': new Date(T0 + 30_000).toUTCString() }, 30_000],
    [
      'an exhausted primary limit, until its reset',
      403,
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(T0 / 1000 + 42) },
      42_000,
    ],
  ])('waits as %s asks, then succeeds', async (_name, status, headers, waitMs) => {
    fake.fail({
      method: 'POST',
      path: /\/comments$/,
      status,
      message: 'You have exceeded a secondary rate limit',
      headers,
    });
    await publish(successReport(), {}, { maxWaitSeconds: 60 });

    expect(sleeps).toEqual([waitMs]);
    expect(fake.commentsOn(7)).toHaveLength(1);
    expect(writes()).toHaveLength(2);
    expect(log.infos[0]).toBe(`GitHub rate limit on comment on #7: retrying in ${waitMs / 1000}s as Retry-After asks`);
    expect(log.warnings).toEqual([]);
  });

  it('retries a rate-limited page of the comment list, then finds the comment', async () => {
    fake.addComment(7, `${commentMarker('staging')}\nold report`, 'github-actions[bot]');
    fake.fail({
      method: 'GET',
      path: /\/comments$/,
      status: 429,
      message: 'API rate limit exceeded',
      headers: { 'retry-after': '1' },
    });
    await publish(successReport());
    expect(sleeps).toEqual([1000]);
    expect(fake.requests.map((r) => `${r.method} ${r.path.split('/').at(-1)?.replace(/^\d+$/, 'ID')}`)).toEqual([
      'POST graphql',
      'GET comments',
      'GET comments',
      'PATCH ID',
    ]);
    expect(fake.commentsOn(7)).toHaveLength(1);
    expect(log.warnings).toEqual([]);
  });

  it('gives up with a warning, without waiting, when the wait asked for is beyond the budget', async () => {
    fake.fail({
      method: 'POST',
      path: /\/comments$/,
      status: 429,
      message: 'API rate limit exceeded',
      headers: { 'retry-after': '3600' },
    });
    await publish(successReport(), {}, { maxWaitSeconds: 5 });

    expect(sleeps).toEqual([]);
    expect(fake.comments).toEqual([]);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain('HTTP 429');
    expect(log.warnings[0]).toContain('GitHub asked to wait 3600s more');
    expect(log.warnings[0]).toContain('The deploy result stands');
  });

  it('counts every wait of the run against the budget', async () => {
    fake.fail({
      method: 'POST',
      path: /\/comments$/,
      times: 2,
      status: 429,
      message: 'API rate limit exceeded',
      headers: { 'retry-after': '3' },
    });
    await publish(successReport(), {}, { maxWaitSeconds: 5 });

    expect(sleeps).toEqual([3000]);
    expect(fake.comments).toEqual([]);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain('gave up after 2 attempt(s), GitHub asked to wait 3s more');
  });

  it('gives up after a bounded number of attempts, however short the waits', async () => {
    fake.fail({
      method: 'POST',
      path: /\/comments$/,
      times: 4,
      status: 429,
      message: 'API rate limit exceeded',
      headers: { 'retry-after': '1' },
    });
    await publish(successReport(), {}, { maxWaitSeconds: 60 });

    expect(sleeps).toEqual([1000, 1000, 1000]);
    expect(fake.comments).toEqual([]);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain('gave up after 4 attempt(s)');
  });

  it('a plain 403 is not retried', async () => {
    fake.fail({ method: 'POST', path: /\/comments$/, status: 403, message: 'Must have admin rights to Repository.' });
    await publish(successReport());
    expect(sleeps).toEqual([]);
    expect(writes()).toHaveLength(1);
    expect(log.warnings[0]).toContain('Must have admin rights');
  });

  it.each<[string, number, Record<string, string>, number | undefined]>([
    ['seconds', 429, { 'retry-after': '7' }, 7],
    ['an HTTP date', 403, { 'retry-after': new Date(1_000_000_000_000 + 30_000).toUTCString() }, 30],
    [
      'an exhausted primary limit',
      403,
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(1_000_000_000 + 42) },
      42,
    ],
    ['no hint', 429, {}, undefined],
    ['a 500', 500, { 'retry-after': '7' }, undefined],
  ])('retryDelaySeconds: %s', (_name, status, headers, expected) => {
    expect(retryDelaySeconds(status, headers, 1_000_000_000_000)).toBe(expected);
  });
});

/** The relative modules and packages a source file imports at load time (`import type` and `import()` excluded). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^;]*?\sfrom\s+)?'([^']+)'/gm)].map((m) => m[1]!);
}

describe('Octokit loads only when something is published', () => {
  it('nothing that src/index.ts imports at load time imports @actions/github or github-client.ts', () => {
    const src = join(import.meta.dirname, '../../src');
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of staticImports(join(src, file))) {
        if (spec.startsWith('.')) visit(join(dirname(file), spec).replace(/\.js$/, '.ts'));
        else packages.add(spec);
      }
    };
    visit('index.ts');
    expect([...seen]).toEqual(expect.arrayContaining(['main.ts', 'report/publish.ts', 'report/github.ts']));
    expect(packages).toContain('@actions/core');
    expect(seen).not.toContain('report/github-client.ts');
    expect(packages).not.toContain('@actions/github');
    // The scan itself sees the import it guards against.
    expect(staticImports(join(src, 'report/github-client.ts'))).toContain('@actions/github');
  });
});

describe('the preview a deploy follows', () => {
  const stampBody = (sha: string) =>
    `${commentMarker('staging')}\n<!-- kube-ship:preview ${Buffer.from(
      JSON.stringify({ sha, targets: { 'web/frontend': '100' }, objects: {} }),
    ).toString('base64url')} -->\n### 🔍 Preview`;

  it('is found on the pull request merged as this commit, whose comment the deploy then updates', async () => {
    fake.addComment(9, stampBody('feedface09'), 'github-actions[bot]');
    fake.merge(9, HEAD_SHA, 'feedface09');
    const publishing = publisher({}, { event: 'push', pullRequest: undefined });
    expect(await publishing.findPreview()).toEqual({
      stamp: { sha: 'feedface09', targets: { 'web/frontend': '100' }, objects: {} },
      head: 'feedface09',
    });
    await publishing.publish(successReport());
    const comments = fake.commentsOn(9);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('### ✅ Deployed to staging');
    expect(log.warnings).toEqual([]);
  });

  it('lists the comments once: the deploy updates the preview comment it found, or finds it again if it is gone', async () => {
    fake.addComment(9, stampBody('feedface09'), 'github-actions[bot]');
    fake.merge(9, HEAD_SHA, 'feedface09');
    const lists = () => fake.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/issues/9/comments')).length;
    const publishing = publisher({}, { event: 'push', pullRequest: undefined });
    await publishing.findPreview();
    await publishing.publish(successReport());
    expect(lists()).toBe(1);
    expect(fake.commentsOn(9)).toHaveLength(1);
    expect(fake.commentsOn(9)[0]!.body).toContain('### ✅ Deployed to staging');
    // A preview comment deleted after it was found: the deploy's report is a new comment, one as always.
    fake.comments.splice(0, fake.comments.length);
    fake.addComment(9, stampBody('feedface09'), 'github-actions[bot]');
    const again = publisher({}, { event: 'push', pullRequest: undefined });
    expect(await again.findPreview()).toBeDefined();
    fake.comments.splice(0, fake.comments.length);
    await again.publish(successReport());
    expect(fake.commentsOn(9)).toHaveLength(1);
    expect(log.warnings).toEqual([]);
  });

  it("comes with the merged pull request's head as GitHub gives it, or none when GitHub does not say", async () => {
    fake.addComment(9, stampBody('feedface09'), 'github-actions[bot]');
    fake.merge(9, HEAD_SHA, 'beefbeef10');
    expect(await publisher({}, { event: 'push', pullRequest: undefined }).findPreview()).toMatchObject({
      head: 'beefbeef10',
    });
    fake.addComment(12, stampBody('feedface09'), 'github-actions[bot]');
    expect(
      await publisher({ 'pr-number': '12' }, { event: 'push', pullRequest: undefined }).findPreview(),
    ).toMatchObject({ stamp: { sha: 'feedface09' }, head: undefined });
  });

  it('is none when no pull request was merged as this commit: a push comments nowhere, and warns of nothing', async () => {
    const publishing = publisher({}, { event: 'push', pullRequest: undefined });
    expect(await publishing.findPreview()).toBeUndefined();
    await publishing.publish(successReport());
    expect(writes()).toEqual([]);
    expect(log.warnings).toEqual([]);
  });

  it('is none, without a warning, when the token may not list the pull requests of the commit', async () => {
    fake.fail({ method: 'GET', path: /\/pulls$/, status: 403, message: 'Resource not accessible by integration' });
    const publishing = publisher({}, { event: 'push', pullRequest: undefined });
    expect(await publishing.findPreview()).toBeUndefined();
    expect(log.warnings).toEqual([]);
    expect(log.infos.some((l) => l.startsWith('No preview to compare with: could not look for it'))).toBe(true);
  });

  it("is not read from someone else's comment that quotes the stamp, and never looked for with comment: never", async () => {
    fake.addComment(9, stampBody('feedface09'), 'mallory');
    fake.merge(9, HEAD_SHA);
    expect(await publisher({}, { event: 'push', pullRequest: undefined }).findPreview()).toBeUndefined();
    fake.requests.length = 0;
    expect(await publisher({ comment: 'never' }, { event: 'push' }).findPreview()).toBeUndefined();
    expect(fake.requests).toEqual([]);
  });
});
