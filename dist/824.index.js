export const id = 824;
export const ids = [824];
export const modules = {

/***/ 7824:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   connect: () => (/* binding */ connect)
/* harmony export */ });
/* unused harmony exports GITHUB_TIMEOUT_MS, createGitHub, contextOf */
/* harmony import */ var _actions_github__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(2925);
/* harmony import */ var _github_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(4498);
/**
 * The real GitHub adapter, on @actions/github's Octokit: the only module that loads it, imported only when the
 * step publishes something (a deploy without a comment or a GitHub Deployment never pays for loading Octokit).
 */


const GITHUB_TIMEOUT_MS = 10_000;
/** The real adapter. */
function createGitHub(options) {
    const timeoutMs = options.timeoutMs ?? GITHUB_TIMEOUT_MS;
    const boundedFetch = async (url, init) => {
        try {
            return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
        }
        catch (error) {
            if (error?.name === 'TimeoutError') {
                throw new Error(`no answer within ${timeoutMs / 1000}s`);
            }
            throw error;
        }
    };
    const octokit = _actions_github__WEBPACK_IMPORTED_MODULE_0__/* .getOctokit */ .Q(options.token, {
        baseUrl: options.apiUrl.replace(/\/+$/, ''),
        request: { fetch: boundedFetch },
    });
    const retry = { ..._github_js__WEBPACK_IMPORTED_MODULE_1__/* .DEFAULT_RETRY */ .vI, ...options.retry };
    const { owner, repo } = options;
    const spent = { seconds: 0 };
    const call = (what, fn) => (0,_github_js__WEBPACK_IMPORTED_MODULE_1__/* .withRetry */ .bD)(what, fn, retry, spent, options.log);
    const comment = (c) => ({
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
            }
            catch (error) {
                // An installation token (the workflow's GITHUB_TOKEN) may not read /user: it acts as the Actions bot.
                if (error instanceof _github_js__WEBPACK_IMPORTED_MODULE_1__/* .GitHubError */ .y_ && (error.status === 401 || error.status === 403 || error.status === 404)) {
                    return _github_js__WEBPACK_IMPORTED_MODULE_1__/* .WORKFLOW_TOKEN_LOGIN */ .kp;
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
                if (page.done)
                    return;
                yield page.value.data.map(comment);
            }
        },
        async createComment(issue, body) {
            const { data } = await call(`comment on #${issue}`, () => octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body }));
            return comment(data);
        },
        async updateComment(id, body) {
            const { data } = await call(`update comment ${id}`, () => octokit.rest.issues.updateComment({ owner, repo, comment_id: id, body }));
            return comment(data);
        },
        async createDeployment(request) {
            const response = await call(`create a deployment for ${request.environment}`, () => octokit.rest.repos.createDeployment({
                owner,
                repo,
                ref: request.sha,
                environment: request.environment,
                description: request.description,
                required_contexts: [],
                auto_merge: false,
                transient_environment: false,
            }));
            const data = response.data;
            return {
                id: response.status === 201 && typeof data.id === 'number' ? data.id : undefined,
                message: data.message ?? '',
            };
        },
        async createDeploymentStatus(deployment, status) {
            await call(`set deployment ${deployment} to ${status.state}`, () => octokit.rest.repos.createDeploymentStatus({
                owner,
                repo,
                deployment_id: deployment,
                state: status.state,
                description: status.description,
                ...(status.environmentUrl ? { environment_url: status.environmentUrl } : {}),
                ...(status.logUrl ? { log_url: status.logUrl } : {}),
            }));
        },
    };
}
/** Where the run is, from the runner's environment and event payload (read by @actions/github at start). */
function contextOf() {
    const context = _actions_github__WEBPACK_IMPORTED_MODULE_0__/* .context */ ._;
    const { owner, repo } = context.repo;
    const pull = _github_js__WEBPACK_IMPORTED_MODULE_1__/* .PULL_REQUEST_EVENTS */ .m_.has(context.eventName) ? context.payload.pull_request : undefined;
    const head = pull?.head?.sha;
    return {
        owner,
        repo,
        sha: typeof head === 'string' && head !== '' ? head : (context.sha ?? ''),
        pullRequest: typeof pull?.number === 'number' ? pull.number : undefined,
    };
}
/** The real connection: the token given, the API of GITHUB_API_URL, the run's repository and event. */
function connect(token, log) {
    if (token === '')
        throw new Error('the github-token input is empty; leave it unset to use the workflow token');
    const context = contextOf();
    const apiUrl = process.env.GITHUB_API_URL || 'https://api.github.com';
    return { github: createGitHub({ token, owner: context.owner, repo: context.repo, apiUrl, log }), context };
}


/***/ })

};
