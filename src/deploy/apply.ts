/**
 * A manifest deploy's changes to the cluster: apply every object with server-side apply (recording what each was),
 * and undo them: delete what the deploy created, set back what it changed (see object-record.ts), newest first.
 */
import { messageOf } from '../lib/errors.js';
import { isStatus, KubeError, type Kube, type KubeObject } from '../cluster/kube.js';
import { selectorString } from '../cluster/kube-watch.js';
import type { Log } from '../lib/log.js';
import { objectKey, sourceOf, workloadKindOf, type ImageUse, type ManifestObject } from '../desired/manifests.js';
import { appliedOutcome, planObjectRestore, type ObjectRecord } from './object-record.js';
import { logRetry, retryingTransient } from '../cluster/retry.js';
import { withConflictRetry } from './conflict.js';
import { targetKey } from '../desired/targets.js';
import type { ObjectResult, TargetResult } from './result.js';
import { deadlineExceededAt, revisionOf } from './target-record.js';
import { wantedPods } from './verdict.js';
import type { WaitItem } from './wait.js';
import type { Workload } from '../cluster/workload.js';
import type { V1LabelSelector } from '@kubernetes/client-node';

/**
 * The message of an apply the API server refused, with where the object came from and, for a conflict, the fix.
 * For a Secret, the server's free text is left out (it can quote a value: `expected string, got ...`): the status,
 * the reason and the field paths say what and where.
 */
export function applyProblem(m: ManifestObject, error: unknown): string {
  const message = refusalOf(m.object.kind, error);
  const fix =
    isStatus(error, 409) && /conflict/i.test(message)
      ? '; another field manager owns these fields: remove them from the manifest, or set force-conflicts: true to take them over'
      : '';
  return `${sourceOf(m)} (${objectKey(m.object)}): ${message}${fix}`;
}

/** What the API server said, except for a Secret (see `applyProblem`). */
function refusalOf(kind: string, error: unknown): string {
  return kind === 'Secret' ? secretRefusal(error) : messageOf(error);
}

function secretRefusal(error: unknown): string {
  if (!(error instanceof KubeError))
    return "the apply failed; its message is not shown, as it can quote the Secret's values";
  const what = [error.status > 0 ? `HTTP ${error.status}` : 'no answer', error.reason].filter(Boolean).join(' ');
  const where = error.fields.length > 0 ? ` at ${error.fields.join(', ')}` : '';
  return `the API server refused it (${what})${where}; its message is not shown, as it can quote the Secret's values`;
}

/**
 * Applies the objects in order; stops at the first refusal (its message names the file and document). Every record
 * is handed to `onApplied` as soon as it exists, so a step killed halfway can still be undone.
 */
export async function applyAll(
  kube: Kube,
  objects: ManifestObject[],
  options: { force: boolean; retryMs: number; onApplied?: (records: ObjectRecord[]) => void },
  log: Log,
): Promise<{ records: ObjectRecord[]; reports: ObjectResult[]; error?: string }> {
  const records: ObjectRecord[] = [];
  const reports: ObjectResult[] = [];
  const deadline = Date.now() + options.retryMs;
  const retry = logRetry(log);
  for (const m of objects) {
    const key = objectKey(m.object);
    try {
      const read = await retryingTransient(() => kube.getObject(refOf(m.object)), deadline, retry);
      const { object: after, created } = await retryingTransient(
        () => kube.applyObject(m.object, { dryRun: false, force: options.force }),
        deadline,
        retry,
      );
      // Created or not is the apply's own answer; the read only gives the values before, and only when it saw the
      // very object the apply changed (someone can delete it, or make it, in between).
      const before = !created && read?.metadata.uid === after.metadata.uid ? read : undefined;
      const outcome = appliedOutcome(created, before, after);
      records.push({ key, source: sourceOf(m), ref: refOf(m.object), created, before, applied: m.object, after });
      reports.push({
        key,
        source: sourceOf(m),
        outcome,
        resourceVersionBefore: before?.metadata.resourceVersion ?? '',
      });
      options.onApplied?.(records);
      log.info(`${key}: ${outcome}`);
    } catch (error) {
      return { records, reports, error: applyProblem(m, error) };
    }
  }
  return { records, reports };
}

export function refOf(object: KubeObject) {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace: object.metadata.namespace,
    name: object.metadata.name,
  };
}

/** A workload the manifests applied (or restored), to be watched like a patched target. */
export function workloadItem(object: KubeObject): WaitItem | undefined {
  const kind = workloadKindOf(object);
  if (kind === undefined) return undefined;
  const namespace = object.metadata.namespace ?? '';
  const name = object.metadata.name;
  return {
    key: targetKey({ kind, namespace, name }),
    kind,
    namespace,
    name,
    selector: selectorString((object.spec as { selector?: V1LabelSelector } | undefined)?.selector),
    minGeneration: object.metadata.generation ?? 0,
  };
}

