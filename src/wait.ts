/**
 * Waiting for rollouts: every target at once, under one deadline, on list + watch (one set of watches per
 * namespace, however many Deployments it holds). The verdict is kubectl's rule; with fail-fast the new pods'
 * signals end the wait as soon as they appear.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { messageOf } from './errors.js';
import type { Kube, NamespaceState } from './kube.js';
import type { Log } from './log.js';
import { newReplicaSet, podFailure, podsOf, progressLine, rolloutStatus, type Verdict } from './verdict.js';

export interface WaitItem {
  key: string;
  namespace: string;
  name: string;
  /** The generation the Deployment had after our patch: anything older is a stale view. */
  minGeneration: number;
}

export interface WaitOptions {
  deadline: number;
  failFast: boolean;
  signal: AbortSignal;
  /** How often time-based signals (readiness grace, deadline) are re-checked without a watch event. */
  tickMs?: number;
}

/** The verdict of one target from the state of its namespace. */
export function decide(item: WaitItem, state: NamespaceState, failFast: boolean, now: number): Verdict {
  const deployment = state.deployments.get(item.name);
  if (deployment === undefined) {
    return { state: 'failed', reason: 'Deleted', message: `deployment ${item.key} was deleted during the rollout` };
  }
  if ((deployment.metadata?.generation ?? 0) < item.minGeneration) {
    return { state: 'progressing', message: 'waiting for the patched deployment to be seen' };
  }
  const status = rolloutStatus(deployment);
  if (status.state !== 'progressing' || !failFast) return status;
  const replicaSet = newReplicaSet(deployment, [...state.replicaSets.values()]);
  if (replicaSet === undefined) return status;
  const pods = podsOf(replicaSet, [...state.pods.values()]);
  const containers = deployment.spec?.template.spec?.containers ?? [];
  return podFailure(pods, containers, deployment.spec?.minReadySeconds ?? 0, now) ?? status;
}

export interface WaitResult {
  verdicts: Map<string, Verdict>;
  /** The last Deployment seen for each target (replica counts, revision). */
  deployments: Map<string, V1Deployment>;
  /** When each target's verdict became final. */
  finishedAt: Map<string, number>;
  /** The last state seen of each namespace, for evidence. */
  states: Map<string, NamespaceState>;
}

/**
 * Waits until every target is done, or one fails (the rest are left as they are: the caller rolls back), or the
 * deadline passes, or `signal` aborts, or watching fails for good (a verdict too: the caller still rolls back). Logs one line per target whenever its progress line changes.
 */
export async function waitForRollouts(
  kube: Kube,
  items: WaitItem[],
  options: WaitOptions,
  log: Log,
  now: () => number = Date.now,
): Promise<WaitResult> {
  const verdicts = new Map<string, Verdict>(
    items.map((i) => [i.key, { state: 'progressing', message: 'not seen yet' }]),
  );
  const deployments = new Map<string, V1Deployment>();
  const finishedAt = new Map<string, number>();
  const lastLine = new Map<string, string>();
  const states = new Map<string, NamespaceState>();
  const stop = new AbortController();
  const namespaces = [...new Set(items.map((i) => i.namespace))];

  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const evaluate = (): void => {
    const time = now();
    for (const item of items) {
      const state = states.get(item.namespace);
      if (state === undefined || verdicts.get(item.key)?.state !== 'progressing') continue;
      const verdict = decide(item, state, options.failFast, time);
      const deployment = state.deployments.get(item.name);
      if (deployment) deployments.set(item.key, deployment);
      verdicts.set(item.key, verdict);
      const observed = (deployment?.status?.observedGeneration ?? 0) >= (deployment?.metadata?.generation ?? 0);
      const line =
        verdict.state === 'progressing' && deployment && observed ? progressLine(deployment) : verdict.message;
      if (lastLine.get(item.key) !== line) {
        lastLine.set(item.key, line);
        log.info(`${item.key}: ${line}`);
      }
      if (verdict.state !== 'progressing') finishedAt.set(item.key, time);
    }
    const all = [...verdicts.values()];
    if (all.some((v) => v.state === 'failed') || all.every((v) => v.state === 'done')) finish();
    else if (time >= options.deadline) {
      failRemaining('Timeout', (item) => {
        const last = lastLine.get(item.key) ?? 'no status';
        return `${item.key} did not finish rolling out within "timeout" (last: ${last}); raise "timeout" if it needs longer`;
      });
    }
  };

  /** Ends the wait, with every target still progressing failed for `reason`. */
  const failRemaining = (reason: string, message: (item: WaitItem) => string): void => {
    const time = now();
    for (const item of items) {
      if (verdicts.get(item.key)?.state !== 'progressing') continue;
      verdicts.set(item.key, { state: 'failed', reason, message: message(item) });
      finishedAt.set(item.key, time);
    }
    finish();
  };
  const onAbort = (): void => failRemaining('Cancelled', () => 'the step was cancelled');
  if (options.signal.aborted) onAbort();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const ticker = setInterval(evaluate, options.tickMs ?? 500);
  const observers = namespaces.map((namespace) =>
    kube
      .observe(
        namespace,
        (state) => {
          states.set(namespace, state);
          evaluate();
        },
        stop.signal,
      )
      .catch((error: unknown) =>
        failRemaining('WatchFailed', () => `watching namespace ${namespace} failed: ${messageOf(error)}`),
      ),
  );
  try {
    await finished;
  } finally {
    clearInterval(ticker);
    options.signal.removeEventListener('abort', onAbort);
    stop.abort();
    await Promise.all(observers);
  }
  return { verdicts, deployments, finishedAt, states };
}
