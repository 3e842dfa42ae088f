/**
 * Waiting for rollouts: every target at once, under one deadline, each on list + watch of its own objects. The
 * verdict is kubectl's rule; with fail-fast the new pods' signals end the wait as soon as they appear; once a
 * target meets the rule it bakes (its new pods stay watched for `bakeMs`) before it is done.
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { within } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import type { Kube, TargetState } from '../cluster/kube.js';
import type { Log } from '../lib/log.js';
import {
  newPods,
  newReplicaSet,
  observed,
  podFailure,
  progressLine,
  replicaFailure,
  wantedPods,
  workloadName,
  workloadStatus,
  type PodCheck,
  type Verdict,
} from './verdict.js';
import { kindTitle, type Workload, type WorkloadKind } from '../cluster/workload.js';

export interface WaitItem {
  key: string;
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** The workload's label selector (labelSelector syntax): what its ReplicaSets or revisions and pods are watched by. */
  selector: string;
  /** The generation the workload had after our patch: anything older is a stale view. */
  minGeneration: number;
  /** Our containers and the reference they must carry; another image there means another deploy took over. */
  expected?: { containers: string[]; reference: string };
  /** The Progressing condition's lastUpdateTime when we patched, if it was ProgressDeadlineExceeded then. */
  staleDeadlineAt?: string;
  /** How long to keep watching the new pods once the rollout is done (0 or unset: no bake). */
  bakeMs?: number;
}

export interface WaitOptions {
  deadline: number;
  failFast: boolean;
  signal: AbortSignal;
  /** Restarts a new pod's container may have before a crash fails the rollout. */
  allowedRestarts: number;
  /** How often time-based signals (readiness grace, deadline, bake) are re-checked without a watch event. */
  tickMs?: number;
}

/**
 * What was seen of a target's pods before: restart counts when watching began, and pods once Ready. Kept by the
 * pod's uid, not its name: a StatefulSet's new pod takes the name of the old one it replaces, and must not inherit
 * its readiness or its restarts.
 */
export class PodHistory {
  private readonly restarts = new Map<string, number>();
  private readonly ready = new Set<string>();
  private started = false;

  /** Notes what the pods show now; restart counts are kept only from the first view. */
  see(pods: Iterable<V1Pod>): void {
    for (const pod of pods) {
      const id = podId(pod);
      if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) this.ready.add(id);
      if (this.started) continue;
      for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
        this.restarts.set(`${id}/${cs.name}`, cs.restartCount);
      }
    }
    this.started = true;
  }

  check(now: number, minReadySeconds: number, allowedRestarts: number): PodCheck {
    return {
      now,
      minReadySeconds,
      allowedRestarts,
      restartsBefore: (pod, container) => this.restarts.get(`${podId(pod)}/${container}`) ?? 0,
      wasReady: (pod) => this.ready.has(podId(pod)),
    };
  }
}

/** A pod's identity: its uid (its name only where a uid is missing). */
const podId = (pod: V1Pod): string => pod.metadata?.uid ?? `name:${pod.metadata?.name ?? ''}`;

/** The images our containers carry now, if any of them is not the reference we deployed. */
function supersededBy(item: WaitItem, workload: Workload): string | undefined {
  if (item.expected === undefined) return undefined;
  const spec = workload.spec?.template.spec;
  const all = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  const changed = all.filter((c) => item.expected?.containers.includes(c.name) && c.image !== item.expected.reference);
  return changed.length > 0 ? changed.map((c) => `${c.name}=${c.image}`).join(', ') : undefined;
}

/** The pods of the target's current template, once its revision is known (see `newPods`). */
function currentPods(item: WaitItem, state: TargetState): V1Pod[] | undefined {
  const workload = state.workloads.get(item.name);
  if (workload === undefined) return undefined;
  return newPods({
    kind: item.kind,
    workload,
    replicaSets: [...state.replicaSets.values()],
    revisions: [...state.revisions.values()],
    pods: [...state.pods.values()],
  });
}

