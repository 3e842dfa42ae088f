/**
 * The preview branch: the request planned by server-side dry runs only (nothing in the cluster changes), the plan
 * printed, and where each workload is reachable gathered for the report.
 */
import type { Kube, WorkloadRef } from '../cluster/kube.js';
import type { Log } from '../lib/log.js';
import type { Secrets } from '../lib/secrets.js';
import { fenced } from '../lib/log-text.js';
import { planDeploy, wouldFail, type Plan, type PlanRequest, type PlanTarget } from '../preview/preview.js';
import type { Report, TargetReport } from '../report/report.js';
import { gatherRoutes } from '../report/routes.js';
import type { Job } from './job.js';

export interface PreviewOptions {
  /** The workloads whose routes the report shows. */
  workloads: (WorkloadRef & { key: string })[];
  env: NodeJS.ProcessEnv;
  job: Job;
  log: Log;
  /** The plan is scrubbed once, here: the log's lines and the report are made from the same scrubbed plan. */
  secrets: Secrets;
}

/** What a preview puts in the report. */
export type Previewed = Pick<Report, 'result' | 'plan' | 'sha' | 'failureReason' | 'targets'>;

export async function preview(kube: Kube, request: PlanRequest, options: PreviewOptions): Promise<Previewed> {
  const { env, job, log } = options;
  const plan = options.secrets.scrubAll(await log.group('Preview', () => planDeploy(kube, request)));
  job.print(fenced(planLines(plan)));
  job.save('finished', 'true');
  const routes = await gatherRoutes(kube, options.workloads);
  return {
    result: 'preview',
    plan,
    // The plan is of the pull request's head commit (GITHUB_SHA is the merge commit on pull_request events).
    sha: job.pullRequestHead() ?? env.GITHUB_SHA ?? '',
    failureReason: wouldFail(plan) ? 'the cluster would refuse this deploy (see the plan)' : '',
    targets: [...routes].map(([key, r]) => ({ ...previewTarget(key), routes: r })),
  };
}

/** The plan as log lines (cluster text: printed fenced, see `fenced`). */
export function planLines(plan: Plan): string[] {
  return [
    ...plan.destructive.map((d) => `Destructive: ${d}`),
    ...plan.targets.flatMap((t) => [
      `${t.key} (resourceVersion ${t.resourceVersion}): ${t.noop ? 'already runs this digest' : t.containers.map((c) => `${c.name} ${c.before} -> ${c.after}`).join(', ')}; ` +
        (t.refusal ? `would fail: ${t.refusal}` : 'the dry run is accepted'),
      ...canaryLines(t),
    ]),
    ...plan.objects.flatMap((o) => [
      `${o.key} (${o.source}): would ${o.action === 'unchanged' ? 'stay unchanged' : o.action}; ${o.refusal ? `would fail: ${o.refusal}` : 'the dry run is accepted'}`,
      ...o.changes.map((c) => `  ${c.field}: ${c.before} -> ${c.after}`),
    ]),
  ];
}

/** The canary's steps a target would take, under its line. */
function canaryLines(target: PlanTarget): string[] {
  if (target.canary === undefined) return [];
  if (target.canary.length === 0) return ['  no canary (already on the digest, or no pod to try the release on)'];
  return target.canary.map(
    (s, i) =>
      `  canary ${i + 1}/${target.canary?.length ?? 0} ${s.share}: ${s.canaryPods} pod(s) of the release` +
      (s.partition === undefined ? ' (NAME-canary)' : ` (partition ${s.partition}: the highest ordinals)`) +
      `, ${s.stablePods} stable`,
  );
}

/** A target row of a preview's report, only to carry where it is reachable. */
function previewTarget(key: string): TargetReport {
  return {
    key,
    kind: 'deployment',
    containers: [],
    imagesBefore: {},
    imageAfter: '',
    revisionBefore: '',
    revisionAfter: '',
    replicas: 0,
    outcome: 'no-op',
    message: 'preview',
    seconds: 0,
  };
}
