/**
 * One target's wait as a state machine: rolling (kubectl's rule and, with fail-fast, its new pods' signals), then
 * baking (its new pods stay watched for `bakeMs`), then a verdict. `advance` is pure: it takes what happened and the
 * time, and returns the next state, the lines to log and, once there is one, the verdict. The watches, the timer and
 * the abort that produce the events live in wait.ts.
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { TargetState } from '../cluster/kube.js';
import { kindTitle, type Workload, type WorkloadKind } from '../cluster/workload.js';
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
  /** The bake ends only once the checks of `verify` pass (a target the deploy changed, when there are checks). */
  verified?: boolean;
}

/** How strict the wait is: the inputs `fail-fast` and `allowed-restarts`. */
export interface WaitRules {
  failFast: boolean;
  /** Restarts a new pod's container may have before a crash fails the rollout. */
  allowedRestarts: number;
}

/**
 * What was seen of a target's pods before: restart counts when watching began, and pods once Ready. Kept by the
 * pod's uid, not its name: a StatefulSet's new pod takes the name of the old one it replaces, and must not inherit
 * its readiness or its restarts.
 */
export interface PodHistory {
  readonly restarts: ReadonlyMap<string, number>;
  readonly ready: ReadonlySet<string>;
  readonly started: boolean;
}

export const NO_PODS_SEEN: PodHistory = { restarts: new Map(), ready: new Set(), started: false };

/** A pod's identity: its uid (its name only where a uid is missing). */
const podId = (pod: V1Pod): string => pod.metadata?.uid ?? `name:${pod.metadata?.name ?? ''}`;

/** The history with what the pods show now; restart counts are kept only from the first view. */
export function seePods(history: PodHistory, pods: Iterable<V1Pod>): PodHistory {
  const ready = new Set(history.ready);
  const restarts = new Map(history.restarts);
  for (const pod of pods) {
    const id = podId(pod);
    if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ready.add(id);
    if (history.started) continue;
    for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      restarts.set(`${id}/${cs.name}`, cs.restartCount);
    }
  }
  return { restarts, ready, started: true };
}

export function podCheck(history: PodHistory, now: number, minReadySeconds: number, allowedRestarts: number): PodCheck {
  return {
    now,
    minReadySeconds,
    allowedRestarts,
    restartsBefore: (pod, container) => history.restarts.get(`${podId(pod)}/${container}`) ?? 0,
    wasReady: (pod) => history.ready.has(podId(pod)),
  };
}

/** The images our containers carry now, if any of them is not the reference we deployed. */
function supersededBy(item: WaitItem, workload: Workload): string | undefined {
  if (item.expected === undefined) return undefined;
  const spec = workload.spec?.template.spec;
  const all = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  const changed = all.filter((c) => item.expected?.containers.includes(c.name) && c.image !== item.expected.reference);
  return changed.length > 0 ? changed.map((c) => `${c.name}=${c.image}`).join(', ') : undefined;
}

/** The pods of the new release the target runs now (not being deleted): what the checks of `verify` ask. */
export function releasePods(target: TargetWait): { namespace: string; name: string }[] {
  const pods = target.seen ? (currentPods(target.item, target.seen) ?? []) : [];
  return pods
    .filter((p) => p.metadata?.deletionTimestamp === undefined && p.status?.podIP !== undefined)
    .map((p) => ({ namespace: target.item.namespace, name: p.metadata?.name ?? '' }));
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
  rules: WaitRules,
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
  if (status.state === 'failed' || !rules.failFast) return status;
  const pods = currentPods(item, state);
  if (pods === undefined) return status;
  const allPods = [...state.pods.values()];
  const check = podCheck(history, now, workload.spec?.minReadySeconds ?? 0, rules.allowedRestarts);
  const containers = workload.spec?.template.spec?.containers ?? [];
  // Only a Deployment's ReplicaSet says that it cannot create its pods; the other controllers only emit events.
  const replicaSet =
    item.kind === 'deployment' ? newReplicaSet(workload as V1Deployment, [...state.replicaSets.values()]) : undefined;
  return (replicaSet && replicaFailure(replicaSet, allPods, now)) ?? podFailure(pods, containers, check) ?? status;
}

interface Bake {
  since: number;
  /** The names of the new pods when the bake began. */
  pods: ReadonlySet<string>;
  /** Pods the workload wanted when the bake began. */
  wanted: number;
}

