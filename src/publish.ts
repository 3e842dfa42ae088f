/**
 * Publishing the report where reviewers look: one sticky comment per environment on the pull request, and a
 * GitHub Deployment with statuses. Every problem here is a warning: the deploy's result is already decided and the
 * job summary already written, so a read-only token (fork PRs, Dependabot) or a GitHub outage must not change it.
 */
import { messageOf } from './errors.js';
import { GitHubError, PULL_REQUEST_EVENTS, type Connection, type DeploymentStatus, type GitHub } from './github.js';
import type { Inputs } from './inputs.js';
import type { Log } from './log.js';
import { COMMENT_LIMIT, renderReport, shortReference } from './markdown.js';
import type { Report } from './report.js';

/** Log lines per failing pod in the comment (the summary shows more). */
export const COMMENT_LOG_LINES = 20;
const DESCRIPTION_LIMIT = 139;

/** The hidden line the sticky comment of one environment is found by. */
export function commentMarker(environment: string): string {
  return `<!-- kube-ship:comment environment=${encodeURIComponent(environment)} -->`;
}

/**
 * The run's link to GitHub: the connection, the deployment it created (if any), and whether the read-only warning
 * was already given, so that a read-only token warns once per run however many calls it refuses.
 */
export interface DeploymentHandle {
  connection: Connection;
  deploymentId: number | undefined;
  /** A GitHub problem was already reported: later ones go to the debug log, so a run warns once. */
  warned: boolean;
}

function session(connection: Connection): DeploymentHandle {
  return { connection, deploymentId: undefined, warned: false };
}

function warn(handle: DeploymentHandle | undefined, log: Log, what: string, error: unknown): void {
  if (handle?.warned) {
    log.debug(`Could not ${what}: ${messageOf(error)} (a GitHub problem was already reported)`);
    return;
  }
  if (handle) handle.warned = true;
  if (error instanceof GitHubError && error.readOnly) {
    log.warning(
      `Could not ${what}: the github-token may not write here (403 "Resource not accessible by integration"), ` +
        'as on pull requests from forks and on Dependabot runs. The deploy result stands and the job summary has the ' +
        'report. To publish it too, grant the workflow "pull-requests: write" and "deployments: write".',
    );
    return;
  }
  log.warning(`Could not ${what}: ${messageOf(error)}. The deploy result stands; the job summary has the report.`);
}

/** Opens the connection (loading Octokit only now), or warns and gives `undefined` (e.g. an empty token). */
async function open(inputs: Inputs, log: Log, connection: Connection | undefined): Promise<Connection | undefined> {
  if (connection) return connection;
  try {
    const { connect } = await import('./github-client.js');
    return connect(inputs['github-token'], log);
  } catch (error) {
    log.warning(`Could not publish to GitHub: ${messageOf(error)}.`);
    return undefined;
  }
}

function clip(text: string, limit: number = DESCRIPTION_LIMIT): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > limit ? `${flat.slice(0, limit - 1)}…` : flat;
}

/**
 * Creates the GitHub Deployment and sets it in progress. Call it before changing the cluster; with
 * `github-deployment: false` it does nothing and gives `undefined`.
 */
export async function startDeployment(
  inputs: Inputs,
  log: Log,
  connection?: Connection,
): Promise<DeploymentHandle | undefined> {
  if (!inputs['github-deployment']) return undefined;
  const opened = await open(inputs, log, connection);
  if (!opened) return undefined;
  const handle = session(opened);
  const { github, context } = opened;
  const environment = inputs.environment;
  try {
    const created = await github.createDeployment({
      sha: context.sha,
      environment,
      description: clip(`kube-ship: ${inputs.image} to ${environment}`),
    });
    if (created.id === undefined) {
      log.warning(
        `GitHub accepted the deployment for ${environment} without creating one (202${created.message ? `: ${created.message}` : ''}); no deployment statuses will be set.`,
      );
      return handle;
    }
    handle.deploymentId = created.id;
    log.info(`GitHub Deployment ${created.id} for ${environment} at ${context.sha.slice(0, 7)}`);
  } catch (error) {
    warn(handle, log, `create a GitHub Deployment for ${environment}`, error);
    return handle;
  }
  try {
    await github.createDeploymentStatus(handle.deploymentId, {
      state: 'in_progress',
      description: clip(`Deploying ${inputs.image} to ${environment}`),
      environmentUrl: '',
      logUrl: '',
    });
  } catch (error) {
    warn(handle, log, `set GitHub Deployment ${handle.deploymentId} in progress`, error);
  }
  return handle;
}

