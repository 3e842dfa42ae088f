/**
 * Preflight: before anything is built or changed, every target must exist, not be paused, have the containers the
 * deploy would change, and the identity must hold every permission the deploy and the rollback need. All problems
 * are reported at once, each with its fix.
 */
import { messageOf, PreflightError } from '../lib/errors.js';
import { accessFor, objectAccess } from '../cluster/access.js';
import { applyProblem } from '../deploy/apply.js';
import { isStatus, type AccessCheck, type KindInfo, type Kube } from '../cluster/kube.js';
import {
  applyOrder,
  placeObjects,
  sourceOf,
  withImage,
  workloadKindOf,
  type ManifestObject,
} from '../desired/manifests.js';
import { recordOf, undeployable } from '../deploy/target-record.js';
import { targetKey, type Target } from '../desired/targets.js';
import { kindTitle, type Workload } from '../cluster/workload.js';

/** A target that cannot be read, said with its fix. */
function targetProblem(target: Target, error: unknown): string {
  const key = targetKey(target);
  if (isStatus(error, 404)) {
    return `Input "${target.input}": ${key} does not exist (no ${kindTitle(target.kind)} "${target.name}" in namespace "${target.namespace}"); check the kind, the name and the namespace`;
  }
  if (isStatus(error, 401)) {
    return `the cluster refused the kubeconfig's credentials (401 Unauthorized) reading ${key}; refresh the token or certificate in "kubeconfig"`;
  }
  return messageOf(error);
}

/** The permissions of `checks` the identity lacks in `namespace`, each named once, sorted. */
export async function deniedIn(kube: Kube, namespace: string, checks: AccessCheck[]): Promise<string[]> {
  const unique = [...new Map(checks.map((c) => [accessName(c), c])).values()];
  const answers = await Promise.all(unique.map(async (c) => ((await kube.canI(namespace, c)) ? '' : accessName(c))));
  return answers.filter((d) => d !== '').sort();
}

function accessName(a: AccessCheck): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return `${a.verb} ${a.group ? `${resource}.${a.group}` : resource}`;
}

/**
 * Checks the cluster before any build: every target exists, is not paused, its containers resolve, access is granted.
 * Returns each target as read (by its key): the deploy's first read of it, whose resourceVersion guards the patch.
 */
export async function preflight(
  kube: Kube,
  targets: Target[],
  image: string,
  /** More access the deploy needs in each namespace of a Deployment target (`canary`'s, for `NAME-canary`). */
  canaryAccess: AccessCheck[] = [],
): Promise<Map<string, Workload>> {
  const live = new Map<string, Workload>();
  const found = await Promise.all(
    targets.map(async (target) => {
      try {
        const workload = await kube.getWorkload(target);
        recordOf(target, workload, image);
        live.set(targetKey(target), workload);
        return undefined;
      } catch (error) {
        return targetProblem(target, error);
      }
    }),
  );
  const problems = found.filter((p): p is string => p !== undefined);
  for (const namespace of [...new Set(targets.map((t) => t.namespace))]) {
    const denied: string[] = [];
    const kinds = targets.filter((t) => t.namespace === namespace).map((t) => t.kind);
    await Promise.all(
      [...accessFor(kinds), ...(kinds.includes('deployment') ? canaryAccess : [])].map(async (access) => {
        if (!(await kube.canI(namespace, access))) denied.push(accessName(access));
      }),
    );
    if (denied.length > 0) {
      problems.push(
        `the kubeconfig's identity may not ${denied.sort().join(', ')} in namespace ${namespace}; ` +
          `grant them with a Role bound to it (see the README's "Permissions")`,
      );
    }
  }
  if (problems.length > 0) throw new PreflightError(`Preflight failed:\n- ${problems.join('\n- ')}`);
  return live;
}

