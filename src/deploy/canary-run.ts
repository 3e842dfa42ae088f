/**
 * The canary's steps, run before the stable Deployments change: for each step make (or scale) every target's
 * `<name>-canary`, wait for it, bake it and run the checks of `verify` against its pods only; the first failure
 * ends the steps. The canaries are deleted by uid afterwards, whatever happened (`remove`), and every one made is
 * handed to `onRecords` as soon as it exists, marked created, so a post step after a killed run deletes it too.
 *
 * Two runs never share a canary: a run only ever uses a `<name>-canary` its own apply created. One that exists when
 * a run starts (another run's, or one a killed run left with no post step) fails that run, naming it; it is deleted
 * by hand once no deploy of that Deployment is running.
 *
 * A StatefulSet target's canary is its own highest ordinals (canary-partition.ts): changed in place, so it is not
 * removed here but promoted or restored with the targets (rollout.ts).
 */
import { randomUUID } from 'node:crypto';
import type { V1Deployment } from '@kubernetes/client-node';
import { isStatus, type Applied, type Kube, type KubeObject } from '../cluster/kube.js';
import { logRetry, retryingTransient } from '../cluster/retry.js';
import { selectorString } from '../cluster/kube-watch.js';
import { messageOf } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import { stepLabel, type CanaryStep } from '../desired/canary.js';
import { objectKey } from '../desired/manifests.js';
import { targetKey, type Target } from '../desired/targets.js';
import { refOf } from './apply.js';
import { CANARY_RUN_ANNOTATION, canaryObject, canaryReplicas } from './canary.js';
import type { CanaryTraffic } from './canary-traffic.js';
import type { HeldDeployment } from './canary-manifests.js';
import type { Evidence } from './evidence.js';
import type { ObjectRecord } from './object-record.js';
import { patchToDigest } from './patch.js';
import { recordOf, type TargetRecord } from './target-record.js';
import type { CheckReport } from './verify.js';
import { partitionTrialsOf, stepSet, type PartitionTrial } from './canary-partition.js';
import type { Watched } from './wait-evidence.js';
import type { WaitItem, WaitResult } from './wait.js';

export type CanaryStepOutcome = 'passed' | 'failed' | 'cancelled';

/** One step as the report shows it. */
export interface CanaryStepResult {
  /** `10%` or `1 pod`. */
  share: string;
  /** The canary pods of the step, all targets told. */
  replicas: number;
  result: CanaryStepOutcome;
  /** From the start of the step to its verdict. */
  seconds: number;
  /** The verdict in words (the failure, or what passed). */
  message: string;
}

export interface CanaryRequest {
  steps: CanaryStep[];
  targets: Target[];
  image: string;
  digest: string;
  reference: string;
  changeCause: string;
  /** Called with the records of the canaries made so far (created: the post step deletes them); [] once deleted. */
  onRecords?: (records: ObjectRecord[]) => void;
  /** Called with the records of the StatefulSets a canary changes, before each is patched (the post step's). */
  onPatched?: (records: TargetRecord[]) => void;
  /** The share set by a route's weights (`canary-route`), on top of the share by pods. */
  traffic?: CanaryTraffic;
  /** Deployments of `manifests` held back from the apply: canaried from what the manifests make of them. */
  held?: HeldDeployment[];
}

/** A request being run: with this run's id, which its canaries carry. */
type Running = CanaryRequest & { run: string };

/** What the deploy lends the canary: its wait (bake, checks, cancel, deadline) and its evidence. */
export interface CanaryWatch {
  wait(items: WaitItem[]): Promise<WaitResult>;
  /** The wait until the items are rolled out only (no bake, no checks): before a route sends them requests. */
  ready?(items: WaitItem[]): Promise<WaitResult>;
  evidence(wait: WaitResult, watched: Watched[]): Promise<Evidence[]>;
}

export interface CanaryRun {
  steps: CanaryStepResult[];
  /** The stable Deployments that got a canary, as read before it (never changed by it). */
  stable: TargetRecord[];
  /** The StatefulSets whose canary is their own highest ordinals: changed, to promote or to restore. */
  partitioned: PartitionTrial[];
  /** Why the canary stopped the release; undefined when every step passed (or there was no canary to run). */
  failure: string | undefined;
  evidence: Evidence[];
  /** The last results of the checks of `verify` at the last step run. */
  checks: CheckReport[];
  /** Deletes every canary made (by uid), once; returns what could not be deleted. */
  remove(): Promise<string | undefined>;
}

