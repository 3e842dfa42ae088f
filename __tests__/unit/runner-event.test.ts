import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headCommitTime, pullRequestHead } from '../../src/runner-event.js';

const HEAD = 'feedface'.repeat(5);

/** An event file with this content, in a fresh folder. */
function eventFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'event-')), 'event.json');
  writeFileSync(path, content);
  return path;
}

describe('pullRequestHead', () => {
  it("reads the head commit of a pull request event's payload", () => {
    const path = eventFile(JSON.stringify({ pull_request: { number: 7, head: { sha: HEAD } } }));
    expect(pullRequestHead({ GITHUB_EVENT_PATH: path })).toBe(HEAD);
  });

  it.each([
    ['no event file named', {}],
    ['a missing event file', { GITHUB_EVENT_PATH: join(tmpdir(), 'no-such-dir-kube-ship', 'event.json') }],
    ['an event file that is not JSON', { GITHUB_EVENT_PATH: eventFile('{ not json') }],
    ['an event file of JSON null', { GITHUB_EVENT_PATH: eventFile('null') }],
    ['a push event', { GITHUB_EVENT_PATH: eventFile(JSON.stringify({ head_commit: { id: HEAD } })) }],
    [
      'a head that is not a string',
      { GITHUB_EVENT_PATH: eventFile(JSON.stringify({ pull_request: { head: { sha: 7 } } })) },
    ],
  ])('is undefined for %s', (_, env: NodeJS.ProcessEnv) => {
    expect(pullRequestHead(env)).toBeUndefined();
  });
});

describe('headCommitTime', () => {
  it("reads when a push event's head commit was made", () => {
    const path = eventFile(JSON.stringify({ head_commit: { id: HEAD, timestamp: '2026-03-04T05:06:07+02:00' } }));
    expect(headCommitTime({ GITHUB_EVENT_PATH: path })).toBe('2026-03-04T05:06:07+02:00');
  });

  it.each([
    ['no event file named', {}],
    ['an event file that is not JSON', { GITHUB_EVENT_PATH: eventFile('{ not json') }],
    [
      'a timestamp that is not a string',
      { GITHUB_EVENT_PATH: eventFile(JSON.stringify({ head_commit: { timestamp: 1 } })) },
    ],
    [
      'a pull request event',
      { GITHUB_EVENT_PATH: eventFile(JSON.stringify({ pull_request: { head: { sha: HEAD } } })) },
    ],
  ])('is undefined for %s', (_, env: NodeJS.ProcessEnv) => {
    expect(headCommitTime(env)).toBeUndefined();
  });
});