/** The verdict of one target from its state (kubectl's rule, then the signals of its new pods). */
export function decide(
  item: WaitItem,
  state: TargetState,
  options: Pick<WaitOptions, 'failFast' | 'allowedRestarts'>,
  history: PodHistory,
  now: number,
): Verdict {
  const workload = state.workloads.get(item.name);
  if (workload === undefined) {
    return {
      state: 'failed',
      reason: 'Deleted',
      message: `${kindTitle(item.kind).toLowerCase()} ${item.key} was deleted during the rollout`,
    };
  }
  if ((workload.metadata?.generation ?? 0) < item.minGeneration) {
    return { state: 'progressing', message: `waiting for the patched ${item.kind} to be seen` };
  }
  const image = supersededBy(item, workload);
  if (image !== undefined) {
    return { state: 'superseded', image, message: `another change took over during the rollout: now ${image}` };
  }
  const status = workloadStatus(item.kind, workload, item.staleDeadlineAt);
  if (status.state === 'failed' || !options.failFast) return status;
  const pods = currentPods(item, state);
  if (pods === undefined) return status;
  const allPods = [...state.pods.values()];
  const check = history.check(now, workload.spec?.minReadySeconds ?? 0, options.allowedRestarts);
  const containers = workload.spec?.template.spec?.containers ?? [];
  // Only a Deployment's ReplicaSet says that it cannot create its pods; the other controllers only emit events.
  const replicaSet =
    item.kind === 'deployment' ? newReplicaSet(workload as V1Deployment, [...state.replicaSets.values()]) : undefined;
  return (replicaSet && replicaFailure(replicaSet, allPods, now)) ?? podFailure(pods, containers, check) ?? status;
}

/** New pods present when the bake began that are gone or going, while the workload was not scaled down. */
function replacedPods(
  item: WaitItem,
  workload: Workload,
  state: TargetState,
  atBakeStart: Set<string>,
  wanted: number,
) {
  if (wantedPods(item.kind, workload) < wanted) return [];
  return [...atBakeStart].filter((name) => {
    const pod = state.pods.get(name);
    return pod === undefined || pod.metadata?.deletionTimestamp !== undefined;
  });
}

interface Bake {
  since: number;
  pods: Set<string>;
  /** Pods the workload wanted when the bake began. */
  wanted: number;
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
  const result: WaitResult = {
    verdicts: new Map(items.map((i) => [i.key, { state: 'progressing', message: 'not seen yet' }])),
    workloads: new Map(),
    rolledOutAt: new Map(),
    finishedAt: new Map(),
    restarts: new Map(),
    states: new Map(),
  };
  const { verdicts, workloads, states, finishedAt } = result;
  const histories = new Map(items.map((i) => [i.key, new PodHistory()]));
  const bakes = new Map<string, Bake>();
  const lastLine = new Map<string, string>();
  const stop = new AbortController();

  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const say = (item: WaitItem, line: string): void => {
    if (lastLine.get(item.key) === line) return;
    lastLine.set(item.key, line);
    log.info(`${item.key}: ${line}`);
  };

  /** One target, rolling out: kubectl's rule and the pod signals; on success, its bake begins. */
  const evaluateRollout = (item: WaitItem, state: TargetState, time: number): Verdict => {
    const verdict = decide(item, state, options, histories.get(item.key) ?? new PodHistory(), time);
    const workload = state.workloads.get(item.name);
    const seen = workload !== undefined && observed(workload);
    say(
      item,
      verdict.state === 'progressing' && workload && seen ? progressLine(workload, item.kind) : verdict.message,
    );
    const bakeMs = item.bakeMs ?? 0;
    if (verdict.state !== 'done' || bakeMs <= 0 || workload === undefined) return verdict;
    result.rolledOutAt.set(item.key, time);
    const pods = currentPods(item, state) ?? [];
    bakes.set(item.key, {
      since: time,
      pods: new Set(pods.map((p) => p.metadata?.name ?? '')),
      wanted: wantedPods(item.kind, workload),
    });
    say(item, `rolled out; baking ${Math.round(bakeMs / 1000)}s (bake: 0s to skip)`);
    return { state: 'progressing', message: 'baking' };
  };

