/**
 * Preflight: before anything is built or changed, every target must exist, not be paused, have the containers the
 * deploy would change, and the identity must hold every permission the deploy and the rollback need. All problems
 * are reported at once, each with its fix.
 */
import { messageOf, PreflightError } from './errors.js';
import { accessFor } from './access.js';
import { isStatus, type AccessCheck, type Kube } from './kube.js';
import { recordOf } from './target-record.js';
import { targetKey, type Target } from './targets.js';
import { kindTitle } from './workload.js';

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

function accessName(a: AccessCheck): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return `${a.verb} ${a.group ? `${resource}.${a.group}` : resource}`;
}

/** Checks the cluster before any build: every target exists, is not paused, its containers resolve, access is granted. */
export async function preflight(kube: Kube, targets: Target[], image: string): Promise<void> {
  const found = await Promise.all(
    targets.map(async (target) => {
      try {
        recordOf(target, await kube.getWorkload(target), image);
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
      accessFor(kinds).map(async (access) => {
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
}