/** A target that gets a canary: its live stable Deployment and the containers that change. */
interface Trial {
  key: string;
  stable: V1Deployment;
  record: TargetRecord;
  containers: TargetRecord['containers'];
  replicas: number;
  /** The canary as this run made it (its record), once made. */
  made?: ObjectRecord;
}

/** The targets that get a canary; the others are said in the log (not a Deployment, on the digest, no replicas). */
async function trialsOf(kube: Kube, request: CanaryRequest, log: Log): Promise<Trial[]> {
  const trials: Trial[] = [];
  for (const target of request.targets) {
    const key = targetKey(target);
    if (target.kind !== 'deployment') continue;
    const stable = (await kube.getWorkload(target)) as V1Deployment;
    const record = recordOf(target, stable, request.image);
    const replicas = stable.spec?.replicas ?? 1;
    if (patchToDigest(stable, record.containers, request) === undefined) {
      log.info(`${key}: already runs ${request.digest}; no canary`);
    } else if (replicas === 0) {
      log.info(`${key}: scaled to 0 replicas, no traffic to try the release on; no canary`);
    } else {
      trials.push({ key, stable, record, containers: record.containers, replicas });
    }
  }
  for (const held of request.held ?? []) {
    const { record, desired, replicas } = held;
    if (replicas === 0) log.info(`${record.key}: scaled to 0 replicas, no traffic to try the release on; no canary`);
    else trials.push({ key: record.key, stable: desired, record, containers: record.containers, replicas });
  }
  return trials;
}

/** A canary that already exists and that this run did not make: named, with what to do. */
async function foreignCanary(kube: Kube, trial: Trial): Promise<string | undefined> {
  const object = canaryObject(trial.stable, trial.containers, { reference: '', changeCause: '', replicas: 0, run: '' });
  const live = await kube.getObject(refOf(object));
  return live === undefined ? undefined : foreignMessage(trial, object);
}

function foreignMessage(trial: Trial, object: KubeObject): string {
  const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
  return (
    `${key} already exists and this run did not make it: another deploy of ${trial.key} is running its canary, or ` +
    `a killed one left it; once no deploy of ${trial.key} runs, delete it ` +
    `(kubectl delete deployment ${object.metadata.name} -n ${object.metadata.namespace ?? ''}) and deploy again`
  );
}

/**
 * Applies the canary, retrying errors that can pass. An apply whose answer was lost may have landed: before each
 * retry the canary is read, and one carrying this run's id is this run's, made by that lost apply.
 */
function applyRetrying(kube: Kube, object: KubeObject, run: string, log: Log) {
  let sent = false;
  const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
  const attempt = async (): Promise<Applied> => {
    if (sent) {
      const live = await kube.getObject(refOf(object));
      if (live?.metadata.annotations?.[CANARY_RUN_ANNOTATION] === run) return { object: live, created: true };
    }
    sent = true;
    // A field manager of this run's own: an apply that would change another run's canary fails with 409 instead.
    return kube.applyObject(object, { dryRun: false, force: false, fieldManager: `kube-ship-canary-${run}` });
  };
  return retryingTransient(attempt, Date.now() + APPLY_RETRY_MS, logRetry(log, key));
}

/** How long an apply or a delete may keep meeting errors that can pass (API server restarting, 429, 5xx). */
const APPLY_RETRY_MS = 30_000;

/** Makes or scales one target's canary for a step; returns how to watch it. Throws when it is not ours. */
async function applyCanary(kube: Kube, trial: Trial, replicas: number, request: Running, log: Log): Promise<WaitItem> {
  const object = canaryObject(trial.stable, trial.containers, { ...request, replicas });
  const { object: after, created } = await applyRetrying(kube, object, request.run, log).catch((error: unknown) => {
    // Made by another run since this run looked (two runs started at once): theirs, never changed.
    throw trial.made === undefined && isStatus(error, 409) ? new Error(foreignMessage(trial, object)) : error;
  });
  const ours = trial.made === undefined ? created : after.metadata.uid === trial.made.after.metadata.uid;
  if (!ours) {
    throw new Error(
      `${object.metadata.namespace ?? ''}/${object.metadata.name} was made or replaced by someone else meanwhile; ` +
        'left as it is',
    );
  }
  trial.made = {
    key: objectKey(object),
    source: `canary of ${trial.key}`,
    ref: refOf(object),
    created: true,
    before: undefined,
    applied: object,
    after,
  };
  const namespace = object.metadata.namespace ?? '';
  const spec = after.spec as V1Deployment['spec'];
  return {
    key: targetKey({ namespace, name: object.metadata.name }),
    kind: 'deployment',
    namespace,
    name: object.metadata.name,
    selector: selectorString(spec?.selector),
    minGeneration: after.metadata.generation ?? 0,
    expected: { containers: trial.containers.map((c) => c.name), reference: request.reference },
  };
}

