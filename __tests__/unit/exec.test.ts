/**
 * The abortable path of the one exec (`run` with a signal), on real processes: output through files in the runner's
 * temporary folder, removed once read; a command that cannot start is an exit of 127 with the reason, read once.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/image/exec.js';

describe('run with a signal', () => {
  it("writes the output under RUNNER_TEMP and leaves nothing there once it's read", async () => {
    const temp = mkdtempSync(join(tmpdir(), 'kube-ship-runner-temp-'));
    const seen: string[][] = [];
    const result = await run('sh', ['-c', 'ls "$RUNNER_TEMP"; echo out; echo err >&2'], {
      signal: new AbortController().signal,
      env: { RUNNER_TEMP: temp },
      onStarted: () => seen.push(readdirSync(temp)),
    });
    expect(seen[0]?.[0]).toMatch(/^kube-ship-run-/);
    expect(result).toEqual({ exitCode: 0, stdout: expect.stringContaining('out\n'), stderr: 'err\n' });
    expect(readdirSync(temp)).toEqual([]);
  });

  it('a command that cannot start exits 127 with the reason, and the step goes on', async () => {
    const result = await run('/nonexistent/kube-ship-no-such-command', [], { signal: new AbortController().signal });
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toMatch(/ENOENT/);
    await new Promise((r) => setTimeout(r, 50)); // the 'close' after 'error' reads nothing twice
  });
});
