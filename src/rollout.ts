/**
 * The rollout engine, read top to bottom: record each target, patch it to the new image, watch every rollout at
 * once, decide, and if anything failed restore the recorded templates and watch those until healthy again.
 */
import type { V1Deployment, V1PodTemplateSpec } from '@kubernetes/client-node';
import { messageOf } from './errors.js';
import { collectEvidence, type Evidence } from './evidence.js';
import { isStatus, type Kube, type NamespaceState } from './kube.js';
import type { Log } from './log.js';
import { CHANGE_CAUSE_ANNOTATION, deployPatch, digestOf, rollbackPatch, sameTemplate } from './patch.js';
import { chooseContainers, targetKey, type ChosenContainer, type Target } from './targets.js';
import { REVISION_ANNOTATION, newReplicaSet, podsOf, type Verdict } from './verdict.js';
import { waitForRollouts, type WaitItem, type WaitResult } from './wait.js';

/** What a target looked like before the deploy: enough to put it back exactly. */
export interface TargetRecord {
  key: string;
  namespace: string;
  name: string;
  containers: ChosenContainer[];
  template: V1PodTemplateSpec;
  changeCause: string | undefined;
  revision: string;
  replicas: number;
}

export type TargetOutcome = 'success' | 'no-op' | 'failed' | 'rolled-back' | 'rollback-failed' | 'interrupted';

export interface TargetReport {
  key: string;
  containers: string[];
  imagesBefore: Record<string, string>;
  imageAfter: string;
  revisionBefore: string;
  revisionAfter: string;
  replicas: number;
  outcome: TargetOutcome;
  message: string;
  seconds: number;
}

export type DeployResultKind = 'success' | 'rolled-back' | 'failed' | 'no-op';

export interface DeployResult {
  result: DeployResultKind;
  failureReason: string;
  targets: TargetReport[];
  evidence: Evidence[];
  rollbackError: string | undefined;
  /** Milliseconds from the last patch to the verdict, and from the verdict to "restored and healthy". */
  verdictMs: number;
  restoreMs: number | undefined;
}

export interface DeployRequest {
  targets: Target[];
  image: string;
  reference: string;
  digest: string;
  changeCause: string;
  timeoutMs: number;
  rollback: boolean;
  failFast: boolean;
  signal: AbortSignal;
  /** Called once the targets are patched, with the records needed to restore them (saved for the post step). */
  onPatched?: (records: TargetRecord[]) => void;
}

const MAX_CONFLICTS = 3;

/** Reads a target and records what its rollback needs. Throws when it cannot be deployed (paused, no container). */
export function recordOf(target: Target, deployment: V1Deployment, image: string): TargetRecord {
  const key = targetKey(target);
  if (deployment.spec?.paused) {
    throw new Error(`${key} is paused; resume it (kubectl rollout resume deployment/${target.name}) or remove it.`);
  }
  const template = deployment.spec?.template ?? {};
  return {
    key,
    namespace: target.namespace,
    name: target.name,
    containers: chooseContainers(
      target,
      { containers: template.spec?.containers ?? [], initContainers: template.spec?.initContainers },
      image,
    ),
    template,
    changeCause: deployment.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION],
    revision: deployment.metadata?.annotations?.[REVISION_ANNOTATION] ?? '',
    replicas: deployment.spec?.replicas ?? 1,
  };
}

function alreadyRunning(record: TargetRecord, digest: string): boolean {
  return record.containers.every((c) => digestOf(c.image) === digest);
}

/**
 * Patches one target, re-reading and re-deciding on 409 Conflict (someone changed it between our read and our
 * write): the new state becomes the record, and a target that meanwhile runs the digest needs no patch.
 */
async function patchTarget(
  kube: Kube,
  target: Target,
  request: DeployRequest,
  log: Log,
): Promise<{ record: TargetRecord; generation: number } | { record: TargetRecord; noop: true }> {
  for (let attempt = 1; ; attempt += 1) {
    const current = await kube.getDeployment(target.namespace, target.name);
    const record = recordOf(target, current, request.image);
    if (alreadyRunning(record, request.digest)) return { record, noop: true };
    const ops = deployPatch(
      current.metadata?.resourceVersion ?? '',
      current.metadata?.annotations,
      record.containers,
      request.reference,
      request.changeCause,
    );
    try {
      const patched = await kube.patchDeployment(target.namespace, target.name, ops);
      log.info(`${record.key}: ${record.containers.map((c) => c.name).join(', ')} -> ${request.reference}`);
      return { record, generation: patched.metadata?.generation ?? 0 };
    } catch (error) {
      if (!isStatus(error, 409) || attempt >= MAX_CONFLICTS) throw error;
      log.info(`${record.key} changed while being patched (409 Conflict); reading it again`);
    }
  }
}