const recordsOf = (trials: Trial[], request: CanaryRequest): ObjectRecord[] => [
  ...(request.traffic?.records() ?? []),
  ...trials.flatMap((t) => (t.made ? [t.made] : [])),
];

/** The step's outcome from the wait: passed when every canary is done (rolled out, baked, checked). */
function stepVerdict(wait: WaitResult): { result: CanaryStepOutcome; message: string } {
  for (const [key, verdict] of wait.verdicts) {
    if (verdict.state === 'done') continue;
    if (verdict.state === 'failed' && verdict.reason === 'Cancelled')
      return { result: 'cancelled', message: 'cancelled' };
    const why = verdict.state === 'failed' && !verdict.message.includes(verdict.reason) ? `${verdict.reason}: ` : '';
    return { result: 'failed', message: `${key}: ${why}${verdict.message}` };
  }
  const passing = wait.checks.filter((c) => c.state === 'passing').length;
  return {
    result: 'passed',
    message: wait.checks.length > 0 ? `healthy; ${passing} of ${wait.checks.length} checks passing` : 'healthy',
  };
}

/** One step: every canary made or scaled, then watched, baked and checked together. */
async function runStep(
  kube: Kube,
  trials: Trial[],
  step: CanaryStep,
  request: Running,
  watch: CanaryWatch,
  log: Log,
  sets: PartitionTrial[] = [],
): Promise<{ result: CanaryStepResult; wait?: WaitResult; items: WaitItem[] }> {
  const share = stepLabel(step);
  const items: WaitItem[] = [];
  let replicas = 0;
  try {
    for (const trial of trials) {
      const count = canaryReplicas(step, trial.replicas);
      items.push(await applyCanary(kube, trial, count, request, log));
      request.onRecords?.(recordsOf(trials, request));
      replicas += count;
      log.info(`${trial.key}: canary ${share}: ${count} pod(s) of the release next to ${trial.replicas} stable`);
    }
    replicas += await stepSets(kube, sets, step, request, items, log);
  } catch (error) {
    return { result: { share, replicas, result: 'failed', seconds: 0, message: messageOf(error) }, items };
  }
  if (request.traffic && step.kind === 'percent') {
    const ready = await shiftWhenReady(request.traffic, trials, step.percent, items, watch);
    if (ready.wait !== undefined || ready.error !== undefined) {
      const verdict = ready.wait ? stepVerdict(ready.wait) : { result: 'failed' as const, message: ready.error ?? '' };
      return {
        result: { share, replicas, seconds: 0, ...verdict },
        ...(ready.wait ? { wait: ready.wait } : {}),
        items,
      };
    }
  }
  const wait = await watch.wait(items);
  return { result: { share, replicas, seconds: 0, ...stepVerdict(wait) }, wait, items };
}

/** Moves each StatefulSet's share of a step to the release (by its partition); returns the pods moved. */
async function stepSets(
  kube: Kube,
  sets: PartitionTrial[],
  step: CanaryStep,
  request: Running,
  items: WaitItem[],
  log: Log,
): Promise<number> {
  let pods = 0;
  const save = () => request.onPatched?.(sets.filter((s) => s.saved).map((s) => s.record));
  for (const set of sets) {
    const moved = await stepSet(kube, set, step, { request, save, log });
    items.push(moved.item);
    pods += moved.pods;
    const stable = set.record.replicas - moved.pods;
    log.info(
      `${set.key}: canary ${stepLabel(step)}: partition ${moved.partition}: ${moved.pods} pod(s) of the release ` +
        `(the highest ordinals), ${stable} stable`,
    );
  }
  return pods;
}

/**
 * With a route: waits until the step's canary pods are rolled out, then sets the route's weights, so the route never
 * sends requests to a canary Service without ready pods. Returns the wait when it did not pass, or the error of the
 * write; nothing when the weights are set.
 */
