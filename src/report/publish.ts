/**
 * Publishing the report where reviewers look: one sticky comment per environment on the pull request, and a
 * GitHub Deployment with statuses. Every problem here is a warning: the deploy's result is already decided and the
 * job summary already written, so a read-only token (fork PRs, Dependabot) or a GitHub outage must not change it.
 */
import { messageOf } from '../lib/errors.js';
import { clip } from '../lib/text.js';
import {
  GitHubError,
  PULL_REQUEST_EVENTS,
  type Connection,
  type DeploymentStatus,
  type GitHub,
  type IssueComment,
} from './github.js';
import type { Inputs } from '../desired/inputs.js';
import type { Log } from '../lib/log.js';
import { COMMENT_LIMIT, renderReport, shortReference } from './markdown.js';
import type { Report } from './report.js';
import { readStamp, type FoundPreview } from '../preview/since-preview.js';

/** Log lines per failing pod in the comment (the summary shows more). */
export const COMMENT_LOG_LINES = 20;
const DESCRIPTION_LIMIT = 139;

/** The hidden line the sticky comment of one environment is found by. */
export function commentMarker(environment: string): string {
  return `<!-- kube-ship:comment environment=${encodeURIComponent(environment)} -->`;
}

/** A deployment's description: one line, within GitHub's limit. */
function descriptionOf(text: string): string {
  return clip(text.replace(/\s+/g, ' ').trim(), DESCRIPTION_LIMIT);
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
        description: descriptionOf(`Deployed ${image}`),
        environmentUrl: report.environmentUrl,
      };
    case 'no-op':
      return {
        ...base,
        state: 'success',
        description: descriptionOf(`Already running ${image}`),
        environmentUrl: report.environmentUrl,
      };
    case 'rolled-back':
      return { ...base, state: 'failure', description: descriptionOf(`Rolled back: ${report.failureReason}`) };
    case 'failed':
      return { ...base, state: 'failure', description: descriptionOf(`Failed: ${report.failureReason}`) };
    case 'superseded':
      return { ...base, state: 'inactive', description: descriptionOf(`Superseded: ${report.failureReason}`) };
    case 'cancelled':
      return { ...base, state: 'inactive', description: descriptionOf('Cancelled') };
    case 'preview':
      return { ...base, state: 'inactive', description: descriptionOf(`Preview of ${image}: nothing deployed`) };
    case 'error':
      return { ...base, state: 'inactive', description: descriptionOf(`Nothing deployed: ${report.failureReason}`) };
  }
}

/**
 * Finds our comment and updates it, or creates it: one comment per marker, ever. Ours means written by the token's
 * own identity and starting with the marker: a comment by anyone else, even one that quotes the marker, is never
 * edited. `known`: our comment as already found (the preview a deploy follows), updated without listing again.
 */
export async function upsertComment(
  github: GitHub,
  issue: number,
  marker: string,
  body: string,
  known?: IssueComment,
): Promise<{ created: boolean; url: string }> {
  if (known !== undefined) {
    try {
      return { created: false, url: (await github.updateComment(known.id, body)).url };
    } catch {
      // Gone or changed since it was read: find it (or make it) as any other time.
    }
  }
  const found = await ownComment(github, issue, marker);
  if (found) return { created: false, url: (await github.updateComment(found.id, body)).url };
  return { created: true, url: (await github.createComment(issue, body)).url };
}

/** The comment with this marker that the token's own identity wrote, if there is one. */
async function ownComment(github: GitHub, issue: number, marker: string): Promise<IssueComment | undefined> {
  const self = await github.whoAmI();
  for await (const page of github.listComments(issue)) {
    const found = page.find((c) => c.author === self && c.body.startsWith(marker));
    if (found) return found;
  }
  return undefined;
}

/** The inputs publishing reads, by their action.yml names. */
export type PublishInputs = Pick<
  Inputs,
  'environment' | 'image' | 'github-deployment' | 'comment' | 'comment-logs' | 'pr-number'
>;

export interface PublisherOptions {
  inputs: PublishInputs;
  /** The event that started the run (GITHUB_EVENT_NAME): on a push, `comment: auto` has nothing to comment on. */
  event: string;
  /**
   * Opens the connection to GitHub. Called at most once per run, and only when something is to be published: the
   * real one loads Octokit, which a deploy that publishes nothing never pays for.
   */
  connect: () => Promise<Connection>;
  log: Log;
}