/** The final deployment status for a report: live, failed, or (nothing was changed) inactive. */
export function deploymentStatusOf(report: Report): DeploymentStatus {
  const image = shortReference(report.reference || report.image);
  const base = { environmentUrl: '', logUrl: report.runUrl };
  switch (report.result) {
    case 'success':
      return {
        ...base,
        state: 'success',
        description: clip(`Deployed ${image}`),
        environmentUrl: report.environmentUrl,
      };
    case 'no-op':
      return {
        ...base,
        state: 'success',
        description: clip(`Already running ${image}`),
        environmentUrl: report.environmentUrl,
      };
    case 'rolled-back':
      return { ...base, state: 'failure', description: clip(`Rolled back: ${report.failureReason}`) };
    case 'failed':
      return { ...base, state: 'failure', description: clip(`Failed: ${report.failureReason}`) };
    case 'superseded':
      return { ...base, state: 'inactive', description: clip(`Superseded: ${report.failureReason}`) };
    case 'cancelled':
      return { ...base, state: 'inactive', description: clip('Cancelled') };
    case 'error':
      return { ...base, state: 'inactive', description: clip(`Nothing deployed: ${report.failureReason}`) };
  }
}

/** Sets the deployment's final status from the report. */
export async function finishDeployment(handle: DeploymentHandle | undefined, report: Report, log: Log): Promise<void> {
  if (handle?.deploymentId === undefined) return;
  const status = deploymentStatusOf(report);
  try {
    await handle.connection.github.createDeploymentStatus(handle.deploymentId, status);
    log.info(`GitHub Deployment ${handle.deploymentId}: ${status.state}`);
  } catch (error) {
    warn(handle, log, `set GitHub Deployment ${handle.deploymentId} to ${status.state}`, error);
  }
}

/**
 * Finds our comment and updates it, or creates it: one comment per marker, ever. Ours means written by the token's
 * own identity and starting with the marker: a comment by anyone else, even one that quotes the marker, is never
 * edited.
 */
export async function upsertComment(
  github: GitHub,
  issue: number,
  marker: string,
  body: string,
): Promise<{ created: boolean; url: string }> {
  const self = await github.whoAmI();
  for await (const page of github.listComments(issue)) {
    const found = page.find((c) => c.author === self && c.body.startsWith(marker));
    if (found) return { created: false, url: (await github.updateComment(found.id, body)).url };
  }
  return { created: true, url: (await github.createComment(issue, body)).url };
}

/**
 * Publishes the report: the sticky PR comment (per `comment`, `pr-number` and the event), then the deployment's
 * final status when `deployment` came from `startDeployment`. Never throws for GitHub's sake.
 */
export async function publishReport(
  report: Report,
  inputs: Inputs,
  log: Log,
  deployment?: DeploymentHandle,
  connection?: Connection,
): Promise<void> {
  const event = process.env.GITHUB_EVENT_NAME ?? '';
  const mayHavePullRequest =
    inputs.comment === 'always' || inputs['pr-number'] !== undefined || PULL_REQUEST_EVENTS.has(event);
  if (inputs.comment !== 'never' && !mayHavePullRequest && connection === undefined && deployment === undefined) {
    // comment: auto on a push: nothing to comment on, so no connection (and no Octokit) is needed.
    log.debug(`No PR comment: the event is ${event || 'unknown'} and pr-number is not set.`);
  } else if (inputs.comment !== 'never') {
    const opened = await open(inputs, log, connection ?? deployment?.connection);
    const handle = deployment ?? (opened ? session(opened) : undefined);
    const issue = inputs['pr-number'] ?? opened?.context.pullRequest;
    if (opened && issue !== undefined) {
      const marker = commentMarker(inputs.environment);
      const body = renderReport(report, {
        limit: COMMENT_LIMIT,
        marker,
        ...(inputs['comment-logs']
          ? { logLines: COMMENT_LOG_LINES }
          : { logLines: 0, logsLeftOut: 'not shown here (comment-logs: false); the job summary and log have them' }),
      });
      try {
        const { created, url } = await upsertComment(opened.github, issue, marker, body);
        log.info(`${created ? 'Commented on' : 'Updated the comment on'} pull request #${issue}: ${url}`);
      } catch (error) {
        warn(handle, log, `comment on pull request #${issue}`, error);
      }
    } else if (opened && inputs.comment === 'always') {
      log.warning(
        `comment is "always" but there is no pull request to comment on: the event is ${opened.context.eventName || 'unknown'} and pr-number is not set.`,
      );
    } else if (opened) {
      log.debug(`No PR comment: the event is ${opened.context.eventName || 'unknown'} and pr-number is not set.`);
    }
  }
  await finishDeployment(deployment, report, log);
}