async function shiftWhenReady(
  traffic: CanaryTraffic,
  trials: Trial[],
  percent: number,
  items: WaitItem[],
  watch: CanaryWatch,
): Promise<{ wait?: WaitResult; error?: string }> {
  const wait = watch.ready ? await watch.ready(items) : undefined;
  if (wait && stepVerdict(wait).result !== 'passed') return { wait };
  const pods = trials.reduce(
    (sum, t) => ({
      canary: sum.canary + canaryReplicas({ kind: 'percent', percent }, t.replicas),
      stable: sum.stable + t.replicas,
    }),
    { canary: 0, stable: 0 },
  );
  try {
    await traffic.shift(percent, pods);
    return {};
  } catch (error) {
    return { error: messageOf(error) };
  }
}

/** What a deploy without a canary ran (and where a canary run starts): no step, nothing to delete. */
export function noCanary(): CanaryRun {
  return {
    steps: [],
    stable: [],
    partitioned: [],
    failure: undefined,
    evidence: [],
    checks: [],
    remove: async () => undefined,
  };
}

/** Runs the canary's steps; stops at the first that does not pass. Never throws: a problem is its `failure`. */
export async function runCanary(
  kube: Kube,
  request: CanaryRequest,
  watch: CanaryWatch,
  log: Log,
  now: () => number = Date.now,
): Promise<CanaryRun> {
  const run = noCanary();
  let trials: Trial[] = [];
  let sets: PartitionTrial[] = [];
  try {
    trials = await trialsOf(kube, request, log);
    sets = await partitionTrialsOf(kube, request, log);
    const foreign = await Promise.all(trials.map((t) => foreignCanary(kube, t)));
    run.failure = foreign.find((f) => f !== undefined);
  } catch (error) {
    run.failure = `canary: ${messageOf(error)}`;
  }
  if (run.failure !== undefined || trials.length + sets.length === 0) return run;
  run.stable = trials.map((t) => t.record);
  run.partitioned = sets;
  run.remove = once(() => removeCanaries(kube, trials, request, log));
  const id = randomUUID();
  if (request.traffic) {
    try {
      await request.traffic.open(
        trials.map((t) => t.stable),
        id,
      );
    } catch (error) {
      run.failure = `canary: ${messageOf(error)}`;
    }
    request.onRecords?.(recordsOf(trials, request));
    if (run.failure !== undefined) return run;
  }
  for (const [index, step] of request.steps.entries()) {
    const title = `Canary ${index + 1}/${request.steps.length}: ${stepLabel(step)}`;
    const started = now();
    const running = { ...request, run: id };
    const { result, wait, items } = await log.group(title, () =>
      runStep(kube, trials, step, running, watch, log, sets),
    );
    result.seconds = Math.round((now() - started) / 100) / 10;
    run.steps.push(result);
    log.info(`${title}: ${result.result} in ${result.seconds}s (${result.message})`);
    if (wait) run.checks = wait.checks;
    if (result.result === 'passed') continue;
    run.failure = `canary ${stepLabel(step)}: ${result.message}`;
    if (wait) run.evidence = await watch.evidence(wait, items);
    break;
  }
  return run;
}

/** `fn` run at most once; later calls get the first call's promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let done: Promise<T> | undefined;
  return () => (done ??= fn());
}

/** Deletes every canary this run made, by uid (a replacement is never deleted); returns what could not be. */
async function removeCanaries(kube: Kube, trials: Trial[], request: CanaryRequest, log: Log) {
  // The route first: it stops sending requests to the canary before its Service and pods go.
  const route = await request.traffic?.close();
  const problems: string[] = [];
  for (const trial of trials) {
    const made = trial.made;
    if (made === undefined) continue;
    try {
      const uid = made.after.metadata.uid ?? '';
      await retryingTransient(() => kube.deleteObject(made.ref, uid), Date.now() + APPLY_RETRY_MS, logRetry(log));
      log.info(`${made.key}: deleted (the canary of ${trial.key})`);
    } catch (error) {
      if (!isStatus(error, 404) && !isStatus(error, 409)) problems.push(`${made.key}: ${messageOf(error)}`);
    }
  }
  if (problems.length === 0) request.onRecords?.([]);
  const left = problems.length > 0 ? `the canary could not be deleted: ${problems.join('; ')}` : undefined;
  return [route, left].filter((p) => p !== undefined).join('; ') || undefined;
}