/** The run's reporting to GitHub. Neither call throws for GitHub's sake. */
export interface Publisher {
  /**
   * Creates the GitHub Deployment and sets it in progress: call it before changing the cluster. Does nothing with
   * `github-deployment: false`.
   */
  startDeployment(): Promise<void>;
  /**
   * Publishes the report: the sticky PR comment (per `comment`, `pr-number` and the event), then the final status
   * of the deployment `startDeployment` created.
   */
  publish(report: Report): Promise<void>;
  /**
   * The stamp of the preview this deploy follows: the environment's sticky comment on the pull request of the
   * event or `pr-number`, or else on the pull request whose merge made this commit. `undefined` when there is none
   * (or `comment: never`), with the pull request's head commit, which the stamp must be of. A deploy after the merge
   * then also updates that comment with its own report, which keeps the stamp for a re-run.
   */
  findPreview(): Promise<FoundPreview | undefined>;
}

/** The warning for a refused GitHub call: a read-only token gets the permissions that fix it. */
function warningOf(what: string, error: unknown): string {
  if (error instanceof GitHubError && error.readOnly) {
    return (
      `Could not ${what}: the github-token may not write here (403 "Resource not accessible by integration"), ` +
      'as on pull requests from forks and on Dependabot runs. The deploy result stands and the job summary has the ' +
      'report. To publish it too, grant the workflow "pull-requests: write" and "deployments: write".'
    );
  }
  return `Could not ${what}: ${messageOf(error)}. The deploy result stands; the job summary has the report.`;
}

/**
 * The run's link to GitHub: one connection, opened on first use, and one warning per run, however many calls a
 * read-only token or an outage refuses (the later ones go to the debug log).
 */
interface Link {
  /** The connection, or `undefined` once opening it failed (e.g. an empty token), which was warned about then. */
  open(): Promise<Connection | undefined>;
  warn(what: string, error: unknown): void;
}

function linkTo(connect: () => Promise<Connection>, log: Log): Link {
  let connection: Promise<Connection | undefined> | undefined;
  let warned = false;
  const connectOnce = async (): Promise<Connection | undefined> => {
    try {
      return await connect();
    } catch (error) {
      log.warning(`Could not publish to GitHub: ${messageOf(error)}.`);
      return undefined;
    }
  };
  return {
    open: () => (connection ??= connectOnce()),
    warn(what, error) {
      if (warned) {
        log.debug(`Could not ${what}: ${messageOf(error)} (a GitHub problem was already reported)`);
        return;
      }
      warned = true;
      log.warning(warningOf(what, error));
    },
  };
}

/** The GitHub Deployment of this run: created in progress before the cluster changes, given its final status. */
interface GitHubDeployment {
  start(): Promise<void>;
  finish(report: Report): Promise<void>;
}

function githubDeployment(link: Link, inputs: PublishInputs, log: Log): GitHubDeployment {
  let deployment: { github: GitHub; id: number } | undefined;
  return {
    async start() {
      if (!inputs['github-deployment']) return;
      const opened = await link.open();
      if (opened) deployment = await createInProgress(opened, inputs, link, log);
    },
    async finish(report) {
      if (deployment === undefined) return;
      const status = deploymentStatusOf(report);
      try {
        await deployment.github.createDeploymentStatus(deployment.id, status);
        log.info(`GitHub Deployment ${deployment.id}: ${status.state}`);
      } catch (error) {
        link.warn(`set GitHub Deployment ${deployment.id} to ${status.state}`, error);
      }
    },
  };
}

/** Creates the deployment and sets it in progress; `undefined` when GitHub made none. */
async function createInProgress(
  { github, context }: Connection,
  inputs: PublishInputs,
  link: Link,
  log: Log,
): Promise<{ github: GitHub; id: number } | undefined> {
  const environment = inputs.environment;
  let id: number;
  try {
    const created = await github.createDeployment({
      sha: context.sha,
      environment,
      description: descriptionOf(`kube-ship: ${inputs.image} to ${environment}`),
    });
    if (created.id === undefined) {
      log.warning(
        `GitHub accepted the deployment for ${environment} without creating one (202${created.message ? `: ${created.message}` : ''}); no deployment statuses will be set.`,
      );
      return undefined;
    }
    id = created.id;
    log.info(`GitHub Deployment ${id} for ${environment} at ${context.sha.slice(0, 7)}`);
  } catch (error) {
    link.warn(`create a GitHub Deployment for ${environment}`, error);
    return undefined;
  }
  try {
    await github.createDeploymentStatus(id, {
      state: 'in_progress',
      description: descriptionOf(`Deploying ${inputs.image} to ${environment}`),
      environmentUrl: '',
      logUrl: '',
    });
  } catch (error) {
    link.warn(`set GitHub Deployment ${id} in progress`, error);
  }
  return { github, id };
}

/**
 * The sticky comment: on the pull request of `pr-number`, the event, or (`merged`) the one whose merge this deploy
 * follows. With `comment: auto` and no pull request in sight, GitHub is not even connected to.
 */
