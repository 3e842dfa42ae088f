/**
 * Waiting for rollouts: every target at once, under one deadline, each on a watch of its own objects. Each
 * target's wait is the state machine of wait-state.ts (rolling, baking, verdict); this file only drives it: it owns
 * the watches, the ticker and the abort, sends each target what happened, and ends the wait.
 */
import { within } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import type { Kube, TargetState } from '../cluster/kube.js';
import type { Log } from '../lib/log.js';
import type { Verdict } from './verdict.js';
import type { Workload } from '../cluster/workload.js';
import type { CheckReport, ReleasePod, Verification, VerifyStatus } from './verify.js';
import { advance, releasePods, startWait, type TargetWait, type WaitEvent, type WaitItem } from './wait-state.js';

export type { WaitItem } from './wait-state.js';

export interface WaitOptions {
  deadline: number;
  failFast: boolean;
  signal: AbortSignal;
  /** Restarts a new pod's container may have before a crash fails the rollout. */
  allowedRestarts: number;
  /** How often time-based signals (readiness grace, deadline, bake) are re-checked without a watch event. */
  tickMs?: number;
  /**
   * The checks of `verify`, started once every target marked `verified` is baking, against those targets' new
   * pods; their status reaches those targets' waits.
   */
  verify?: (pods: () => ReleasePod[], onStatus: (status: VerifyStatus) => void) => Verification;
}

export interface WaitResult {
  verdicts: Map<string, Verdict>;
  /** The last workload seen for each target (replica counts, revision). */
  workloads: Map<string, Workload>;
  /** When each target met kubectl's rule (before its bake). */
  rolledOutAt: Map<string, number>;
  /** When each target's verdict became final (after its bake). */
  finishedAt: Map<string, number>;
  /** Restarts of each target's new pods' containers, all told, at the end. */
  restarts: Map<string, number>;
  /** The last state seen of each target, for evidence. */
  states: Map<string, TargetState>;
  /** The last result of each check of `verify` (none when it did not start). */
  checks: CheckReport[];
}

/**
 * Waits until every target is done (rolled out and baked), or one fails (the rest are left as they are: the caller
 * rolls back), or the deadline passes, or `signal` aborts, or watching fails for good (a verdict too: the caller
 * still rolls back). Logs one line per target whenever its progress line changes.
 */
export async function waitForRollouts(
  kube: Kube,
  items: WaitItem[],
  options: WaitOptions,
  log: Log,
  now: () => number = Date.now,
): Promise<WaitResult> {
  const rules = { failFast: options.failFast, allowedRestarts: options.allowedRestarts };
  const targets = new Map(items.map((item) => [item.key, startWait(item, rules)]));
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  /** Sends each target its event (none where `eventFor` gives none) and logs what they say. */
  const send = (eventFor: (key: string) => WaitEvent | undefined, time: number): Verdict[] => {
    for (const [key, target] of targets) {
      const event = eventFor(key);
      if (event === undefined) continue;
      const step = advance(target, event, time);
      targets.set(key, step.state);
      for (const line of step.lines) log.info(line);
    }
    return [...targets.values()].map((t) => t.verdict);
  };
  /** Ends the wait once one target failed or none is still progressing. */
  const settled = (verdicts: Verdict[]): boolean => {
    const over = verdicts.some((v) => v.state === 'failed') || verdicts.every((v) => v.state !== 'progressing');
    if (over) finish();
    return over;
  };
  const checks = verifyWhenBaking(targets, options.verify, (event) => settled(send(() => event, now())));
  /** Every target judged again, `key`'s on the `state` its watch just showed; the deadline checked. */
  const evaluate = (key?: string, state?: TargetState): void => {
    const time = now();
    const verdicts = send((k) => (k === key && state ? { kind: 'seen', state } : { kind: 'tick' }), time);
    if (settled(verdicts)) return;
    checks.poke();
    if (time >= options.deadline) failWith(() => ({ kind: 'deadline' }));
  };
  /** Ends the wait with the verdicts `eventFor` gives (deadline, cancel, watch failure), if one failed. */
  const failWith = (eventFor: (key: string) => WaitEvent | undefined): void => {
    if (send(eventFor, now()).some((v) => v.state === 'failed')) finish();
  };

  const onAbort = (): void => failWith(() => ({ kind: 'cancelled' }));
  if (options.signal.aborted) onAbort();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const ticker = setInterval(evaluate, options.tickMs ?? 500);
  const stop = new AbortController();
  const observers = items.map((item) =>
    kube
      .observe(
        { kind: item.kind, namespace: item.namespace, name: item.name, selector: item.selector },
        (state) => evaluate(item.key, state),
        stop.signal,
      )
      .catch((error: unknown) =>
        failWith((key) => (key === item.key ? { kind: 'watch-failed', message: messageOf(error) } : undefined)),
      ),
  );
  try {
    await finished;
  } finally {
    clearInterval(ticker);
    options.signal.removeEventListener('abort', onAbort);
    stop.abort();
    // The watches end at once on abort; the bound is for a connection that never answers even that.
    await within(2000, Promise.all(observers), () => []);
  }
  return { ...resultOf([...targets.values()]), checks: await checks.stop() };
}

/**
 * The checks of `verify`, started (by `poke`) once every target they are about is baking, against those targets'
 * new pods; each change of their status is an event for those targets. `stop` ends them and returns their results.
 */
function verifyWhenBaking(
  targets: ReadonlyMap<string, TargetWait>,
  start: WaitOptions['verify'],
  onEvent: (event: WaitEvent) => void,
) {
  let verification: Verification | undefined;
  const verified = (): TargetWait[] => [...targets.values()].filter((t) => t.item.verified === true);
  return {
    poke(): void {
      const waiting = verified();
      if (verification || !start || waiting.length === 0 || !waiting.every((t) => t.phase === 'baking')) return;
      verification = start(
        () => verified().flatMap(releasePods),
        (status) =>
          onEvent(
            status.state === 'failed'
              ? { kind: 'verify-failed', message: status.message }
              : { kind: 'verify', status: status.state },
          ),
      );
    },
    stop: async (): Promise<CheckReport[]> => (verification ? verification.stop() : []),
  };
}

/** What the caller reads of the targets' waits, by target key. */
function resultOf(targets: TargetWait[]): Omit<WaitResult, 'checks'> {
  const result: Omit<WaitResult, 'checks'> = {
    verdicts: new Map(),
    workloads: new Map(),
    rolledOutAt: new Map(),
    finishedAt: new Map(),
    restarts: new Map(),
    states: new Map(),
  };
  for (const target of targets) {
    const { key } = target.item;
    result.verdicts.set(key, target.verdict);
    if (target.workload !== undefined) result.workloads.set(key, target.workload);
    if (target.rolledOutAt !== undefined) result.rolledOutAt.set(key, target.rolledOutAt);
    if (target.finishedAt !== undefined) result.finishedAt.set(key, target.finishedAt);
    if (target.restarts !== undefined) result.restarts.set(key, target.restarts);
    if (target.seen !== undefined) result.states.set(key, target.seen);
  }
  return result;
}
