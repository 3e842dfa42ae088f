/**
 * A fake of the GitHub REST API, as much as kube-ship uses: the token's user (`GET /user`, and GraphQL's
 * `query { viewer { login } }`), an issue's comments
 * (list with pagination, create, update) and deployments with statuses. It listens on 127.0.0.1 on a free port,
 * records every request, and can be told to fail the next requests the way GitHub does: 403 "Resource not
 * accessible by integration" (read-only token), 403 or 429 with Retry-After (rate limits), 202 without a deployment
 * (createDeployment).
 *
 * The real Octokit of @actions/github talks to it through `GITHUB_API_URL` (or its `baseUrl`).
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface FakeComment {
  id: number;
  issue: number;
  body: string;
  html_url: string;
  user: { login: string; type: string };
  created_at: string;
  updated_at: string;
}

export interface FakeDeployment {
  id: number;
  ref: string;
  environment: string;
  description: string | null;
  required_contexts: unknown;
  auto_merge: unknown;
  transient_environment: unknown;
  statuses: { state: string; description: string; environment_url?: string; log_url?: string }[];
}

/** A programmed answer for the next request(s) that match. */
export interface Fault {
  /** Which requests: method and a path pattern (e.g. /\/comments/); all when absent. */
  method?: string;
  path?: RegExp;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** The HTTP status to answer, or `hang` to accept the request and never answer (a GitHub that times out). */
  status: number | 'hang';
  message?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export const READ_ONLY_MESSAGE = 'Resource not accessible by integration';
/** Who the workflow's own token (an installation token) acts as: it writes comments as this bot. */
export const WORKFLOW_TOKEN_LOGIN = 'github-actions[bot]';

export interface FakeGitHub {
  /** The API root to give Octokit, e.g. http://127.0.0.1:41234 */
  url: string;
  requests: RecordedRequest[];
  comments: FakeComment[];
  deployments: FakeDeployment[];
  /** Comments per page when the client asks for none (GitHub's default is 30). */
  pageSize: number;
  /** Queues an answer for the next matching request(s). */
  fail(fault: Fault): void;
  /** Every later write is refused with 403 "Resource not accessible by integration"; reads still work. */
  readOnly(on?: boolean): void;
  /**
   * Who the token is. Without a login (the default): the workflow's installation token, which may not read
   * `GET /user` (403 "Resource not accessible by integration") and writes comments as github-actions[bot]. With
   * one: a personal access token, `GET /user` answers 200 `{login}` and comments are written as that user.
   */
  tokenUser(login?: string): void;
  /**
   * The token is a GitHub App's installation token: `GET /user` is refused (403) as for the workflow's token,
   * GraphQL's viewer and every comment it writes are `<slug>[bot]`.
   */
  tokenApp(slug: string): void;
  /** Adds a comment as someone else would have (e.g. a human, or an earlier run). */
  addComment(issue: number, body: string, login?: string): FakeComment;
  /** The bodies of an issue's comments, oldest first. */
  commentsOn(issue: number): FakeComment[];
  /**
   * Merges a pull request whose head is `head` as this commit: `GET /repos/o/r/commits/SHA/pulls` lists it, merged,
   * and `GET /repos/o/r/pulls/N` gives its head.
   */
  merge(issue: number, sha: string, head?: string): void;
  reset(): void;
  stop(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      if (text === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(text);
      }
    });
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'x-github-request-id': 'FAKE',
    ...headers,
  });
  response.end(text);
}

const DOCS = 'https://docs.github.com/rest';

/** A comment's body as GitHub validates it: the text, or the 422 error GitHub answers. */
function commentBody(request: Record<string, unknown>): string | { message: string; documentation_url: string } {
  if (typeof request.body !== 'string') return { message: 'Invalid request: body is missing', documentation_url: DOCS };
  if (request.body.length > 65_536) {
    return { message: 'Validation Failed: body is too long (maximum is 65536 characters)', documentation_url: DOCS };
  }
  return request.body;
}

