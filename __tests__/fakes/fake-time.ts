import { vi } from 'vitest';

/**
 * `work`'s result on vitest's fake timers: whenever nothing else is left to do, the next timer fires (the fake
 * controller's, the wait's ticker, a retry's backoff), so a timeout, a bake or a backoff takes no real time.
 */
export async function onFakeTime<T>(work: Promise<T>): Promise<T> {
  let settled = false;
  const result = work.finally(() => (settled = true));
  while (!settled) await vi.advanceTimersToNextTimerAsync();
  return result;
}
