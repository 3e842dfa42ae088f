/**
 * The input `canary-route`: a Gateway API HTTPRoute, `[NAMESPACE/]NAME`, whose backendRefs kube-ship weighs at each
 * step of `canary` (the stable Service and the canary's), so the canary gets its share of the requests the route
 * carries. It takes shares (`10%`), not a number of pods: a weight is a share.
 */
import { InputError } from '../lib/errors.js';
import type { CanaryStep } from './canary.js';

/**
 * An HTTPRoute by name; without a namespace it is in the canaried Deployments' (when they share one), else in the
 * deploy's (`namespace`, or the kubeconfig context's).
 */
export interface CanaryRoute {
  namespace: string | undefined;
  name: string;
}

/** A DNS-1123 subdomain (an object's name) or label (a namespace). */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Parses `canary-route` (undefined when empty); it needs `canary` steps given as shares. */
export function parseCanaryRoute(raw: string, steps: CanaryStep[]): CanaryRoute | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  const parts = value.split('/');
  const [first, second] = parts;
  const route =
    parts.length === 2 ? { namespace: first ?? '', name: second ?? '' } : { namespace: undefined, name: first ?? '' };
  if (
    parts.length > 2 ||
    !NAME.test(route.name) ||
    (route.namespace !== undefined && !NAMESPACE.test(route.namespace))
  ) {
    throw new InputError(
      'canary-route',
      `"${value}" is not an HTTPRoute's [NAMESPACE/]NAME; e.g. "web" or "gateways/web".`,
    );
  }
  if (steps.length === 0) {
    throw new InputError(
      'canary-route',
      'is set, but `canary` is empty: give the steps the route weighs, e.g. "10%, 50%".',
    );
  }
  if (steps.some((s) => s.kind !== 'percent')) {
    throw new InputError(
      'canary-route',
      'weighs the route by share, but `canary` gives pods: write its steps as shares, e.g. "10%, 50%".',
    );
  }
  return route;
}
