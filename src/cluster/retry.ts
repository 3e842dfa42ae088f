/**
 * Retrying what can pass: a request that met no answer, a 429 or a 5xx is sent again with kube-watch's backoff
 * until a deadline.
 */
import { sleep } from '../lib/deadline.js';
import type { Log } from '../lib/log.js';
import { KubeError } from './kube.js';
import { isTransient, nextStep } from './kube-watch.js';

/**
 * Calls `fn` until it succeeds, retrying errors that can pass (no answer, 429, 5xx) with backoff until `deadline`;
 * anything else, or the deadline, rethrows. `onRetry` says what happened.
 */
export async function retryingTransient<T>(
  fn: () => Promise<T>,
  deadline: number,
  onRetry: (error: KubeError) => void,
): Promise<T> {
  for (let failures = 1; ; failures += 1) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof KubeError) || !isTransient(error.status)) throw error;
      const step = nextStep({ kind: 'error', error }, failures);
      const delay = step.action === 'retry' ? step.delayMs : 0;
      if (Date.now() + delay > deadline) throw error;
      onRetry(error);
      await sleep(delay);
    }
  }
}

/** The line said before a request that can pass is sent again; `key` names the object when the error does not. */
export function logRetry(log: Log, key?: string): (error: KubeError) => void {
  return (error) => log.info(`${key === undefined ? '' : `${key}: `}${error.message}; trying again`);
}