/** Puts back one recorded template (re-reading on conflict); returns the generation to wait for. */
async function restoreTarget(kube: Kube, record: TargetRecord, log: Log): Promise<number | undefined> {
  for (let attempt = 1; ; attempt += 1) {
    const current = await kube.getDeployment(record.namespace, record.name);
    if (sameTemplate(current.spec?.template, record.template)) return undefined;
    const ops = rollbackPatch(
      current.metadata?.resourceVersion ?? '',
      current.metadata?.annotations,
      record.template,
      record.changeCause,
    );
    try {
      const patched = await kube.patchDeployment(record.namespace, record.name, ops);
      log.info(`${record.key}: restored the recorded template (revision ${record.revision})`);
      return patched.metadata?.generation ?? 0;
    } catch (error) {
      if (!isStatus(error, 409) || attempt >= MAX_CONFLICTS) throw error;
    }
  }
}

/** Restores every record; returns the items to wait for and the first error, if any. */
export async function rollBack(
  kube: Kube,
  records: TargetRecord[],
  log: Log,
): Promise<{ items: WaitItem[]; errors: { key: string; message: string }[] }> {
  const items: WaitItem[] = [];
  const errors: { key: string; message: string }[] = [];
  await Promise.all(
    records.map(async (record) => {
      try {
        const generation = await restoreTarget(kube, record, log);
        items.push({ key: record.key, namespace: record.namespace, name: record.name, minGeneration: generation ?? 0 });
      } catch (error) {
        errors.push({ key: record.key, message: messageOf(error) });
      }
    }),
  );
  return { items, errors };
}

/** The pod a failure is about: the one the verdict names, else the first not-ready pod of the new ReplicaSet. */
function failingPod(state: NamespaceState | undefined, deployment: V1Deployment | undefined, verdict: Verdict) {
  if (state === undefined) return { pod: undefined, container: '' };
  if (verdict.state === 'failed' && verdict.pod) {
    return { pod: state.pods.get(verdict.pod), container: verdict.container ?? '' };
  }
  const replicaSet = deployment ? newReplicaSet(deployment, [...state.replicaSets.values()]) : undefined;
  const pods = replicaSet ? podsOf(replicaSet, [...state.pods.values()]) : [];
  const pod = pods.find((p) => !(p.status?.containerStatuses ?? []).every((c) => c.ready)) ?? pods[0];
  const container = (pod?.status?.containerStatuses ?? []).find((c) => !c.ready)?.name ?? '';
  return { pod, container };
}

/** A failed verdict in one line, with its reason named once. */
function describe(verdict: Extract<Verdict, { state: 'failed' }>): string {
  return verdict.message.includes(verdict.reason) ? verdict.message : `${verdict.reason}: ${verdict.message}`;
}

function revisionOf(deployment: V1Deployment | undefined): string {
  return deployment?.metadata?.annotations?.[REVISION_ANNOTATION] ?? '';
}