async function comment(link: Link, options: PublisherOptions, report: Report, followed: Followed | undefined) {
  const { inputs, event, log } = options;
  if (inputs.comment === 'never') return;
  const noPullRequest = `the event is ${event || 'unknown'} and pr-number is not set`;
  if (
    inputs.comment === 'auto' &&
    inputs['pr-number'] === undefined &&
    !PULL_REQUEST_EVENTS.has(event) &&
    followed?.merged === undefined
  ) {
    // Nothing to comment on (a push, say), so no connection is needed, and Octokit is never loaded.
    log.debug(`No PR comment: ${noPullRequest}.`);
    return;
  }
  const opened = await link.open();
  if (!opened) return;
  const issue = inputs['pr-number'] ?? opened.context.pullRequest ?? followed?.merged;
  if (issue === undefined) {
    if (inputs.comment === 'always') {
      log.warning(`comment is "always" but there is no pull request to comment on: ${noPullRequest}.`);
    } else {
      log.debug(`No PR comment: ${noPullRequest}.`);
    }
    return;
  }
  const marker = commentMarker(inputs.environment);
  const body = renderReport(report, {
    limit: COMMENT_LIMIT,
    marker,
    ...(inputs['comment-logs']
      ? { logLines: COMMENT_LOG_LINES }
      : { logLines: 0, logsLeftOut: 'not shown here (comment-logs: false); the job summary and log have them' }),
  });
  try {
    const known = followed?.issue === issue ? followed.comment : undefined;
    const { created, url } = await upsertComment(opened.github, issue, marker, body, known);
    log.info(`${created ? 'Commented on' : 'Updated the comment on'} pull request #${issue}: ${url}`);
  } catch (error) {
    link.warn(`comment on pull request #${issue}`, error);
  }
}

/**
 * The preview this deploy follows, and the pull request whose merge made this commit when that is where it was
 * found (`merged`). Looking is best-effort: most deploys follow no preview.
 */
async function findPreview(
  link: Link,
  inputs: PublishInputs,
  log: Log,
): Promise<(FoundPreview & Followed) | undefined> {
  if (inputs.comment === 'never') return undefined;
  const opened = await link.open();
  if (!opened) return undefined;
  const { github, context } = opened;
  let issue = inputs['pr-number'] ?? context.pullRequest;
  try {
    const fromMerge = issue === undefined;
    if (fromMerge) issue = (await github.mergedPullRequestsOf(context.sha))[0];
    if (issue === undefined) {
      log.debug(`No preview to compare with: no pull request was merged as ${context.sha.slice(0, 7)}.`);
      return undefined;
    }
    const found = await ownComment(github, issue, commentMarker(inputs.environment));
    const stamp = found && readStamp(found.body);
    if (found === undefined || stamp === undefined) {
      log.debug(`No preview to compare with: pull request #${issue} has no preview comment for ${inputs.environment}.`);
      return undefined;
    }
    log.info(`Preview of commit ${stamp.sha.slice(0, 7)} found on pull request #${issue}`);
    return {
      stamp,
      head: await headOf(github, issue, log),
      issue,
      comment: found,
      merged: fromMerge ? issue : undefined,
    };
  } catch (error) {
    // Most deploys follow no preview: a token that may not list pull requests, or GitHub away, is no warning.
    log.info(`No preview to compare with: could not look for it (${messageOf(error)}).`);
    return undefined;
  }
}

/** The pull request's head commit; `undefined` when GitHub does not say (the stamp then proves nothing). */
async function headOf(github: GitHub, issue: number, log: Log): Promise<string | undefined> {
  try {
    return await github.pullRequestHead(issue);
  } catch (error) {
    log.info(`Could not read the head commit of pull request #${issue}: ${messageOf(error)}`);
    return undefined;
  }
}

/**
 * Where the preview a deploy follows was found: the pull request, its comment (kept, so the deploy's report updates
 * it without listing the comments again), and `merged` when that pull request was found by this commit's merge.
 */
interface Followed {
  issue: number;
  comment: IssueComment;
  merged: number | undefined;
}

/** The run's reporting to GitHub: its Deployment, its sticky comment, and the preview it follows. */
export function createPublisher(options: PublisherOptions): Publisher {
  const link = linkTo(options.connect, options.log);
  const deployment = githubDeployment(link, options.inputs, options.log);
  /** Where the preview this deploy follows was found: its comment becomes the deploy's report. */
  let followed: Followed | undefined;
  return {
    startDeployment: () => deployment.start(),
    async findPreview() {
      const found = await findPreview(link, options.inputs, options.log);
      followed = found;
      return found && { stamp: found.stamp, head: found.head };
    },
    async publish(report) {
      await comment(link, options, report, followed);
      await deployment.finish(report);
    },
  };
}
