/**
 * The permissions a deploy needs in each namespace: what preflight checks (only what the kinds deployed there need;
 * with one SelfSubjectRulesReview per namespace, matched by `ruleGrants`), what the README's Role grants and what
 * the test bed grants its deployer (all of it; a unit test keeps the three equal). Plain data and pure functions, so
 * tests and the bench can read it without loading the action.
 */
import type { AccessCheck } from './kube.js';
import type { WorkloadKind } from './workload.js';

/** What every deploy needs: its pods watched, their events and logs read for the evidence. */
const COMMON: AccessCheck[] = [
  { verb: 'list', group: '', resource: 'pods' },
  { verb: 'watch', group: '', resource: 'pods' },
  { verb: 'list', group: '', resource: 'events' },
  { verb: 'get', group: '', resource: 'pods', subresource: 'log' },
];

const workload = (resource: string): AccessCheck[] =>
  ['get', 'patch', 'list', 'watch'].map((verb) => ({ verb, group: 'apps', resource }));

/** What each kind adds: the workload itself, and what its revisions are watched through. */
const BY_KIND: Record<WorkloadKind, AccessCheck[]> = {
  deployment: [
    ...workload('deployments'),
    { verb: 'list', group: 'apps', resource: 'replicasets' },
    { verb: 'watch', group: 'apps', resource: 'replicasets' },
  ],
  statefulset: [
    ...workload('statefulsets'),
    { verb: 'list', group: 'apps', resource: 'controllerrevisions' },
    { verb: 'watch', group: 'apps', resource: 'controllerrevisions' },
    // A rollback deletes the failed revision's pods that are not Ready: the controller waits for them otherwise.
    { verb: 'delete', group: '', resource: 'pods' },
  ],
  daemonset: [
    ...workload('daemonsets'),
    { verb: 'list', group: 'apps', resource: 'controllerrevisions' },
    { verb: 'watch', group: 'apps', resource: 'controllerrevisions' },
  ],
};

const key = (a: AccessCheck): string => `${a.verb} ${a.group} ${a.resource} ${a.subresource ?? ''}`;

/** What deploying these kinds in one namespace needs, each permission once. */
export function accessFor(kinds: WorkloadKind[]): AccessCheck[] {
  const all = [...new Set(kinds)].flatMap((kind) => BY_KIND[kind]);
  const unique = new Map(all.map((a) => [key(a), a]));
  return [...unique.values(), ...COMMON];
}

/** Everything any deploy may need: the Role to grant a deployer of all three kinds. */
export const REQUIRED_ACCESS: AccessCheck[] = accessFor(['deployment', 'statefulset', 'daemonset']);

/**
 * Read for the report only, so not checked by preflight: without them the report says where a workload is reachable
 * is not shown. The README's Role and the test bed's grant them too.
 */
export const REPORT_ACCESS: AccessCheck[] = [
  { verb: 'list', group: '', resource: 'services' },
  { verb: 'list', group: 'networking.k8s.io', resource: 'ingresses' },
];

/** What applying and undoing objects of a resource needs: read it, create or change it, delete what was created. */
export function objectAccess(group: string, resource: string): AccessCheck[] {
  return ['get', 'create', 'patch', 'delete'].map((verb) => ({ verb, group, resource }));
}

/**
 * What a Job needs, run before the rollout (`pre-deploy`) or as a check (`verify`): made (a server-side apply, so
 * `patch` as well as `create`), watched, deleted.
 */
export const JOB_ACCESS: AccessCheck[] = ['create', 'patch', 'get', 'delete', 'list', 'watch'].map((verb) => ({
  verb,
  group: 'batch',
  resource: 'jobs',
}));

/** What `http` checks of the new pods need: the API server's pod proxy. */
export const POD_PROXY_ACCESS: AccessCheck = { verb: 'get', group: '', resource: 'pods', subresource: 'proxy' };

/** What `http` and `prometheus` checks of a Service need: the API server's service proxy. */
export const SERVICE_PROXY_ACCESS: AccessCheck = { verb: 'get', group: '', resource: 'services', subresource: 'proxy' };

/**
 * Optional: needed only by the checks of `verify` and the Jobs of `pre-deploy`, and checked by preflight only
 * when they are used. The README's Role lists them as optional; the test bed grants them.
 */
export const VERIFY_ACCESS: AccessCheck[] = [POD_PROXY_ACCESS, SERVICE_PROXY_ACCESS, ...JOB_ACCESS];

/** One rule of a SelfSubjectRulesReview's answer (`status.resourceRules[]`), as RBAC writes it. */
export interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

/**
 * Whether a rule grants `check` on every object of its resource, by RBAC's own matching: `*` matches any verb, group
 * or resource; a subresource is named `pods/log`, or `*` then `/log` for that subresource of any resource (`pods`
 * then `/*` matches nothing); a rule limited to some resourceNames grants nothing here, since preflight asks
 * for every object (lists, watches, and the objects a rollout makes).
 */
export function ruleGrants(rule: ResourceRule, check: AccessCheck): boolean {
  const has = (values: string[] | undefined, wanted: string): boolean =>
    (values ?? []).some((v) => v === '*' || v === wanted);
  if ((rule.resourceNames ?? []).length > 0) return false;
  if (!has(rule.verbs, check.verb) || !has(rule.apiGroups, check.group)) return false;
  const resource = check.subresource ? `${check.resource}/${check.subresource}` : check.resource;
  return (rule.resources ?? []).some(
    (r) => r === '*' || r === resource || (Boolean(check.subresource) && r === `*/${check.subresource}`),
  );
}

/** Optional, checked only with `canary`: the `<name>-canary` Deployment is made, then deleted. */
export const CANARY_ACCESS: AccessCheck[] = ['create', 'delete'].map((verb) => ({
  verb,
  group: 'apps',
  resource: 'deployments',
}));

/**
 * Optional, checked only with `canary-route`: the route's weights are read and patched (in the route's namespace),
 * and the canary's Service is made by server-side apply (`patch` and `create`), read and deleted (in the target's).
 */
export const CANARY_ROUTE_ACCESS: { route: AccessCheck[]; service: AccessCheck[] } = {
  route: ['get', 'patch'].map((verb) => ({ verb, group: 'gateway.networking.k8s.io', resource: 'httproutes' })),
  service: ['get', 'create', 'patch', 'delete'].map((verb) => ({ verb, group: '', resource: 'services' })),
};