/** One target's wait so far. */
export interface TargetWait {
  readonly item: WaitItem;
  readonly rules: WaitRules;
  /** `rolling` until kubectl's rule is met; `baking` while the new pods stay watched; `decided` once final. */
  readonly phase: 'rolling' | 'baking' | 'decided';
  /** The verdict so far: `progressing` until decided. */
  readonly verdict: Verdict;
  /** The last state the watch showed (kept after the verdict, for evidence). */
  readonly seen?: TargetState;
  /** The last workload seen (replica counts, revision). */
  readonly workload?: Workload;
  readonly history: PodHistory;
  readonly bake?: Bake;
  /** Restarts of the new pods' containers, all told. */
  readonly restarts?: number;
  /** When kubectl's rule was met (before the bake). */
  readonly rolledOutAt?: number;
  /** When the verdict became final (after the bake). */
  readonly finishedAt?: number;
  /** The last line logged for the target: a line is logged only when it changes. */
  readonly lastLine?: string;
  /** What the checks of `verify` say so far (a target with `verified` only). */
  readonly checks?: 'pending' | 'passing';
}

export type WaitEvent =
  /** The watch showed a new state of the target's objects. */
  | { kind: 'seen'; state: TargetState }
  /** Time passed: time-based signals (readiness grace, bake) are checked again on the last state seen. */
  | { kind: 'tick' }
  /** The deadline passed with the wait unfinished: a target still rolling out times out; a bake runs to its end. */
  | { kind: 'deadline' }
  | { kind: 'cancelled' }
  /** Watching the target failed for good. */
  | { kind: 'watch-failed'; message: string }
  /** The checks of `verify` changed their overall status. */
  | { kind: 'verify'; status: 'pending' | 'passing' }
  | { kind: 'verify-failed'; message: string };

export interface WaitStep {
  state: TargetWait;
  /** The final verdict, when this step reached it. */
  verdict?: Verdict;
  /** Lines to log, each already prefixed with the target's key. */
  lines: string[];
}

export function startWait(item: WaitItem, rules: WaitRules): TargetWait {
  return {
    item,
    rules,
    phase: 'rolling',
    verdict: { state: 'progressing', message: 'not seen yet' },
    history: NO_PODS_SEEN,
  };
}

/** The next state of one target's wait after `event`, at `now`. */
export function advance(target: TargetWait, event: WaitEvent, now: number): WaitStep {
  if (target.phase === 'decided') {
    return { state: event.kind === 'seen' ? { ...target, seen: event.state } : target, lines: [] };
  }
  switch (event.kind) {
    case 'seen':
      return evaluate({ ...target, seen: event.state }, event.state, now);
    case 'tick':
      return target.seen ? evaluate(target, target.seen, now) : { state: target, lines: [] };
    case 'deadline':
      return target.phase === 'baking'
        ? { state: target, lines: [] }
        : silentlyFailed(target, 'Timeout', timedOut(target), now);
    case 'cancelled':
      return silentlyFailed(target, 'Cancelled', 'the step was cancelled', now);
    case 'watch-failed':
      return silentlyFailed(target, 'WatchFailed', `watching ${target.item.key} failed: ${event.message}`, now);
    case 'verify': {
      if (target.item.verified !== true) return { state: target, lines: [] };
      const next = { ...target, checks: event.status };
      return next.seen ? evaluate(next, next.seen, now) : { state: next, lines: [] };
    }
    case 'verify-failed':
      return target.item.verified === true
        ? silentlyFailed(target, 'VerifyFailed', event.message, now)
        : { state: target, lines: [] };
  }
}

function timedOut({ item, lastLine }: TargetWait): string {
  return `${item.key} did not finish rolling out within "timeout" (last: ${lastLine ?? 'no status'}); raise "timeout" if it needs longer`;
}

/** A verdict the wait itself reached (deadline, cancel, watch): not logged here, the caller reports it. */
function silentlyFailed(target: TargetWait, reason: string, message: string, now: number): WaitStep {
  const verdict: Verdict = { state: 'failed', reason, message };
  return { state: { ...target, phase: 'decided', verdict, finishedAt: now }, verdict, lines: [] };
}

/** A target's wait being advanced: the draft of its next state and the lines it logs. */
interface Draft {
  next: { -readonly [K in keyof TargetWait]: TargetWait[K] };
  lines: string[];
}

function say(draft: Draft, line: string): void {
  if (draft.next.lastLine === line) return;
  draft.next.lastLine = line;
  draft.lines.push(`${draft.next.item.key}: ${line}`);
}