  /** One target, baking: any signal of its new pods fails it; a pod replaced fails it; the end of the bake is done. */
  const evaluateBake = (item: WaitItem, state: TargetState, bake: Bake, time: number): Verdict => {
    const verdict = decide(
      item,
      state,
      { ...options, failFast: true },
      histories.get(item.key) ?? new PodHistory(),
      time,
    );
    if (verdict.state === 'failed' || verdict.state === 'superseded') return verdict;
    const workload = state.workloads.get(item.name);
    const gone = workload ? replacedPods(item, workload, state, bake.pods, bake.wanted) : [];
    if (gone.length > 0) {
      return {
        state: 'failed',
        reason: 'PodReplaced',
        message: `pod ${gone.join(', ')} of the new release went away during the bake`,
        pod: gone[0] ?? '',
      };
    }
    const bakeMs = item.bakeMs ?? 0;
    if (time - bake.since < bakeMs) return { state: 'progressing', message: 'baking' };
    const restarts = result.restarts.get(item.key) ?? 0;
    say(
      item,
      `baked ${Math.round(bakeMs / 1000)}s: ${restarts === 0 ? 'no restarts' : `${restarts} restarts`}, all ready`,
    );
    return { state: 'done', message: `${workloadName(item.kind, item.name)} successfully rolled out and baked` };
  };

  const countRestarts = (item: WaitItem, state: TargetState): void => {
    const pods = currentPods(item, state);
    if (pods === undefined) return;
    const total = pods.flatMap((p) => p.status?.containerStatuses ?? []).reduce((sum, cs) => sum + cs.restartCount, 0);
    result.restarts.set(item.key, total);
  };

  const evaluate = (): void => {
    const time = now();
    for (const item of items) {
      const state = states.get(item.key);
      if (state === undefined || verdicts.get(item.key)?.state !== 'progressing') continue;
      histories.get(item.key)?.see(state.pods.values());
      countRestarts(item, state);
      const workload = state.workloads.get(item.name);
      if (workload) workloads.set(item.key, workload);
      const bake = bakes.get(item.key);
      const verdict = bake ? evaluateBake(item, state, bake, time) : evaluateRollout(item, state, time);
      verdicts.set(item.key, verdict);
      if (verdict.state !== 'progressing') {
        finishedAt.set(item.key, time);
        if (!result.rolledOutAt.has(item.key) && verdict.state === 'done') result.rolledOutAt.set(item.key, time);
        if (verdict.state !== 'done') say(item, verdict.message);
      }
    }
    const all = [...verdicts.values()];
    if (all.some((v) => v.state === 'failed') || all.every((v) => v.state !== 'progressing')) finish();
    else if (time >= options.deadline) {
      failRemaining('Timeout', (item) => {
        if (bakes.has(item.key)) return undefined; // rolled out in time: its bake runs to its end
        const last = lastLine.get(item.key) ?? 'no status';
        return `${item.key} did not finish rolling out within "timeout" (last: ${last}); raise "timeout" if it needs longer`;
      });
    }
  };

  /** Fails every target still progressing (except those `message` skips) for `reason`; ends the wait if none is left. */
  const failRemaining = (reason: string, message: (item: WaitItem) => string | undefined): void => {
    const time = now();
    for (const item of items) {
      if (verdicts.get(item.key)?.state !== 'progressing') continue;
      const text = message(item);
      if (text === undefined) continue;
      verdicts.set(item.key, { state: 'failed', reason, message: text });
      finishedAt.set(item.key, time);
    }
    if ([...verdicts.values()].some((v) => v.state === 'failed')) finish();
  };
  const onAbort = (): void => failRemaining('Cancelled', () => 'the step was cancelled');
  if (options.signal.aborted) onAbort();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const ticker = setInterval(evaluate, options.tickMs ?? 500);
  const observers = items.map((item) =>
    kube
      .observe(
        { kind: item.kind, namespace: item.namespace, name: item.name, selector: item.selector },
        (state) => {
          states.set(item.key, state);
          evaluate();
        },
        stop.signal,
      )
      .catch((error: unknown) =>
        failRemaining('WatchFailed', (i) =>
          i.key === item.key ? `watching ${item.key} failed: ${messageOf(error)}` : undefined,
        ),
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
  return result;
}
