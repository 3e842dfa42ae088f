/**
 * GitHub, as the report needs it: the PR's comments and the repository's Deployments. One interface, one real
 * adapter on @actions/github's Octokit (github-client.ts, the only file that imports it, loaded only when something
 * is published), and a fake in the tests. The adapter
 * retries a 403/429 that carries `Retry-After` (or an exhausted rate limit with its reset time), within a bounded
 * total wait, because a deploy report must never hold the job for long.
 */
import { sleep } from '../lib/deadline.js';
import type { Log } from '../lib/log.js';

export interface IssueComment {
  id: number;
  body: string;
  url: string;
  /** Login of the comment's author. */
  author: string;
}

export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'error' | 'inactive';

export interface DeploymentRequest {
  /** The commit deployed. */
  sha: string;
  environment: string;
  description: string;
}

export interface DeploymentStatus {
  state: DeploymentState;
  /** Under 140 characters: GitHub refuses longer ones. */
  description: string;
  environmentUrl: string;
  logUrl: string;
}

/** Events whose payload names a pull request. */
export const PULL_REQUEST_EVENTS = new Set(['pull_request', 'pull_request_target']);

/** The calls kube-ship makes, for one repository. */
export interface GitHub {
  /** The login the token writes comments as: its user, or its App's bot (`github-actions[bot]`, `my-app[bot]`). */
  whoAmI(): Promise<string>;
  /** Every comment of an issue or pull request, oldest first, page by page. */
  listComments(issue: number): AsyncIterable<IssueComment[]>;
  createComment(issue: number, body: string): Promise<IssueComment>;
  updateComment(id: number, body: string): Promise<IssueComment>;
  /** The pull requests whose merge made this commit (the merge, squash or last rebased commit), newest first. */
  mergedPullRequestsOf(sha: string): Promise<number[]>;
  /** The head commit of a pull request (for a merged one, the last commit pushed before the merge). */
  pullRequestHead(issue: number): Promise<string>;
  /** The new deployment's id; `undefined` when GitHub answers 202 and creates none. */
  createDeployment(request: DeploymentRequest): Promise<{ id: number | undefined; message: string }>;
  createDeploymentStatus(deployment: number, status: DeploymentStatus): Promise<void>;
}

/** Where the run is: the repository, the commit, the event and its pull request. */
export interface GitHubContext {
  owner: string;
  repo: string;
  /** The commit to record a deployment for: the PR's head on pull request events, else GITHUB_SHA. */
  sha: string;
  /** The pull request of a pull request event's payload. */
  pullRequest: number | undefined;
}

/** A client and where it runs: everything publishing needs. */
export interface Connection {
  github: GitHub;
  context: GitHubContext;
}

/** A failed GitHub call, reduced to what publishing decides on. */
export class GitHubError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'GitHubError';
  }

  /** The token may not write here: pull requests from forks and Dependabot get a read-only GITHUB_TOKEN. */
  get readOnly(): boolean {
    return this.status === 403 && /resource not accessible by integration/i.test(this.message);
  }
}

export interface RetryOptions {
  /** Longest total time to spend waiting for rate limits, across all calls of one adapter (one run). */
  maxWaitSeconds: number;
  attempts: number;
  /** Waits before a retry; tests pass one that records the wait instead. */
  sleep: (ms: number) => Promise<void>;
  /** The clock that an HTTP-date `Retry-After` or a rate limit's reset time is measured against. */
  now: () => number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxWaitSeconds: 60,
  attempts: 4,
  sleep,
  now: () => Date.now(),
};

type Headers = Record<string, string | number | undefined>;

/** Seconds to wait before retrying a rate-limited answer, or `undefined` when it is not one. */
export function retryDelaySeconds(status: number, headers: Headers, now: number = Date.now()): number | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = headers['retry-after'];
  if (retryAfter !== undefined && String(retryAfter).trim() !== '') {
    const text = String(retryAfter).trim();
    if (/^\d+$/.test(text)) return Number(text);
    const date = Date.parse(text);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - now) / 1000));
  }
  if (String(headers['x-ratelimit-remaining']) === '0' && headers['x-ratelimit-reset'] !== undefined) {
    return Math.max(1, Number(headers['x-ratelimit-reset']) - Math.floor(now / 1000));
  }
  return undefined;
}

interface OctokitFailure {
  status: number;
  message: string;
  response?: { headers?: Headers };
}

function isOctokitFailure(error: unknown): error is OctokitFailure {
  return error instanceof Error && typeof (error as Partial<OctokitFailure>).status === 'number';
}

/** Runs one call; waits and retries while GitHub says "later" and the run's total wait stays within the budget. */
export async function withRetry<T>(
  what: string,
  call: () => Promise<T>,
  retry: RetryOptions,
  spent: { seconds: number },
  log: Log | undefined,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isOctokitFailure(error)) throw error;
      const failure = new GitHubError(`${what}: HTTP ${error.status}: ${error.message}`, error.status);
      const delay = retryDelaySeconds(error.status, error.response?.headers ?? {}, retry.now());
      if (delay === undefined) throw failure;
      if (attempt >= retry.attempts || spent.seconds + delay > retry.maxWaitSeconds) {
        throw new GitHubError(
          `${failure.message} (rate limited; gave up after ${attempt} attempt(s), GitHub asked to wait ${delay}s more)`,
          error.status,
        );
      }
      log?.info(`GitHub rate limit on ${what}: retrying in ${delay}s as Retry-After asks`);
      await retry.sleep(delay * 1000);
      spent.seconds += delay;
    }
  }
}
