/**
 * The report on GitHub, end to end: the bundled action deploys to the local stack as on a pull_request event, and
 * its real Octokit talks to the fake GitHub API (GITHUB_API_URL). Checked on the fake's side: the comments and
 * deployments it holds, and every request it got.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READ_ONLY_MESSAGE, startFakeGitHub, type FakeGitHub } from '../fake-github/server.js';
import { REGISTRY, appInputs, createDeployment, runAction, type ActionRun } from './harness.js';

const PR = 7;
const HEAD_SHA = 'c0ffee0000000000000000000000000000000007';
const marker = (environment: string) => `<!-- kube-ship:comment environment=${environment} -->`;

let fake: FakeGitHub;
let eventPath: string;

/** Runs the action as a pull_request run of acme/web #7, publishing to the fake. */
function runOnPullRequest(tag: string, variant: string, inputs: Record<string, string> = {}): Promise<ActionRun> {
  return runAction(
    appInputs('gh-web', tag, variant, {
      environment: 'staging',
      'environment-url': 'https://staging.acme.example',
      'github-deployment': 'true',
      comment: 'auto',
      'github-token': 'ghs_e2e',
      ...inputs,
    }),
    { env: { GITHUB_API_URL: fake.url, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: eventPath } },
  );
}

const warnings = (run: ActionRun) => run.log.split('\n').filter((l) => l.startsWith('::warning'));

describe('the report on GitHub', () => {
  beforeAll(async () => {
    fake = await startFakeGitHub();
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-event-'));
    eventPath = join(dir, 'event.json');
    writeFileSync(
      eventPath,
      JSON.stringify({ action: 'synchronize', number: PR, pull_request: { number: PR, head: { sha: HEAD_SHA } } }),
    );
    createDeployment('gh-web', `${REGISTRY}/e2e/gh-web:initial`);
  });
  afterAll(async () => {
    await fake?.stop();
  });

  it('the first run creates the sticky comment and a deployment that ends in success', async () => {
    const run = await runOnPullRequest('v1', 'gh1');
    expect(run.exitCode, run.log).toBe(0);
    expect(warnings(run)).toEqual([]);

    const comments = fake.commentsOn(PR);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body.startsWith(`${marker('staging')}\n### ✅ Deployed to staging`)).toBe(true);
    expect(fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/comments'))?.headers.authorization).toBe(
      'token ghs_e2e',
    );

    expect(fake.deployments).toHaveLength(1);
    expect(fake.deployments[0]).toMatchObject({
      ref: HEAD_SHA,
      environment: 'staging',
      required_contexts: [],
      auto_merge: false,
    });
    expect(fake.deployments[0]!.statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(fake.deployments[0]!.statuses[1]).toMatchObject({
      environment_url: 'https://staging.acme.example',
      log_url: 'https://github.com/acme/web/actions/runs/42',
    });
    expect(run.summary).toContain('Deployed to staging');
  });

  it('the second run, a crash loop, updates the same comment, which carries the evidence', async () => {
    const first = fake.commentsOn(PR)[0]!;
    const run = await runOnPullRequest('crashloop-gh', 'gh2');
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');

    const comments = fake.commentsOn(PR);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.id).toBe(first.id);
    const body = comments[0]!.body;
    expect(body).toContain('### ↩️ Deploy to staging failed and was rolled back');
    expect(body).toContain('CrashLoopBackOff');
    expect(body).toMatch(/\*\*Last exit:\*\* code [1-9]/);
    expect(body).toContain('panic: cannot connect to database');
    expect(body).toContain('<details>');
    expect(fake.requests.filter((r) => r.method === 'PATCH').map((r) => r.path)).toEqual([
      `/repos/acme/web/issues/comments/${first.id}`,
    ]);
    expect(fake.deployments[1]!.statuses.map((s) => s.state)).toEqual(['in_progress', 'failure']);
    expect(fake.deployments[1]!.statuses[1]!.description.length).toBeLessThan(140);
  });

  it('a read-only token warns once and still writes the summary and the outputs', async () => {
    fake.readOnly();
    const before = fake.comments.map((c) => c.body);
    const run = await runOnPullRequest('v1', 'gh1');
    fake.readOnly(false);

    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('no-op');
    expect(run.summary).toContain('Nothing to deploy: staging already runs this image');
    const refused = warnings(run);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain(READ_ONLY_MESSAGE);
    expect(fake.comments.map((c) => c.body)).toEqual(before);
  });

  it('a second environment gets its own comment, and the first one is left alone', async () => {
    const staging = fake.commentsOn(PR)[0]!.body;
    const run = await runOnPullRequest('v1', 'gh1', { environment: 'production', 'environment-url': '' });
    expect(run.exitCode, run.log).toBe(0);

    const comments = fake.commentsOn(PR);
    expect(comments).toHaveLength(2);
    expect(comments[0]!.body).toBe(staging);
    expect(
      comments[1]!.body.startsWith(
        `${marker('production')}\n### ➖ Nothing to deploy: production already runs this image`,
      ),
    ).toBe(true);
  });
});
