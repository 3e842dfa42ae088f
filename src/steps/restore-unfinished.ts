/**
 * The post step's work: if the main step applied or patched anything but never reached its verdict (the runner
 * killed it), undo what it changed so nothing is left half-deployed, unless the workflow said `rollback: false`.
 */
import { isStatus, type Kube } from '../cluster/kube.js';
import { restoreObjects } from '../deploy/apply.js';
import {
  loadJobRecords,
  loadObjectRecords,
  loadRecords,
  loadReleaseRecord,
  loadRouteRecords,
  removeRecordsFile,
} from '../deploy/records-file.js';
import { finishLeftRelease, type ReleaseRecord } from '../deploy/chart-release.js';
import { restoreRoute } from '../deploy/canary-traffic.js';
import type { Helm } from '../helm/helm.js';
import type { JobRecord } from '../deploy/job-run.js';
import { messageOf } from '../lib/errors.js';
import { rollBack } from '../deploy/restore.js';
import type { Log } from '../lib/log.js';

/** What the main step saved for the post step. */
export interface SavedState {
  /** The targets' records file ('' when nothing was patched). */
  recordsFile: string;
  /** The manifests' records file ('' when nothing was applied). */
  objectsFile: string;
  /** The running Jobs' records file ('' when no Job was started). */
  jobsFile: string;
  /** The Helm release's record file ('' or unset without `chart`). */
  releaseFile?: string;
  /** The record of the route of `canary-route` ('' or unset without one). */
  routeFile?: string;
  /** Whether the main step reached its verdict (and rollback, if any). */
  finished: boolean;
}

/** Read only when there is something to undo: the inputs, and the cluster. */
export interface Undo {
  /** The `rollback` input. */
  rollback: () => boolean;
  connect: () => Kube;
  log: Log;
  /** The runner's helm for the cluster (a chart's release), and how a helm the killed step left is stopped. */
  helm?: () => Helm & { close(): void };
  stopHelm?: (pid: number, release: string) => Promise<boolean>;
}

/**
 * Undoes what an unfinished main step changed; returns what could not be restored, or undefined. The records files
 * are removed whatever happens: after the post step nobody reads them.
 */
export async function restoreUnfinished(saved: SavedState, undo: Undo): Promise<string | undefined> {
  try {
    const release = saved.releaseFile && !saved.finished ? loadReleaseRecord(saved.releaseFile) : undefined;
    if (release !== undefined) return await finishChartDeploy(release, saved.jobsFile, undo);
    return await restoreFromRecords(saved, undo);
  } finally {
    removeRecordsFile(saved.releaseFile ?? '');
    removeRecordsFile(saved.recordsFile);
    removeRecordsFile(saved.objectsFile);
    removeRecordsFile(saved.jobsFile);
    removeRecordsFile(saved.routeFile ?? '');
  }
}

/** A killed chart deploy: the Jobs of its checks it left running deleted, then its release finished. */
async function finishChartDeploy(release: ReleaseRecord, jobsFile: string, undo: Undo): Promise<string | undefined> {
  const jobs = jobsFile === '' ? [] : loadJobRecords(jobsFile);
  const jobProblems = jobs.length > 0 && undo.rollback() ? await deleteRunningJobs(undo.connect(), jobs, undo.log) : [];
  const problem = await finishRelease(release, undo);
  const problems = [...jobProblems, ...(problem === undefined ? [] : [problem])];
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/** A chart's release the killed step left: its helm stopped, then rolled back (or uninstalled), never left pending. */
async function finishRelease(
  record: ReleaseRecord,
  { rollback, helm, stopHelm, log }: Undo,
): Promise<string | undefined> {
  const name = `${record.namespace}/${record.release}`;
  if (record.helmPid !== undefined && (await stopHelm?.(record.helmPid, record.release))) {
    log.info(`Stopped the helm upgrade of ${name} the deploy left running`);
  }
  if (!rollback()) {
    log.warning(`The deploy did not finish; release ${name} left as it is (rollback: false)`);
    return undefined;
  }
  if (helm === undefined) return `release ${name}: no helm to roll it back with`;
  log.warning(`The deploy did not finish: restoring release ${name}`);
  const client = helm();
  try {
    const problem = await finishLeftRelease(client, record, log, 120_000);
    return problem === undefined ? undefined : `Could not restore: ${problem}`;
  } finally {
    client.close();
  }
}

/** Deletes the Jobs a killed main step left running (a migration or a check): by uid, so a re-run's Job is kept. */
async function deleteRunningJobs(kube: Kube, jobs: JobRecord[], log: Log): Promise<string[]> {
  const problems: string[] = [];
  for (const job of jobs) {
    try {
      await kube.deleteObject(job, job.uid);
      log.info(`Deleted Job ${job.namespace}/${job.name}, which the deploy started and never saw end`);
    } catch (error) {
      if (isStatus(error, 404) || isStatus(error, 409)) continue;
      problems.push(`Job ${job.namespace}/${job.name}: ${messageOf(error)}`);
    }
  }
  return problems;
}

async function restoreFromRecords(saved: SavedState, { rollback, connect, log }: Undo): Promise<string | undefined> {
  const { recordsFile, objectsFile, jobsFile, routeFile = '' } = saved;
  if (saved.finished || [recordsFile, objectsFile, jobsFile, routeFile].every((f) => f === '')) return undefined;
  const records = recordsFile === '' ? [] : loadRecords(recordsFile);
  const objects = objectsFile === '' ? [] : loadObjectRecords(objectsFile);
  const jobs = jobsFile === '' ? [] : loadJobRecords(jobsFile);
  const routes = routeFile === '' ? [] : loadRouteRecords(routeFile);
  if (records.length + objects.length + jobs.length + routes.length === 0) return undefined;
  const keys = [
    ...routes.map((r) => r.key),
    ...jobs.map((j) => `Job ${j.namespace}/${j.name}`),
    ...records.map((r) => r.key),
    ...objects.map((o) => o.key),
  ].join(', ');
  if (!rollback()) {
    log.warning(`The deploy did not finish; ${keys} left as they are (rollback: false)`);
    return undefined;
  }
  log.warning(`The deploy did not finish: undoing what it changed in ${keys}`);
  const kube = connect();
  const jobProblems = await deleteRunningJobs(kube, jobs, log);
  // A canary's route first: its recorded weights back before the canary's Service and pods go (objects, below).
  for (const route of routes) {
    const left = await restoreRoute(kube, route, log).catch((error: unknown) => `${route.key}: ${messageOf(error)}`);
    if (left !== undefined) jobProblems.push(left);
  }
  // Objects the deploy applied: what it created goes, what it changed is set back (newest first).
  const undone = await restoreObjects(kube, objects, log, 60_000);
  const { errors, notes } = await rollBack(kube, records, log);
  const problems = [
    ...jobProblems,
    ...undone.errors.map((e) => `${e.key}: ${e.message}`),
    ...errors.map((e) => `${e.key}: ${e.message}`),
    ...notes.filter((n) => n.left).map((n) => `${n.key}: not restored: ${n.note}`),
  ];
  return problems.length > 0 ? `Could not restore: ${problems.join('; ')}` : undefined;
}
