/**
 * The deploy report: one plain object that the job summary, the PR comment and the outputs are all made from.
 */
import type { Evidence } from '../deploy/evidence.js';
import type { CanaryStepResult } from '../deploy/canary-run.js';
import type { JobResult } from '../deploy/job-run.js';
import type { CheckReport } from '../deploy/verify.js';
import type { DeployResultKind, ObjectResult, TargetResult } from '../deploy/result.js';
import type { Plan } from '../preview/preview.js';
import { changedSince, unplanned, type SincePreview } from '../preview/since-preview.js';
import type { TargetRoutes } from './routes.js';

export type { DeployResultKind, TargetOutcome } from '../deploy/result.js';

/** One target's row of the report: the engine's result and where its pods are reachable. */
export interface TargetReport extends TargetResult {
  /** Where its pods are reachable (Services, Ingress paths), read after the rollout. */
  routes?: TargetRoutes;
}

/** What the deploy (and its rollback) did to one object of the manifests. */
export type ObjectReport = ObjectResult;

export interface BuildReport {
  builder: 'buildx' | 'buildkit';
  buildSeconds: number;
  pushSeconds: number;
  cachedSteps: number;
  totalSteps: number;
  imageId: string;
}

export interface Report {
  environment: string;
  environmentUrl: string;
  /** `error` when the step failed before deploying (preflight, build, push). */
  result: DeployResultKind | 'error';
  failureReason: string;
  image: string;
  tags: string[];
  reference: string;
  digest: string;
  build: BuildReport | undefined;
  targets: TargetReport[];
  /** With `preview: true`: what the deploy would do, as the cluster answered its dry runs. */
  plan?: Plan;
  /** A deploy that follows a preview: what changed in the cluster since that preview. */
  sincePreview?: SincePreview;
  /** The objects of the manifests, in apply order. */
  objects: ObjectReport[];
  evidence: Evidence[];
  /** The last result of each check of `verify`. */
  checks: CheckReport[];
  /** The Jobs run before the rollout (`pre-deploy`). */
  jobs: JobResult[];
  /** The canary's steps (`canary`), in order. */
  canary: CanaryStepResult[];
  rollbackError: string | undefined;
  sha: string;
  actor: string;
  runUrl: string;
  durationSeconds: number;
}

/** The link to the workflow run, from the runner's environment. */
export function runUrlOf(env: NodeJS.ProcessEnv): string {
  if (!env.GITHUB_REPOSITORY || !env.GITHUB_RUN_ID) return '';
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const attempt = env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : '';
  return `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}${attempt}`;
}

/** The action's outputs, as strings keyed by action.yml names. */
export function outputsOf(report: Report, metadata: Record<string, unknown> | undefined): Record<string, string> {
  const previous = Object.fromEntries(report.targets.map((t) => [t.key, t.imagesBefore]));
  const revisions = Object.fromEntries(
    report.targets.map((t) => [t.key, { before: t.revisionBefore, after: t.revisionAfter }]),
  );
  return {
    image: report.reference,
    digest: report.digest,
    imageid: report.build?.imageId ?? '',
    metadata: JSON.stringify(metadata ?? {}),
    result: report.result === 'error' ? 'failed' : report.result,
    'failure-reason': report.failureReason,
    'previous-images': JSON.stringify(previous),
    revisions: JSON.stringify(revisions),
    plan: report.plan ? JSON.stringify({ sha: report.sha, ...report.plan }) : '',
    'since-preview': report.sincePreview ? JSON.stringify(sinceOutput(report.sincePreview)) : '',
    objects: JSON.stringify(Object.fromEntries(report.objects.map((o) => [o.key, o.outcome]))),
    checks: JSON.stringify(
      report.checks.map((c) => ({ check: c.label, what: c.what, result: c.state, last: c.detail, runs: c.runs })),
    ),
    canary: JSON.stringify(
      report.canary.map((s) => ({ share: s.share, replicas: s.replicas, result: s.result, seconds: s.seconds })),
    ),
    duration: String(report.durationSeconds),
  };
}

/** The `since-preview` output: what changed since the preview, and what no preview of the merged head planned. */
function sinceOutput(since: SincePreview) {
  const items = [...since.targets, ...since.objects];
  return {
    sha: since.sha,
    head: since.head ?? '',
    headPreviewed: since.headPreviewed,
    changed: items.filter(changedSince).map((i) => i.key),
    unplanned: items.filter(unplanned).map((i) => i.key),
  };
}
