/**
 * Putting back the targets a deploy patched, exactly as recorded and nothing more (see `planRestore`), riding out
 * conflicts and errors that can pass; a StatefulSet's pods stuck on the failed release are replaced. The deploy's
 * rollback and the post step (a job cancelled or killed) both use it.
 */
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { sleep } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import { isStatus, type Kube } from '../cluster/kube.js';
import { logRetry, retryingTransient } from '../cluster/retry.js';
import { REVISION_HASH_LABEL, type Workload } from '../cluster/workload.js';
import { withConflictRetry } from './conflict.js';
import { planRestore } from './patch.js';
import { withPartition } from './partition.js';
import { waitItemOf, type TargetRecord } from './target-record.js';
import type { WaitItem } from './wait.js';

export interface Restored {
  /** Targets patched back, to wait for. */
  items: WaitItem[];
  /** Targets already as recorded, or left alone, with why. */
  notes: { key: string; note: string; left: boolean }[];
  errors: { key: string; message: string }[];
}

/** Puts back one target as `planRestore` decides, re-reading and re-deciding on 409 Conflict or a lost answer. */
function restoreTarget(kube: Kube, record: TargetRecord, deadline: number, log: Log) {
  return withConflictRetry({
    key: record.key,
    doing: 'restored',
    read: () => retryingTransient(() => kube.getWorkload(record), deadline, logRetry(log, record.key)),
    decide: (live: Workload) =>
      withPartition(planRestore(record, live), record.partition, live, live.metadata?.resourceVersion ?? ''),
    write: async (plan) => {
      if (plan.kind !== 'patch') {
        log.info(`${record.key}: ${plan.note}`);
        return { plan, patched: undefined };
      }
      const patched = await kube.patchWorkload(record, plan.ops);
      if (plan.note) log.info(`${record.key}: ${plan.note}`);
      return { plan, patched };
    },
    // The next read shows whether a write whose answer was lost landed.
    transientUntil: deadline,
    log,
  });
}

/** How long a StatefulSet's controller gets to take in the restored template before its stuck pods are released. */
const OBSERVE_RESTORE_MS = 15_000;

interface Release {
  kube: Kube;
  record: TargetRecord;
  /** The rollback's own limit: nothing here waits past it. */
  deadline: number;
  log: Log;
}

/**
 * A StatefulSet (OrderedReady) waits for a broken pod to become Ready before it replaces it, so a restored template
 * alone leaves the failed release's pod crash-looping for good. Once the controller has taken in the restore (its
 * update revision the recorded one again), every own pod of another revision that is not Ready is deleted (only that
 * very pod: uid precondition), and the controller makes it again from the restored template. Returns the live
 * StatefulSet when it deleted any (to wait for), undefined otherwise; a problem here is logged, never thrown: the
 * restore itself has landed.
 */
async function releaseStuckPods(release: Release): Promise<Workload | undefined> {
  const { kube, record, deadline, log } = release;
  const retry = logRetry(log, record.key);
  try {
    const live = await restoreTakenIn(release);
    if (live === undefined) {
      log.info(`${record.key}: the controller has not taken in the restored template yet; its pods are left to it`);
      return undefined;
    }
    const pods = await retryingTransient(() => kube.listPods(record.namespace, record.selector), deadline, retry);
    const stuck = pods.filter((pod) => isStuck(pod, record));
    for (const pod of stuck) {
      const name = pod.metadata?.name ?? '';
      try {
        await retryingTransient(() => kube.deletePod(record.namespace, name, pod.metadata?.uid ?? ''), deadline, retry);
        log.info(
          `${record.key}: deleted pod ${name} of the failed revision (not Ready), so that the StatefulSet makes it ` +
            'again from the restored template instead of waiting for it',
        );
      } catch (error) {
        // Gone already, or replaced by the controller (another uid): nothing of the failed release is left there.
        if (!isStatus(error, 404) && !isStatus(error, 409)) throw error;
      }
    }
    return stuck.length > 0 ? live : undefined;
  } catch (error) {
    log.info(
      `${record.key}: could not replace the failed revision's pods that are not Ready (${messageOf(error)}); ` +
        `the StatefulSet waits for them: delete them by hand (kubectl -n ${record.namespace} delete pod NAME)`,
    );
    return undefined;
  }
}

/** The StatefulSet once its controller has taken in the restored template; undefined if not within OBSERVE_RESTORE_MS. */
async function restoreTakenIn({ kube, record, deadline, log }: Release): Promise<V1StatefulSet | undefined> {
  const until = Math.min(Date.now() + OBSERVE_RESTORE_MS, deadline);
  const retry = logRetry(log, record.key);
  for (;;) {
    const live = (await retryingTransient(() => kube.getWorkload(record), deadline, retry)) as V1StatefulSet;
    const caughtUp = (live.status?.observedGeneration ?? 0) >= (live.metadata?.generation ?? 0);
    if (caughtUp && live.status?.updateRevision === record.revision) return live;
    if (Date.now() > until) return undefined;
    await sleep(250);
  }
}

/** A pod of the StatefulSet's failed revision, not Ready and not already going: the controller waits for it forever. */
function isStuck(pod: V1Pod, record: TargetRecord): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.metadata?.labels?.[REVISION_HASH_LABEL] !== record.revision &&
    (pod.metadata?.ownerReferences ?? []).some((o) => o.uid === record.uid && o.controller === true) &&
    !(pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/**
 * Step 5: restore every record (only what we changed), riding out errors that can pass for up to `retryMs`;
 * returns what to wait for, what was left, and errors.
 */
export async function rollBack(kube: Kube, records: TargetRecord[], log: Log, retryMs = 60_000): Promise<Restored> {
  const restored: Restored = { items: [], notes: [], errors: [] };
  const deadline = Date.now() + retryMs;
  await Promise.all(
    records.map(async (record) => {
      try {
        const { plan, patched } = await restoreTarget(kube, record, deadline, log);
        // The recorded template is back (sent now, or found there: an answer lost, or the main step restored it
        // before the runner killed it): a StatefulSet's stuck pods of the failed release go, and it is waited for.
        const wholeTemplate = plan.kind === 'nothing' || (plan.kind === 'patch' && plan.only === 'template');
        const released =
          record.kind === 'statefulset' && record.revision !== '' && record.applied !== undefined && wholeTemplate
            ? await releaseStuckPods({ kube, record, deadline, log })
            : undefined;
        const waitFor = patched ?? released;
        if (waitFor !== undefined) restored.items.push(waitItemOf(record, waitFor));
        if (plan.kind !== 'patch' || plan.only === 'images') {
          restored.notes.push({ key: record.key, note: plan.note, left: plan.kind === 'leave' });
        }
      } catch (error) {
        restored.errors.push({ key: record.key, message: messageOf(error) });
      }
    }),
  );
  return restored;
}

/** How to finish a restore that could not be made: `kubectl rollout undo` to the recorded revision. */
export function byHand(key: string, records: TargetRecord[]): string {
  const record = records.find((r) => r.key === key);
  if (record === undefined) return 'restore it by hand';
  const undo = `kubectl -n ${record.namespace} rollout undo ${record.kind}/${record.name}`;
  if (record.kind === 'deployment' && record.revision !== '') {
    return `it still runs this deploy's image; restore it by hand: ${undo} --to-revision=${record.revision}`;
  }
  if (record.kind === 'deployment') return 'restore it by hand';
  return `it still runs this deploy's image; restore it by hand: ${undo} (after checking kubectl -n ${record.namespace} rollout history ${record.kind}/${record.name})`;
}
