/**
 * GitHub, as the report needs it: the PR's comments and the repository's Deployments. One interface, one real
 * adapter on @actions/github's Octokit (the only file that imports it), and a fake in the tests. The adapter
 * retries a 403/429 that carries `Retry-After` (or an exhausted rate limit with its reset time), within a bounded
 * total wait, because a deploy report must never hold the job for long.
 */
import * as actionsGitHub from '@actions/github';
import type { Log } from './log.js';

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

/** The login the workflow's own token comments as (installation tokens cannot ask `GET /user`). */
export const WORKFLOW_TOKEN_LOGIN = 'github-actions[bot]';

/** The calls kube-ship makes, for one repository. */
export interface GitHub {
  /** The login the token acts as: the authenticated user, or the workflow token's bot. */
  whoAmI(): Promise<string>;
  /** Every comment of an issue or pull request, oldest first, page by page. */
  listComments(issue: number): AsyncIterable<IssueComment[]>;
  createComment(issue: number, body: string): Promise<IssueComment>;
  updateComment(id: number, body: string): Promise<IssueComment>;
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
  eventName: string;
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
  sleep: (ms: number) => Promise<void>;
}

const DEFAULT_RETRY: RetryOptions = {
  maxWaitSeconds: 60,
  attempts: 4,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
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
async function withRetry<T>(
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
      const delay = retryDelaySeconds(error.status, error.response?.headers ?? {});
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

export interface GitHubOptions {
  token: string;
  owner: string;
  repo: string;
  /** The REST API root, e.g. GITHUB_API_URL on GitHub Enterprise or a test server. */
  apiUrl: string;
  log?: Log;
  retry?: Partial<RetryOptions>;
  /** Limit of one request: a GitHub API that does not answer must not hold the deploy's report for long. */
  timeoutMs?: number;
}

export const GITHUB_TIMEOUT_MS = 10_000;

/** The real adapter. */
export function createGitHub(options: GitHubOptions): GitHub {
  const timeoutMs = options.timeoutMs ?? GITHUB_TIMEOUT_MS;
  const boundedFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      if ((error as { name?: string } | null)?.name === 'TimeoutError') {
        throw new Error(`no answer within ${timeoutMs / 1000}s`);
      }
      throw error;
    }
  };
  const octokit = actionsGitHub.getOctokit(options.token, {
    baseUrl: options.apiUrl.replace(/\/+$/, ''),
    request: { fetch: boundedFetch },
  });
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const { owner, repo } = options;
  const spent = { seconds: 0 };
  const call = <T>(what: string, fn: () => Promise<T>): Promise<T> => withRetry(what, fn, retry, spent, options.log);
  const comment = (c: {
    id: number;
    body?: string;
    html_url: string;
    user?: { login?: string } | null;
  }): IssueComment => ({
    id: c.id,
    body: c.body ?? '',
    url: c.html_url,
    author: c.user?.login ?? '',
  });
  return {
    async whoAmI() {
      try {
        const { data } = await call("read the token's user", () => octokit.rest.users.getAuthenticated());
        return data.login;
      } catch (error) {
        // An installation token (the workflow's GITHUB_TOKEN) may not read /user: it acts as the Actions bot.
        if (error instanceof GitHubError && (error.status === 401 || error.status === 403 || error.status === 404)) {
          return WORKFLOW_TOKEN_LOGIN;
        }
        throw error;
      }
    },
    async *listComments(issue) {
      const pages = octokit.paginate.iterator(octokit.rest.issues.listComments, {
        owner,
        repo,
        issue_number: issue,
        per_page: 100,
      });
      const iterator = pages[Symbol.asyncIterator]();
      for (;;) {
        const page = await call(`list the comments of #${issue}`, () => iterator.next());
        if (page.done) return;
        yield page.value.data.map(comment);
      }
    },
    async createComment(issue, body) {
      const { data } = await call(`comment on #${issue}`, () =>
        octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body }),
      );
      return comment(data);
    },
    async updateComment(id, body) {
      const { data } = await call(`update comment ${id}`, () =>
        octokit.rest.issues.updateComment({ owner, repo, comment_id: id, body }),
      );
      return comment(data);
    },
    async createDeployment(request) {
      const response = await call(`create a deployment for ${request.environment}`, () =>
        octokit.rest.repos.createDeployment({
          owner,
          repo,
          ref: request.sha,
          environment: request.environment,
          description: request.description,
          required_contexts: [],
          auto_merge: false,
          transient_environment: false,
        }),
      );
      const data = response.data as { id?: number; message?: string };
      return {
        id: response.status === 201 && typeof data.id === 'number' ? data.id : undefined,
        message: data.message ?? '',
      };
    },
    async createDeploymentStatus(deployment, status) {
      await call(`set deployment ${deployment} to ${status.state}`, () =>
        octokit.rest.repos.createDeploymentStatus({
          owner,
          repo,
          deployment_id: deployment,
          state: status.state,
          description: status.description,
          ...(status.environmentUrl ? { environment_url: status.environmentUrl } : {}),
          ...(status.logUrl ? { log_url: status.logUrl } : {}),
        }),
      );
    },
  };
}

const PULL_REQUEST_EVENTS = new Set(['pull_request', 'pull_request_target']);

/** Where the run is, from the runner's environment and event payload (read by @actions/github at start). */
export function contextOf(): GitHubContext {
  const context = actionsGitHub.context;
  const { owner, repo } = context.repo;
  const pull = PULL_REQUEST_EVENTS.has(context.eventName) ? context.payload.pull_request : undefined;
  const head = (pull?.head as { sha?: unknown } | undefined)?.sha;
  return {
    owner,
    repo,
    sha: typeof head === 'string' && head !== '' ? head : (context.sha ?? ''),
    eventName: context.eventName ?? '',
    pullRequest: typeof pull?.number === 'number' ? pull.number : undefined,
  };
}

/** The real connection: the token given, the API of GITHUB_API_URL, the run's repository and event. */
export function connect(token: string, log: Log): Connection {
  if (token === '') throw new Error('the github-token input is empty; leave it unset to use the workflow token');
  const context = contextOf();
  const apiUrl = process.env.GITHUB_API_URL || 'https://api.github.com';
  return { github: createGitHub({ token, owner: context.owner, repo: context.repo, apiUrl, log }), context };
}
