/**
 * Preflight of `canary-route`, before anything is built: the cluster serves HTTPRoutes, the route exists and sends
 * to a Service in each canaried Deployment's namespace, and the identity may read and patch the route and make and
 * delete the canary's Service. All problems are said at once, each with its fix.
 */
import { CANARY_ROUTE_ACCESS } from '../cluster/access.js';
import { isStatus, type Kube } from '../cluster/kube.js';
import { HTTP_ROUTE_API, routeRef, routeServices } from '../deploy/canary-route.js';
import { messageOf, PreflightError } from '../lib/errors.js';
import type { CanaryRoute } from '../desired/canary-route.js';
import { deniedIn } from './preflight.js';

const GRANT = `grant them with a Role bound to it (see the README's "Permissions")`;

/** What the route and access lack; [] when all is there. */
async function problemsOf(kube: Kube, route: { namespace: string; name: string }, namespaces: string[]) {
  const key = `HTTPRoute ${route.namespace}/${route.name}`;
  const problems: string[] = [];
  const denied = await deniedIn(kube, route.namespace, CANARY_ROUTE_ACCESS.route);
  if (denied.length > 0) {
    problems.push(
      `canary-route: the kubeconfig's identity may not ${denied.join(', ')} in namespace ${route.namespace}; ${GRANT}`,
    );
  }
  for (const namespace of namespaces) {
    const missing = await deniedIn(kube, namespace, CANARY_ROUTE_ACCESS.service);
    if (missing.length > 0) {
      problems.push(
        `canary-route: the kubeconfig's identity may not ${missing.join(', ')} in namespace ${namespace}; ${GRANT}`,
      );
    }
  }
  if (denied.length > 0) return problems;
  try {
    await kube.kindInfo(HTTP_ROUTE_API, 'HTTPRoute');
  } catch (error) {
    if (!isStatus(error, 404)) throw error;
    return [
      ...problems,
      `canary-route: the cluster serves no HTTPRoute (${HTTP_ROUTE_API}); install the Gateway API's CRDs`,
    ];
  }
  const live = await kube.getObject(routeRef(route));
  if (live === undefined) return [...problems, `canary-route: ${key} does not exist; check its name and namespace`];
  for (const namespace of namespaces) {
    if (routeServices(live, namespace).length === 0) {
      problems.push(
        `canary-route: ${key} sends to no Service in namespace ${namespace}, where the canaried Deployment is; ` +
          'name the route that carries its traffic',
      );
    }
  }
  return problems;
}

/**
 * Checks the route of `canary-route` for the Deployments in `namespaces`; returns it with its namespace resolved:
 * given, or the Deployments' when they share one (a route usually sits beside its Services), else the deploy's.
 */
export async function checkCanaryRoute(
  kube: Kube,
  route: CanaryRoute,
  namespaces: string[],
  defaultNamespace: string,
): Promise<{ namespace: string; name: string }> {
  const shared = new Set(namespaces).size === 1 ? namespaces[0] : undefined;
  const resolved = { namespace: route.namespace ?? shared ?? defaultNamespace, name: route.name };
  let problems: string[];
  try {
    problems = await problemsOf(kube, resolved, [...new Set(namespaces)]);
  } catch (error) {
    problems = [`canary-route: HTTPRoute ${resolved.namespace}/${resolved.name}: ${messageOf(error)}`];
  }
  if (problems.length > 0) throw new PreflightError(`Preflight failed:\n- ${problems.join('\n- ')}`);
  return resolved;
}
