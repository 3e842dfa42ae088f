/**
 * The Report phase, reached however the run ended: the comparison with the preview this deploy follows, the
 * outputs, the evidence in the log, the job summary and the PR comment, all written before the verdict marks the
 * step failed. A problem writing any of them warns; it never changes the result.
 */
import type { Evidence } from '../deploy/evidence.js';
import { CancelledError, messageOf } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import { fenced } from '../lib/log-text.js';
import { changedSince, sincePreview, unplanned } from '../preview/since-preview.js';
import { renderReport, SUMMARY_LIMIT } from '../report/markdown.js';
import type { Publisher } from '../report/publish.js';
import { outputsOf, runUrlOf, type Report } from '../report/report.js';
import type { Job } from './job.js';

/** The report of a run that has not got anywhere yet: an error, unless a phase says otherwise. */
export function startReport(env: NodeJS.ProcessEnv): Report {
  return {
    environment: 'default',
    environmentUrl: '',
    result: 'error',
    failureReason: '',
    image: '',
    tags: [],
    reference: '',
    digest: '',
    build: undefined,
    targets: [],
    objects: [],
    evidence: [],
    checks: [],
    jobs: [],
    canary: [],
    rollbackError: undefined,
    sha: env.GITHUB_SHA ?? '',
    actor: env.GITHUB_ACTOR ?? '',
    runUrl: runUrlOf(env),
    durationSeconds: 0,
  };
}

/** What an error thrown by a phase makes of the report: no plan, and the error as the reason. */
export function failedReport(error: unknown, cancelled: boolean): Pick<Report, 'plan' | 'result' | 'failureReason'> {
  return {
    plan: undefined,
    result: error instanceof CancelledError || cancelled ? 'cancelled' : 'error',
    failureReason: messageOf(error),
  };
}

export interface FinishOptions {
  /** The build's metadata output, if the run got that far. */
  metadata: Record<string, unknown> | undefined;
  /** GitHub (comment, deployment, preview lookup), if the inputs could be read. */
  publisher: Publisher | undefined;
  job: Job;
  log: Log;
}

/** Outputs, evidence in the log, the summary and the PR comment; then the verdict. */
export async function finishReport(report: Report, options: FinishOptions): Promise<void> {
  const { metadata, publisher, job, log } = options;
  await log.group('Report', async () => {
    if (publisher) await compareWithPreview(report, publisher, log);
    for (const [name, value] of Object.entries(outputsOf(report, metadata))) job.setOutput(name, value);
    job.print(fenced(report.evidence.flatMap(evidenceLines)));
    try {
      await job.writeSummary(renderReport(report, { limit: SUMMARY_LIMIT, logLines: 50 }));
    } catch (error) {
      log.warning(`Could not write the job summary: ${messageOf(error)}`);
    }
    if (publisher) await publisher.publish(report);
  });
  const failure = failureOf(report);
  if (failure !== undefined) job.setFailed(failure);
  else log.info(successOf(report));
}

/** The step's failure message for the report, or `undefined` when the step succeeds. */
function failureOf(report: Report): string | undefined {
  if (report.result === 'preview') return report.failureReason ? `Preview: ${report.failureReason}` : undefined;
  if (report.result === 'success' || report.result === 'no-op') return undefined;
  const prefix =
    report.result === 'rolled-back'
      ? 'Rolled back: '
      : report.result === 'cancelled' && !report.failureReason.includes('Cancelled')
        ? 'Cancelled: '
        : '';
  const rollback = report.rollbackError ? ` Rollback also failed: ${report.rollbackError}` : '';
  return `${prefix}${report.failureReason}${rollback}`;
}

/** The last line of a step that succeeded. */
function successOf(report: Report): string {
  if (report.result === 'preview') return 'Preview: the cluster accepts this deploy; nothing was changed.';
  return report.result === 'no-op' ? 'Already running this digest: nothing changed.' : 'Deployed.';
}

/** The evidence of one target as log lines (cluster text: printed fenced, see `fenced`). */
function evidenceLines(e: Evidence): string[] {
  const where = `${e.pod ? ` in pod ${e.pod}` : ''}${e.container ? ` container ${e.container}` : ''}`;
  const lines = [`Evidence for ${e.target}: ${e.reason}${where}`];
  const t = e.lastTermination;
  if (t) lines.push(`  last exit code ${t.exitCode} (${t.reason}): ${t.message}`);
  for (const ev of e.events) lines.push(`  event ${ev.reason} x${ev.count}: ${ev.message}`);
  lines.push(`  last ${e.logs.length} log lines (${e.logSource}):`, ...e.logs.map((line) => `  | ${line}`));
  return lines;
}

/**
 * A deploy that follows a preview: says per target and object whether the cluster changed it since (the report too),
 * and warns when the preview is of another commit than the merged head, or did not plan for some of what was deployed.
 */
async function compareWithPreview(report: Report, publisher: Publisher, log: Log): Promise<void> {
  const deployed = report.targets.length > 0 || report.objects.length > 0;
  if (report.result === 'preview' || report.result === 'error' || !deployed) return;
  const found = await publisher.findPreview();
  if (found === undefined) return;
  const since = sincePreview(found, report.targets, report.objects);
  report.sincePreview = since;
  const of = `the preview of ${since.sha.slice(0, 7)}`;
  if (!since.headPreviewed) {
    log.warning(
      `the merged head ${since.head ? since.head.slice(0, 7) : '(unknown: GitHub did not say)'} was never previewed: ` +
        `the preview found is of ${since.sha.slice(0, 7)}, so no reviewed plan covers what was deployed`,
    );
    return;
  }
  const items = [...since.targets, ...since.objects];
  const changed = items.filter(changedSince);
  for (const i of changed) {
    log.warning(
      `${i.key} changed in the cluster since ${of} (resourceVersion ${i.atPreview || '(none)'} then, ${i.atDeploy || '(none)'} before this deploy): the plan reviewed did not hold for it`,
    );
  }
  const notPlanned = items.filter(unplanned);
  if (notPlanned.length > 0) {
    log.warning(
      `${notPlanned.map((i) => i.key).join(', ')} ${notPlanned.length === 1 ? 'was' : 'were'} not in ${of}: ` +
        'no reviewed plan covers ' +
        (notPlanned.length === 1 ? 'it' : 'them'),
    );
  }
  if (changed.length === 0 && notPlanned.length === 0) log.info(`Since ${of}: nothing it planned for changed`);
}
