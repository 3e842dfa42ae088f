import { describe, expect, it } from 'vitest';
import { MAX_CONFLICTS, withConflictRetry } from '../../src/deploy/conflict.js';
import { KubeError } from '../../src/cluster/kube.js';
import { recordingLog } from '../fakes/fake-kube.js';

/** An object whose version moves at each read, and a write that throws `writeErrors` in turn, then succeeds. */
function scene(writeErrors: Error[]) {
  let version = 0;
  const decided: { live: number; previous: string | undefined }[] = [];
  const written: string[] = [];
  const log = recordingLog();
  const loop = {
    key: 'ns/web',
    doing: 'patched' as const,
    read: async () => (version += 1),
    decide: (live: number, previous: string | undefined) => {
      decided.push({ live, previous });
      return `plan from version ${live}`;
    },
    write: async (plan: string) => {
      written.push(plan);
      const error = writeErrors.shift();
      if (error) throw error;
      return `wrote ${plan}`;
    },
    log,
  };
  return { loop, decided, written, log };
}

const conflict = () => new KubeError(409, 'the object has been modified');

describe('withConflictRetry', () => {
  it('reads again after a 409 and decides from the new read (and the plan before)', async () => {
    const { loop, decided, written, log } = scene([conflict()]);
    await expect(withConflictRetry(loop)).resolves.toBe('wrote plan from version 2');
    expect(decided).toEqual([
      { live: 1, previous: undefined },
      { live: 2, previous: 'plan from version 1' },
    ]);
    expect(written).toEqual(['plan from version 1', 'plan from version 2']);
    expect(log.lines).toEqual(['ns/web changed while being patched (409 Conflict); reading it again']);
  });

  it(`gives up after ${MAX_CONFLICTS} conflicts, with the 409`, async () => {
    const { loop, written } = scene(Array.from({ length: 10 }, conflict));
    await expect(withConflictRetry(loop)).rejects.toMatchObject({ status: 409 });
    expect(written).toHaveLength(MAX_CONFLICTS);
  });

  it('throws any other error at once, without reading again', async () => {
    const { loop, decided } = scene([new KubeError(403, 'forbidden')]);
    await expect(withConflictRetry(loop)).rejects.toMatchObject({ status: 403 });
    expect(decided).toHaveLength(1);
  });

  it('reads again after an error that can pass while it may, and says so', async () => {
    const { loop, decided, log } = scene([new KubeError(503, 'patch ns/web: unavailable', '', 0)]);
    const result = withConflictRetry({ ...loop, transientUntil: Date.now() + 60_000 });
    await expect(result).resolves.toBe('wrote plan from version 2');
    expect(decided).toHaveLength(2);
    expect(log.lines).toEqual(['ns/web: patch ns/web: unavailable; trying again']);
  });

  it('throws an error that can pass at once when not told to ride it out, or past the time', async () => {
    const once = scene([new KubeError(503, 'unavailable', '', 0)]);
    await expect(withConflictRetry(once.loop)).rejects.toMatchObject({ status: 503 });
    const late = scene([new KubeError(503, 'unavailable', '', 0)]);
    await expect(withConflictRetry({ ...late.loop, transientUntil: Date.now() - 1 })).rejects.toMatchObject({
      status: 503,
    });
    expect([once.decided, late.decided]).toEqual([
      [{ live: 1, previous: undefined }],
      [{ live: 1, previous: undefined }],
    ]);
  });
});
