/**
 * Writing to an object someone else may write to at the same time: read it, decide what to send from what was read,
 * send it. A 409 Conflict means it changed between the read and the write (the write carried the resourceVersion
 * read, or a uid precondition), so it is read again and decided again from what is there now, a few times at most.
 */
import { sleep } from '../lib/deadline.js';
import type { Log } from '../lib/log.js';
import { isStatus, KubeError } from '../cluster/kube.js';
import { isTransient, nextStep } from '../cluster/kube-watch.js';
import { logRetry } from '../cluster/retry.js';

/** Conflicts met before a write gives up (and its 409 is the error). */
export const MAX_CONFLICTS = 3;

export interface ConflictRetry<Live, Plan, Result> {
  /** `namespace/name` or `Kind namespace/name`: names the object in the log. */
  key: string;
  /** What the write does, for the log: `ns/web changed while being patched`. */
  doing: 'patched' | 'restored';
  /** The object as it is now. */
  read: () => Promise<Live>;
  /** What to do given the object as read, and what was decided on the read before (undefined the first time). */
  decide: (live: Live, previous: Plan | undefined) => Plan;
  /** Carries out the plan (a plan that needs no write just returns its result). */
  write: (plan: Plan) => Promise<Result>;
  /**
   * Until then, a write that met an error that can pass (no answer, 429, 5xx) is followed by a new read after a
   * backoff: the write may have landed, which only a read tells. Without it, such an error is thrown at once.
   */
  transientUntil?: number;
  log: Log;
}

/** Reads, decides and writes until a write goes through; a 409 reads and decides again, up to MAX_CONFLICTS. */
export async function withConflictRetry<Live, Plan, Result>(loop: ConflictRetry<Live, Plan, Result>): Promise<Result> {
  let previous: Plan | undefined;
  let conflicts = 0;
  let failures = 0;
  for (;;) {
    const plan = loop.decide(await loop.read(), previous);
    previous = plan;
    try {
      return await loop.write(plan);
    } catch (error) {
      const until = loop.transientUntil;
      if (error instanceof KubeError && isTransient(error.status) && until !== undefined && Date.now() < until) {
        logRetry(loop.log, loop.key)(error);
        failures += 1;
        const step = nextStep({ kind: 'error', error }, failures);
        await sleep(step.action === 'retry' ? step.delayMs : 0);
        continue;
      }
      conflicts += 1;
      if (!isStatus(error, 409) || conflicts >= MAX_CONFLICTS) throw error;
      loop.log.info(`${loop.key} changed while being ${loop.doing} (409 Conflict); reading it again`);
    }
  }
}
