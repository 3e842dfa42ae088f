/**
 * The real GitHub adapter, on @actions/github's Octokit: the only module that loads it, imported only when the
 * step publishes something (a deploy without a comment or a GitHub Deployment never pays for loading Octokit).
 */
import * as actionsGitHub from '@actions/github';
import {
  DEFAULT_RETRY,
  PULL_REQUEST_EVENTS,
  withRetry,
  type Connection,
  type GitHub,
  type GitHubContext,
  type IssueComment,
  type RetryOptions,
} from './github.js';
import type { Log } from '../lib/log.js';

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

type Octokit = ReturnType<typeof actionsGitHub.getOctokit>;

/** A GitHub API call, retried as GitHub asks (rate limits, 5xx) within the run's budget; `what` names it in errors. */
type Call = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/** Where the calls go: the client, the repository, and how each call is retried. */
interface Api {
  octokit: Octokit;
  owner: string;
  repo: string;
  call: Call;
}

/** The real adapter. */
export function createGitHub(options: GitHubOptions): GitHub {
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const spent = { seconds: 0 };
  const api: Api = {
    octokit: octokitFor(options),
    owner: options.owner,
    repo: options.repo,
    call: (what, fn) => withRetry(what, fn, retry, spent, options.log),
  };
  return { ...comments(api), ...deployments(api) };
}

/** Octokit on the API root given, each request bounded by the timeout. */
function octokitFor(options: GitHubOptions): Octokit {
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
  return actionsGitHub.getOctokit(options.token, {
    baseUrl: options.apiUrl.replace(/\/+$/, ''),
    request: { fetch: boundedFetch },
  });
}

function commentOf(c: { id: number; body?: string; html_url: string; user?: { login?: string } | null }): IssueComment {
  return { id: c.id, body: c.body ?? '', url: c.html_url, author: c.user?.login ?? '' };
}

/** Pull requests and their comments, and who the token acts as. */
function comments({ octokit, owner, repo, call }: Api): Omit<GitHub, 'createDeployment' | 'createDeploymentStatus'> {
  // GraphQL's `viewer` answers for every kind of token: a personal access token's user, the workflow token's
  // `github-actions[bot]`, a GitHub App installation token's `<app-slug>[bot]`. REST's `GET /user` refuses
  // installation tokens (403), and guessing the workflow's bot there made an App's own comment look foreign.
  const askLogin = async (): Promise<string> => {
    const { viewer } = await call("read the token's login", () =>
      octokit.graphql<{ viewer: { login: string } }>('query { viewer { login } }'),
    );
    return viewer.login;
  };
  // The token's user does not change during a run: asked once (the preview lookup and the comment both need it).
  let login: string | undefined;
  return {
    async whoAmI() {
      login ??= await askLogin();
      return login;
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
        yield page.value.data.map(commentOf);
      }
    },
    async createComment(issue, body) {
      const { data } = await call(`comment on #${issue}`, () =>
        octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body }),
      );
      return commentOf(data);
    },
    async updateComment(id, body) {
      const { data } = await call(`update comment ${id}`, () =>
        octokit.rest.issues.updateComment({ owner, repo, comment_id: id, body }),
      );
      return commentOf(data);
    },
    async mergedPullRequestsOf(sha) {
      const { data } = await call(`list the pull requests of commit ${sha.slice(0, 7)}`, () =>
        octokit.rest.repos.listPullRequestsAssociatedWithCommit({ owner, repo, commit_sha: sha, per_page: 100 }),
      );
      return data
        .filter((pull) => pull.merged_at && pull.merge_commit_sha === sha)
        .sort((a, b) => Date.parse(b.merged_at ?? '') - Date.parse(a.merged_at ?? ''))
        .map((pull) => pull.number);
    },
    async pullRequestHead(issue) {
      const { data } = await call(`read pull request #${issue}`, () =>
        octokit.rest.pulls.get({ owner, repo, pull_number: issue }),
      );
      return data.head.sha;
    },
  };
}

/** GitHub Deployments and their statuses. */
function deployments({ octokit, owner, repo, call }: Api): Pick<GitHub, 'createDeployment' | 'createDeploymentStatus'> {
  return {
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
