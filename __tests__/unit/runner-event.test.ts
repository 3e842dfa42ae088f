import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pullRequestHead } from '../../src/runner-event.js';

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
    ['a push event', { GITHUB_EVENT_PATH: eventFile(JSON.stringify({ head_commit: { id: HEAD } })) }],
    [
      'a head that is not a string',
      { GITHUB_EVENT_PATH: eventFile(JSON.stringify({ pull_request: { head: { sha: 7 } } })) },
    ],
  ])('is undefined for %s', (_, env: NodeJS.ProcessEnv) => {
    expect(pullRequestHead(env)).toBeUndefined();
  });
});