/** Starts the fake on 127.0.0.1 and a free port. */
export async function startFakeGitHub(): Promise<FakeGitHub> {
  let nextId = 1000;
  const faults: Fault[] = [];
  let readOnly = false;
  let tokenLogin: string | undefined;
  let installationLogin = WORKFLOW_TOKEN_LOGIN;
  const merges = new Map<string, number>();
  const heads = new Map<number, string>();
  const fake: FakeGitHub = {
    url: '',
    requests: [],
    comments: [],
    deployments: [],
    pageSize: 30,
    fail: (fault) => faults.push({ times: 1, ...fault }),
    readOnly: (on = true) => {
      readOnly = on;
    },
    tokenUser: (login) => {
      tokenLogin = login;
    },
    tokenApp: (slug) => {
      tokenLogin = undefined;
      installationLogin = `${slug}[bot]`;
    },
    addComment: (issue, body, login = 'octocat') => {
      const now = new Date().toISOString();
      const id = nextId++;
      const comment: FakeComment = {
        id,
        issue,
        body,
        html_url: `https://github.com/acme/web/pull/${issue}#issuecomment-${id}`,
        user: { login, type: login.endsWith('[bot]') ? 'Bot' : 'User' },
        created_at: now,
        updated_at: now,
      };
      fake.comments.push(comment);
      return comment;
    },
    commentsOn: (issue) => fake.comments.filter((c) => c.issue === issue),
    merge: (issue, sha, head = `head${issue}`.padEnd(40, '0')) => {
      merges.set(sha, issue);
      heads.set(issue, head);
    },
    reset: () => {
      merges.clear();
      heads.clear();
      fake.requests.length = 0;
      fake.comments.length = 0;
      fake.deployments.length = 0;
      faults.length = 0;
      readOnly = false;
      tokenLogin = undefined;
      installationLogin = WORKFLOW_TOKEN_LOGIN;
      fake.pageSize = 30;
    },
    stop: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections(); // hung requests (status: 'hang') must not hold the close
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };

  const takeFault = (method: string, path: string): Fault | undefined => {
    const index = faults.findIndex(
      (f) => (f.method === undefined || f.method === method) && (f.path === undefined || f.path.test(path)),
    );
    if (index < 0) return undefined;
    const fault = faults[index]!;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) faults.splice(index, 1);
    return fault;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const method = request.method ?? 'GET';
    const body = await readBody(request);
    fake.requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: request.headers,
      body,
    });

    const fault = takeFault(method, url.pathname);
    if (fault?.status === 'hang') return undefined;
    if (fault) {
      return send(
        response,
        fault.status,
        fault.body ?? { message: fault.message ?? 'Fault', documentation_url: DOCS, status: String(fault.status) },
        fault.headers,
      );
    }
    if (readOnly && method !== 'GET') {
      return send(response, 403, { message: READ_ONLY_MESSAGE, documentation_url: DOCS, status: '403' });
    }
    const body_ = (body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;

    if (url.pathname === '/user' && method === 'GET') {
      if (tokenLogin === undefined) {
        return send(response, 403, {
          message: READ_ONLY_MESSAGE,
          documentation_url: `${DOCS}/users/users#get-the-authenticated-user`,
          status: '403',
        });
      }
      return send(response, 200, { login: tokenLogin, id: 1, type: 'User' });
    }
    if (url.pathname === '/graphql' && method === 'POST') {
      if (body_.query !== 'query { viewer { login } }') {
        return send(response, 200, { errors: [{ message: `the fake answers only the viewer's login` }] });
      }
      return send(response, 200, { data: { viewer: { login: tokenLogin ?? installationLogin } } });
    }

    if ((m = /^\/repos\/[^/]+\/[^/]+\/commits\/([0-9a-f]+)\/pulls$/.exec(url.pathname)) && method === 'GET') {
      const sha = m[1]!;
      const issue = merges.get(sha);
      // As GitHub lists them: the merged pull request with its merge commit (and nothing for a commit of none).
      const pulls =
        issue === undefined
          ? []
          : [{ number: issue, state: 'closed', merged_at: '2026-12-01T12:00:00Z', merge_commit_sha: sha }];
      return send(response, 200, pulls);
    }

    if ((m = /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)$/.exec(url.pathname)) && method === 'GET') {
      const head = heads.get(Number(m[1]));
      if (head === undefined) return send(response, 404, { message: 'Not Found', status: '404' });
      return send(response, 200, { number: Number(m[1]), state: 'closed', head: { sha: head } });
    }

    if ((m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname))) {
      const [, owner, repo, issueText] = m;
      const issue = Number(issueText);
      if (method === 'GET') {
        const perPage = Number(url.searchParams.get('per_page') ?? fake.pageSize);
        const page = Number(url.searchParams.get('page') ?? '1');
        const all = fake.commentsOn(issue);
        const last = Math.max(1, Math.ceil(all.length / perPage));
        const links: string[] = [];
        const at = (p: number): string => `<${fake.url}${url.pathname}?per_page=${perPage}&page=${p}>`;
        if (page < last) links.push(`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`);
        if (page > 1) links.push(`${at(1)}; rel="first"`, `${at(page - 1)}; rel="prev"`);
        return send(
          response,
          200,
          all.slice((page - 1) * perPage, page * perPage),
          links.length > 0 ? { link: links.join(', ') } : {},
        );
      }
      if (method === 'POST') {
        const text = commentBody(body_);
        if (typeof text !== 'string') return send(response, 422, text);
        const comment = fake.addComment(issue, text, tokenLogin ?? installationLogin);
        comment.html_url = `https://github.com/${owner}/${repo}/pull/${issue}#issuecomment-${comment.id}`;
        return send(response, 201, comment);
      }
    }
    if ((m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname)) && method === 'PATCH') {
      const comment = fake.comments.find((c) => c.id === Number(m![3]));
      if (!comment) return send(response, 404, { message: 'Not Found', documentation_url: DOCS });
      const text = commentBody(body_);
      if (typeof text !== 'string') return send(response, 422, text);
      comment.body = text;
      comment.updated_at = new Date().toISOString();
      return send(response, 200, comment);
    }
    if (/^\/repos\/[^/]+\/[^/]+\/deployments$/.test(url.pathname) && method === 'POST') {
      if (typeof body_.ref !== 'string' || body_.ref === '')
        return send(response, 422, { message: 'Invalid request: ref is missing', documentation_url: DOCS });
      const deployment: FakeDeployment = {
        id: nextId++,
        ref: body_.ref,
        environment: typeof body_.environment === 'string' ? body_.environment : 'production',
        description: typeof body_.description === 'string' ? body_.description : null,
        required_contexts: body_.required_contexts,
        auto_merge: body_.auto_merge,
        transient_environment: body_.transient_environment,
        statuses: [],
      };
      fake.deployments.push(deployment);
      return send(response, 201, { ...deployment, statuses: undefined, sha: body_.ref, task: 'deploy' });
    }
    if ((m = /^\/repos\/[^/]+\/[^/]+\/deployments\/(\d+)\/statuses$/.exec(url.pathname)) && method === 'POST') {
      const deployment = fake.deployments.find((d) => d.id === Number(m![1]));
      if (!deployment) return send(response, 404, { message: 'Not Found', documentation_url: DOCS });
      const description = typeof body_.description === 'string' ? body_.description : '';
      if (description.length > 140)
        return send(response, 422, {
          message: 'Validation Failed: description is too long (maximum is 140 characters)',
          documentation_url: DOCS,
        });
      const states = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
      if (typeof body_.state !== 'string' || !states.includes(body_.state))
        return send(response, 422, {
          message: `Validation Failed: state ${String(body_.state)}`,
          documentation_url: DOCS,
        });
      const status = {
        state: body_.state,
        description,
        ...(typeof body_.environment_url === 'string' ? { environment_url: body_.environment_url } : {}),
        ...(typeof body_.log_url === 'string' ? { log_url: body_.log_url } : {}),
      };
      deployment.statuses.push(status);
      return send(response, 201, { id: nextId++, ...status });
    }
    send(response, 404, {
      message: `Not Found: the fake GitHub does not speak ${method} ${url.pathname}`,
      documentation_url: DOCS,
    });
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => send(response, 500, { message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

/** Deployment faults, spelled out: GitHub's 202 when it creates no deployment. */
export const ACCEPTED_WITHOUT_DEPLOYMENT: Fault = {
  method: 'POST',
  path: /\/deployments$/,
  status: 202,
  body: { message: 'Auto-merged main into topic branch on deployment.' },
};