/** Undoes one object's change; returns the object as restored when it was set back (a workload: to wait for). */
function restoreOne(kube: Kube, record: ObjectRecord, deadline: number, log: Log) {
  const retry = logRetry(log, record.key);
  return withConflictRetry({
    key: record.key,
    doing: 'restored',
    read: () => retryingTransient(() => kube.getObject(record.ref), deadline, retry),
    decide: (live: KubeObject | undefined) => planObjectRestore(record, live),
    write: async (plan) => {
      if (plan.kind === 'delete') {
        try {
          await retryingTransient(() => kube.deleteObject(record.ref, plan.uid), deadline, retry);
          log.info(`${record.key}: deleted (this deploy created it)`);
        } catch (error) {
          // Gone already. (A 409 is a replacement with another uid: read and decided again.)
          if (!isStatus(error, 404)) throw error;
        }
        return { outcome: 'deleted' as const, note: undefined, restored: undefined };
      }
      if (plan.kind === 'apply') {
        const { object: restored } = await kube.applyObject(plan.object, { dryRun: false, force: true });
        const kept = plan.kept.length > 0 ? `; kept someone else's later change to ${plan.kept.join(', ')}` : '';
        log.info(`${record.key}: restored ${plan.restored.join(', ')}${kept}`);
        return { outcome: 'restored' as const, note: kept ? kept.slice(2) : undefined, restored };
      }
      log.info(`${record.key}: ${plan.note}`);
      return {
        outcome: plan.kind === 'leave' ? ('not-restored' as const) : ('restored' as const),
        note: plan.note,
        restored: undefined,
      };
    },
    // A restore whose answer was lost may have landed: the next read tells.
    transientUntil: deadline,
    log,
  });
}

export interface ObjectsRestored {
  reports: Map<string, ObjectResult>;
  /** Workloads set back to their recorded state, to wait for. */
  items: WaitItem[];
  /** Workloads the deploy created and the rollback deleted. */
  deleted: string[];
  errors: { key: string; message: string }[];
}

/** Undoes every record, newest first; an object that cannot be restored is an error naming it, the others go on. */
export async function restoreObjects(
  kube: Kube,
  records: ObjectRecord[],
  log: Log,
  retryMs: number,
): Promise<ObjectsRestored> {
  const result: ObjectsRestored = { reports: new Map(), items: [], deleted: [], errors: [] };
  const deadline = Date.now() + retryMs;
  for (const record of [...records].reverse()) {
    try {
      const { outcome, note, restored } = await restoreOne(kube, record, deadline, log);
      result.reports.set(record.key, { key: record.key, source: record.source, outcome, ...(note ? { note } : {}) });
      const item = restored && workloadItem(restored);
      if (item) result.items.push(item);
      const workload = workloadItem(record.after);
      if (outcome === 'deleted' && workload) result.deleted.push(workload.key);
    } catch (error) {
      // The restore sends the live values recorded before the deploy, which no input registered as secrets.
      const message = refusalOf(record.ref.kind, error);
      result.errors.push({ key: record.key, message });
      result.reports.set(record.key, {
        key: record.key,
        source: record.source,
        outcome: 'not-restored',
        note: message,
      });
    }
  }
  return result;
}

/** The containers of a pod template, by name, with their images. */
function imagesOf(object: KubeObject | undefined, names: string[]): Record<string, string> {
  const spec = (
    object?.spec as
      | {
          template?: {
            spec?: {
              containers?: { name: string; image?: string }[];
              initContainers?: { name: string; image?: string }[];
            };
          };
        }
      | undefined
  )?.template?.spec;
  const all = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  return Object.fromEntries(all.filter((c) => names.includes(c.name)).map((c) => [c.name, c.image ?? '']));
}

/**
 * The workloads among the applied objects: each is watched like a patched target (one the apply left unchanged
 * only until judged healthy) and reported like one.
 */
export function appliedWorkloads(
  records: ObjectRecord[],
  reports: ObjectResult[],
  uses: ImageUse[],
  reference: string,
): { changed: WaitItem[]; unchanged: WaitItem[]; targets: TargetResult[] } {
  const out = { changed: [] as WaitItem[], unchanged: [] as WaitItem[], targets: [] as TargetResult[] };
  for (const record of records) {
    const item = workloadItem(record.after);
    if (item === undefined) continue;
    const changed = reports.find((r) => r.key === record.key)?.outcome !== 'unchanged';
    const containers = uses.find((u) => u.key === record.key)?.containers ?? [];
    const after = record.after as unknown as Workload;
    if (changed) {
      out.changed.push({
        ...item,
        staleDeadlineAt: deadlineExceededAt(after),
        ...(containers.length > 0 ? { expected: { containers, reference } } : {}),
      });
    } else out.unchanged.push(item);
    const revision = revisionOf(item.kind, record.before as unknown as Workload | undefined);
    out.targets.push({
      key: item.key,
      kind: item.kind,
      containers,
      imagesBefore: imagesOf(record.before, containers),
      imageAfter: containers.length > 0 ? reference : '',
      revisionBefore: revision,
      revisionAfter: revision,
      resourceVersionBefore: record.before?.metadata.resourceVersion ?? '',
      replicas: wantedPods(item.kind, after),
      podLabels: after?.spec?.template.metadata?.labels ?? {},
      outcome: changed ? 'interrupted' : 'no-op',
      message: changed
        ? record.created
          ? 'created, not judged yet'
          : 'applied, not judged yet'
        : 'unchanged by the apply',
      seconds: 0,
    });
  }
  return out;
}