/** One target judged on `state`: its history, restarts and workload noted, then its rollout or its bake. */
function evaluate(target: TargetWait, state: TargetState, now: number): WaitStep {
  const { item } = target;
  const draft: Draft = { next: { ...target, history: seePods(target.history, state.pods.values()) }, lines: [] };
  const pods = currentPods(item, state);
  if (pods !== undefined) draft.next.restarts = restartsOf(pods);
  draft.next.workload = state.workloads.get(item.name) ?? target.workload;
  const verdict = target.phase === 'baking' ? bakeVerdict(draft, state, now) : rolloutVerdict(draft, state, now);
  draft.next.verdict = verdict;
  if (verdict.state === 'progressing') return { state: draft.next, lines: draft.lines };
  draft.next.phase = 'decided';
  draft.next.finishedAt = now;
  if (verdict.state === 'done') draft.next.rolledOutAt ??= now;
  else say(draft, verdict.message);
  return { state: draft.next, verdict, lines: draft.lines };
}

const restartsOf = (pods: V1Pod[]): number =>
  pods.flatMap((p) => p.status?.containerStatuses ?? []).reduce((sum, cs) => sum + cs.restartCount, 0);

/** Rolling out: kubectl's rule and the pod signals; on success, the bake begins (if there is one). */
function rolloutVerdict(draft: Draft, state: TargetState, now: number): Verdict {
  const { item, rules, history } = draft.next;
  const verdict = decide(item, state, rules, history, now);
  const workload = state.workloads.get(item.name);
  const seen = workload !== undefined && observed(workload);
  say(draft, verdict.state === 'progressing' && workload && seen ? progressLine(workload, item.kind) : verdict.message);
  const bakeMs = item.bakeMs ?? 0;
  // A target whose checks of verify must pass bakes however short its bake: the checks run during the bake.
  if (verdict.state !== 'done' || (bakeMs <= 0 && item.verified !== true) || workload === undefined) return verdict;
  const pods = currentPods(item, state) ?? [];
  draft.next.phase = 'baking';
  draft.next.rolledOutAt = now;
  draft.next.bake = {
    since: now,
    pods: new Set(pods.map((p) => p.metadata?.name ?? '')),
    wanted: wantedPods(item.kind, workload),
  };
  say(
    draft,
    bakeMs > 0
      ? `rolled out; baking ${Math.round(bakeMs / 1000)}s (bake: 0s to skip)`
      : 'rolled out; running the checks of verify',
  );
  return { state: 'progressing', message: 'baking' };
}

/** Baking: any signal of the new pods fails it; a pod replaced fails it; the end of the bake is done. */
function bakeVerdict(draft: Draft, state: TargetState, now: number): Verdict {
  const { item, rules, history, bake } = draft.next;
  const verdict = decide(item, state, { ...rules, failFast: true }, history, now);
  if (verdict.state === 'failed' || verdict.state === 'superseded') return verdict;
  const workload = state.workloads.get(item.name);
  const gone = workload && bake ? replacedPods(item, workload, state, bake) : [];
  if (gone.length > 0) {
    return {
      state: 'failed',
      reason: 'PodReplaced',
      message: `pod ${gone.join(', ')} of the new release went away during the bake`,
      pod: gone[0] ?? '',
    };
  }
  const bakeMs = item.bakeMs ?? 0;
  if (now - (bake?.since ?? now) < bakeMs) return { state: 'progressing', message: 'baking' };
  if (item.verified === true && draft.next.checks !== 'passing') {
    say(draft, `baked ${Math.round(bakeMs / 1000)}s; waiting for the checks of verify to pass`);
    return { state: 'progressing', message: 'waiting for verify' };
  }
  const restarts = draft.next.restarts ?? 0;
  say(
    draft,
    `baked ${Math.round(bakeMs / 1000)}s: ${restarts === 0 ? 'no restarts' : `${restarts} restarts`}, all ready`,
  );
  return { state: 'done', message: `${workloadName(item.kind, item.name)} successfully rolled out and baked` };
}

/** New pods present when the bake began that are gone or going, while the workload was not scaled down. */
function replacedPods(item: WaitItem, workload: Workload, state: TargetState, bake: Bake): string[] {
  if (wantedPods(item.kind, workload) < bake.wanted) return [];
  return [...bake.pods].filter((name) => {
    const pod = state.pods.get(name);
    return pod === undefined || pod.metadata?.deletionTimestamp !== undefined;
  });
}