export interface ManifestPreflight {
  /** The parsed manifests (their Secrets' values already registered: every request below can echo them). */
  parsed: ManifestObject[];
  image: string;
  /** What the dry run gives the matched containers: the reference as far as it is known before the build. */
  dryRunReference: string;
  defaultNamespace: string;
  force: boolean;
  /**
   * A preview: a dry run the API server refuses is not a preflight error but part of the plan, which sends the same
   * dry run with the real digest and reports it as "would fail".
   */
  refusalsInPlan: boolean;
  /** The image is used by a pre-deploy Job of the same files: then no other object needs to use it. */
  imageInJobs?: boolean;
}

/** The API group of an apiVersion (`apps/v1` -> `apps`, `v1` -> core). */
const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '');

/** Each object's kind as the cluster serves it (scope and resource), or the problem with it. */
async function discover(kube: Kube, objects: ManifestObject[]) {
  const kinds = new Map<string, Promise<KindInfo | string>>();
  for (const { object } of objects) {
    const id = `${object.apiVersion} ${object.kind}`;
    if (!kinds.has(id))
      kinds.set(
        id,
        kube.kindInfo(object.apiVersion, object.kind).catch((error: unknown) => messageOf(error)),
      );
  }
  const info = new Map<string, KindInfo | string>();
  for (const [id, found] of kinds) info.set(id, await found);
  return (m: ManifestObject) => info.get(`${m.object.apiVersion} ${m.object.kind}`) ?? 'not discovered';
}

/**
 * Checks manifests before any build: every kind is served, the image is used, every object passes
 * a server-side dry run of the very apply (schema, admission, quota, RBAC, field conflicts), every workload can be
 * watched, and the identity may undo what it applies. Returns the objects in apply order, namespaces given (the
 * image is given to them at deploy time, once the digest is known). All problems at once, each naming its file and document.
 */
export async function preflightManifests(kube: Kube, request: ManifestPreflight) {
  const { parsed } = request;
  const kindOf = await discover(kube, parsed);
  const problems: string[] = [];
  for (const m of parsed) {
    const info = kindOf(m);
    if (typeof info === 'string') problems.push(`${sourceOf(m)} (${m.object.kind} ${m.object.metadata.name}): ${info}`);
  }
  if (problems.length > 0) throw new PreflightError(`Preflight failed:\n- ${problems.join('\n- ')}`);
  const placed = applyOrder(placeObjects(parsed, (m) => (kindOf(m) as KindInfo).namespaced, request.defaultNamespace));
  const { objects } = withImage(placed, request.image, request.dryRunReference, { required: !request.imageInJobs });
  await Promise.all(
    objects.map(async (m) => {
      try {
        const { object: result } = await kube.applyObject(m.object, { dryRun: true, force: request.force });
        const kind = workloadKindOf(result);
        const problem =
          kind &&
          undeployable(
            { kind, namespace: result.metadata.namespace ?? '', name: result.metadata.name },
            result as unknown as Workload,
          );
        if (problem) problems.push(`${sourceOf(m)}: ${problem}`);
      } catch (error) {
        if (!request.refusalsInPlan) problems.push(`dry run of ${applyProblem(m, error)}`);
      }
    }),
  );
  const byNamespace = new Map<string, AccessCheck[]>();
  for (const m of placed) {
    const namespace = m.object.metadata.namespace ?? '';
    const kind = workloadKindOf(m.object);
    const { resource } = kindOf(m) as KindInfo;
    const checks = byNamespace.get(namespace) ?? [];
    checks.push(...objectAccess(groupOf(m.object.apiVersion), resource), ...(kind ? accessFor([kind]) : []));
    byNamespace.set(namespace, checks);
  }
  for (const [namespace, checks] of byNamespace) {
    const denied = await deniedIn(kube, namespace, checks);
    if (denied.length > 0) {
      problems.push(
        `the kubeconfig's identity may not ${denied.join(', ')} ${namespace ? `in namespace ${namespace}` : 'cluster-wide'}; ` +
          `applying the manifests and undoing them need these (see the README's "Permissions")`,
      );
    }
  }
  if (problems.length > 0) throw new PreflightError(`Preflight failed:\n- ${problems.sort().join('\n- ')}`);
  return { objects: placed };
}
