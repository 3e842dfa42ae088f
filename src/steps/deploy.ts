/**
 * The deploy branch: the engine applies, patches, watches, decides and restores (it never throws for a failed
 * rollout); then the report learns where each workload still running is reachable.
 */
import type { Kube, WorkloadRef } from '../cluster/kube.js';
import type { Log } from '../lib/log.js';
import type { Report } from '../report/report.js';
import { gatherRoutes } from '../report/routes.js';
import type { PostRecords } from '../deploy/records-file.js';
import { DELETED_NOTE, deploy as rollOut, type DeployRequest } from '../deploy/rollout.js';
import type { Job } from './job.js';

export interface DeployOptions {
  /** The workloads the deploy changes, whose routes the report shows. */
  workloads: (WorkloadRef & { key: string })[];
  job: Job;
  log: Log;
  /** The records saved for the post step: removed once the engine has finished, as nothing is left to undo. */
  records: PostRecords;
}

/** What a deploy puts in the report. */
export type Deployed = Pick<
  Report,
  'result' | 'failureReason' | 'targets' | 'objects' | 'evidence' | 'rollbackError' | 'checks' | 'jobs' | 'canary'
>;

export async function deploy(
  kube: Kube,
  request: DeployRequest,
  { workloads, job, log, records }: DeployOptions,
): Promise<Deployed> {
  const result = await rollOut(kube, request, log);
  job.save('finished', 'true');
  records.remove();
  if (result.result !== 'no-op') log.info(`Verdict ${(result.verdictMs / 1000).toFixed(1)}s after the patch`);
  if (result.restoreMs !== undefined && result.rollbackError === undefined)
    log.info(`Restored and healthy ${(result.restoreMs / 1000).toFixed(1)}s after the verdict`);
  // Routes to what runs now: a workload the rollback deleted has none (and a cancelled run asks for none).
  const running = workloads.flatMap((t) => {
    const done = result.targets.find((r) => r.key === t.key && r.restoreNote !== DELETED_NOTE);
    return done === undefined ? [] : [{ ...t, podLabels: done.podLabels }];
  });
  const routes = request.signal.aborted ? undefined : await gatherRoutes(kube, running);
  return {
    result: result.result,
    failureReason: result.failureReason,
    targets: routes ? result.targets.map((t) => ({ ...t, routes: routes.get(t.key) })) : result.targets,
    objects: result.objects,
    evidence: result.evidence,
    rollbackError: result.rollbackError,
    checks: result.checks,
    jobs: result.jobs,
    canary: result.canary,
  };
}
