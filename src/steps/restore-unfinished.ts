/**
 * The post step's work: if the main step applied or patched anything but never reached its verdict (the runner
 * killed it), undo what it changed so nothing is left half-deployed, unless the workflow said `rollback: false`.
 */
import type { Kube } from '../cluster/kube.js';
import { restoreObjects } from '../deploy/apply.js';
import { loadObjectRecords, loadRecords, removeRecordsFile } from '../deploy/records-file.js';
import { rollBack } from '../deploy/restore.js';
import type { Log } from '../lib/log.js';

/** What the main step saved for the post step. */
export interface SavedState {
  /** The targets' records file ('' when nothing was patched). */
  recordsFile: string;
  /** The manifests' records file ('' when nothing was applied). */
  objectsFile: string;
  /** Whether the main step reached its verdict (and rollback, if any). */
  finished: boolean;
}

/** Read only when there is something to undo: the inputs, and the cluster. */
export interface Undo {
  /** The `rollback` input. */
  rollback: () => boolean;
  connect: () => Kube;
  log: Log;
}

/**
 * Undoes what an unfinished main step changed; returns what could not be restored, or undefined. The records files
 * are removed whatever happens: after the post step nobody reads them.
 */
export async function restoreUnfinished(saved: SavedState, undo: Undo): Promise<string | undefined> {
  try {
    return await restoreFromRecords(saved, undo);
  } finally {
    removeRecordsFile(saved.recordsFile);
    removeRecordsFile(saved.objectsFile);
  }
}

async function restoreFromRecords(saved: SavedState, { rollback, connect, log }: Undo): Promise<string | undefined> {
  const { recordsFile, objectsFile } = saved;
  if ((recordsFile === '' && objectsFile === '') || saved.finished) return undefined;
  const records = recordsFile === '' ? [] : loadRecords(recordsFile);
  const objects = objectsFile === '' ? [] : loadObjectRecords(objectsFile);
  const keys = [...records.map((r) => r.key), ...objects.map((o) => o.key)].join(', ');
  if (!rollback()) {
    log.warning(`The deploy did not finish; ${keys} left as they are (rollback: false)`);
    return undefined;
  }
  log.warning(`The deploy did not finish: undoing what it changed in ${keys}`);
  const kube = connect();
  // Objects the deploy applied: what it created goes, what it changed is set back (newest first).
  const undone = await restoreObjects(kube, objects, log, 60_000);
  const { errors, notes } = await rollBack(kube, records, log);
  const problems = [
    ...undone.errors.map((e) => `${e.key}: ${e.message}`),
    ...errors.map((e) => `${e.key}: ${e.message}`),
    ...notes.filter((n) => n.left).map((n) => `${n.key}: not restored: ${n.note}`),
  ];
  return problems.length > 0 ? `Could not restore: ${problems.join('; ')}` : undefined;
}