/** Record, patch, watch, decide, restore. Never throws for a failed rollout: that is a result, not an error. */
export async function deploy(
  kube: Kube,
  request: DeployRequest,
  log: Log,
  now: () => number = Date.now,
): Promise<DeployResult> {
  const started = now();
  const reports = new Map<string, TargetReport>();
  const patched: { record: TargetRecord; generation: number }[] = [];
  let patchError: string | undefined;

  await log.group('Deploy', () =>
    Promise.all(
      request.targets.map(async (target) => {
        try {
          const outcome = await patchTarget(kube, target, request, log);
          const { record } = outcome;
          reports.set(record.key, {
            key: record.key,
            containers: record.containers.map((c) => c.name),
            imagesBefore: Object.fromEntries(record.containers.map((c) => [c.name, c.image])),
            imageAfter: request.reference,
            revisionBefore: record.revision,
            revisionAfter: record.revision,
            replicas: record.replicas,
            outcome: 'no-op',
            message: 'already running this digest',
            seconds: 0,
          });
          if ('noop' in outcome) log.info(`${record.key}: already runs ${request.digest}; nothing to do`);
          else patched.push(outcome);
        } catch (error) {
          patchError ??= `${targetKey(target)}: ${messageOf(error)}`;
        }
      }),
    ),
  );
  const records = patched.map((p) => p.record);
  if (records.length > 0) request.onPatched?.(records);

  const finish = (
    result: DeployResultKind,
    failureReason: string,
    extra: Partial<DeployResult> = {},
  ): DeployResult => ({
    result,
    failureReason,
    targets: request.targets.map((t) => reports.get(targetKey(t))).filter((r): r is TargetReport => r !== undefined),
    evidence: [],
    rollbackError: undefined,
    verdictMs: 0,
    restoreMs: undefined,
    ...extra,
  });

  if (patchError === undefined && patched.length === 0) return finish('no-op', '');

  let wait: WaitResult | undefined;
  let failure: string | undefined = patchError;
  const patchedAt = now();
  if (patchError === undefined) {
    wait = await log.group('Rollout', () =>
      waitForRollouts(
        kube,
        patched.map((p) => ({
          key: p.record.key,
          namespace: p.record.namespace,
          name: p.record.name,
          minGeneration: p.generation,
        })),
        { deadline: started + request.timeoutMs, failFast: request.failFast, signal: request.signal },
        log,
        now,
      ),
    );
    for (const [key, verdict] of wait.verdicts) {
      const report = reports.get(key);
      if (report === undefined) continue;
      report.revisionAfter = revisionOf(wait.deployments.get(key));
      report.seconds = Math.round(((wait.finishedAt.get(key) ?? now()) - started) / 100) / 10;
      report.outcome = verdict.state === 'done' ? 'success' : verdict.state === 'failed' ? 'failed' : 'interrupted';
      report.message = verdict.state === 'failed' ? describe(verdict) : verdict.message;
      if (verdict.state === 'failed' && failure === undefined) failure = `${key}: ${describe(verdict)}`;
    }
  }
  const verdictAt = now();
  const verdictMs = verdictAt - patchedAt;
  if (failure === undefined) return finish('success', '', { verdictMs });

  const evidence: Evidence[] = [];
  if (wait !== undefined) {
    const { states, verdicts, deployments } = wait;
    for (const record of records) {
      const verdict = verdicts.get(record.key);
      if (verdict?.state !== 'failed' || verdict.reason === 'Cancelled') continue;
      const { pod, container } = failingPod(states.get(record.namespace), deployments.get(record.key), verdict);
      evidence.push(
        await collectEvidence(kube, record.key, record.namespace, pod, container, verdict.reason, verdict.message),
      );
    }
  }

  if (!request.rollback || records.length === 0) return finish('failed', failure, { evidence, verdictMs });

  const { rollbackError } = await log.group('Rollback', async () => {
    log.info(`Rolling back ${records.map((r) => r.key).join(', ')} to the recorded templates`);
    const restored = await rollBack(kube, records, log);
    let rollbackError =
      restored.errors.length > 0 ? restored.errors.map((e) => `${e.key}: ${e.message}`).join('; ') : undefined;
    for (const error of restored.errors) {
      const report = reports.get(error.key);
      if (report) report.outcome = 'rollback-failed';
    }
    if (request.signal.aborted) {
      // Cancelled: the runner gives a few seconds before it kills the step, so restore without waiting.
      for (const item of restored.items) {
        const report = reports.get(item.key);
        if (report) Object.assign(report, { outcome: 'rolled-back', message: 'restored (not waited for: cancelled)' });
      }
    } else if (restored.items.length > 0) {
      const back = await waitForRollouts(
        kube,
        restored.items,
        { deadline: now() + request.timeoutMs, failFast: request.failFast, signal: new AbortController().signal },
        log,
        now,
      );
      for (const [key, verdict] of back.verdicts) {
        const report = reports.get(key);
        if (report === undefined) continue;
        report.revisionAfter = revisionOf(back.deployments.get(key));
        if (verdict.state === 'done') {
          report.outcome = 'rolled-back';
        } else {
          report.outcome = 'rollback-failed';
          const why = verdict.state === 'failed' ? describe(verdict) : verdict.message;
          rollbackError = [rollbackError, `${key}: ${why}`].filter(Boolean).join('; ');
        }
      }
    }
    return { rollbackError };
  });
  const result = rollbackError === undefined ? 'rolled-back' : 'failed';
  return finish(result, failure, { evidence, rollbackError, verdictMs, restoreMs: now() - verdictAt });
}
