/**
 * Canary shares by a Gateway API HTTPRoute (`canary-route`), the pure parts: which of the route's Services a
 * Deployment's pods are behind, the canary's Service made from it, and the route's rules with the step's weights.
 *
 * The canary Service selects what the stable one selects plus `kube-ship.dev/track: canary`: the canary's pods only.
 * The stable Service is the user's and is never changed, so it keeps selecting the canary's pods too (they carry its
 * labels): of what the route sends to the stable Service, the canary's pods take their share by count as well. A
 * step of `p`% with `c` canary pods next to `n` stable ones gives the canary p + (100 - p) * c / (n + c) percent of
 * the requests the route sent to the stable Service before (`canaryShare`).
 */
import type { V1Service } from '@kubernetes/client-node';
import type { KubeObject, ObjectRef } from '../cluster/kube.js';
import { isRecord } from '../lib/json.js';
import { CANARY_OF_ANNOTATION, CANARY_RUN_ANNOTATION, TRACK_LABEL } from './canary.js';

export const HTTP_ROUTE_API = 'gateway.networking.k8s.io/v1';

export const routeRef = (route: { namespace: string; name: string }): ObjectRef => ({
  apiVersion: HTTP_ROUTE_API,
  kind: 'HTTPRoute',
  namespace: route.namespace,
  name: route.name,
});

/** One of a rule's backendRefs, as the Gateway API writes it (its defaults: group "", kind Service, weight 1). */
export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [field: string]: unknown;
}

export interface RouteRule {
  backendRefs?: BackendRef[];
  [field: string]: unknown;
}

/** A Service by namespace and name. */
export interface ServiceName {
  namespace: string;
  name: string;
}

/** The largest weight the Gateway API accepts. */
const MAX_WEIGHT = 1_000_000;

/** The route's rules (`spec.rules`), [] when it has none. */
export function rulesOf(route: KubeObject): RouteRule[] {
  const spec = route.spec;
  const rules = isRecord(spec) ? spec.rules : undefined;
  return Array.isArray(rules) ? (rules as RouteRule[]) : [];
}

/** Whether a backendRef of a route in `routeNamespace` is the Service `service`. */
export function isServiceRef(ref: BackendRef, service: ServiceName, routeNamespace: string): boolean {
  return (
    (ref.group ?? '') === '' &&
    (ref.kind ?? 'Service') === 'Service' &&
    ref.name === service.name &&
    (ref.namespace ?? routeNamespace) === service.namespace
  );
}

/** The Services in `namespace` the route sends to, each named once, in the order the rules name them. */
export function routeServices(route: KubeObject, namespace: string): string[] {
  const routeNamespace = route.metadata.namespace ?? '';
  const names = rulesOf(route).flatMap((rule) =>
    (rule.backendRefs ?? [])
      .filter((ref) => isServiceRef(ref, { namespace, name: ref.name }, routeNamespace))
      .map((ref) => ref.name),
  );
  return [...new Set(names)];
}

/** Whether a Service selects the pods of a template with these labels (a Service without a selector selects none). */
export function selects(service: V1Service, labels: Record<string, string>): boolean {
  const selector = Object.entries(service.spec?.selector ?? {});
  return selector.length > 0 && selector.every(([key, value]) => labels[key] === value);
}

export const canaryServiceName = (name: string): string => `${name}-canary`;

/**
 * The canary's Service: the stable Service's ports and selector, plus the track label in the selector, so it reaches
 * the canary's pods only. A plain ClusterIP Service: the route reaches it by name and port.
 */
export function canaryService(stable: V1Service, run: string): KubeObject {
  const name = stable.metadata?.name ?? '';
  const ports = (stable.spec?.ports ?? []).map((p) => ({
    ...(p.name !== undefined ? { name: p.name } : {}),
    port: p.port,
    ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
    ...(p.protocol !== undefined ? { protocol: p.protocol } : {}),
    ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
  }));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: canaryServiceName(name),
      namespace: stable.metadata?.namespace ?? '',
      labels: { [TRACK_LABEL]: 'canary' },
      annotations: { [CANARY_OF_ANNOTATION]: name, [CANARY_RUN_ANNOTATION]: run },
    },
    spec: { type: 'ClusterIP', selector: { ...stable.spec?.selector, [TRACK_LABEL]: 'canary' }, ports },
  };
}

/**
 * The rules with the canary at `percent`: in each rule that sends to `stable`, its weight `w` is split into
 * w * (100 - percent) for it and w * percent for the canary's Service (added right after it, the same port and
 * filters), and every other backend's weight is multiplied by 100, so what the rule sends elsewhere stays as it was.
 * Computed from the rules as recorded before the canary, so every step starts from them. Throws when the rules
 * already name the canary's Service (another run's canary) or a weight would pass the Gateway API's limit.
 */
export function weighedRules(
  rules: RouteRule[],
  stable: ServiceName,
  routeNamespace: string,
  percent: number,
): RouteRule[] {
  const canary = { namespace: stable.namespace, name: canaryServiceName(stable.name) };
  return rules.map((rule) => {
    const refs = rule.backendRefs ?? [];
    if (!refs.some((ref) => isServiceRef(ref, stable, routeNamespace))) return structuredClone(rule);
    if (refs.some((ref) => isServiceRef(ref, canary, routeNamespace))) {
      throw new Error(`a rule already sends to ${canary.name}: another deploy's canary is running on this route`);
    }
    const weighed = refs.flatMap((ref): BackendRef[] => {
      const weight = ref.weight ?? 1;
      if (!isServiceRef(ref, stable, routeNamespace)) return [{ ...structuredClone(ref), weight: weight * 100 }];
      const kept = { ...structuredClone(ref), weight: weight * (100 - percent) };
      return [kept, { ...structuredClone(ref), name: canary.name, weight: weight * percent }];
    });
    const heaviest = Math.max(...weighed.map((ref) => ref.weight ?? 0));
    if (heaviest > MAX_WEIGHT) {
      throw new Error(`a weight of ${heaviest} would pass the Gateway API's limit of ${MAX_WEIGHT}; lower the weights`);
    }
    return { ...structuredClone(rule), backendRefs: weighed };
  });
}

/**
 * The canary's share, in percent, of what the route sent to the stable Service: its weight `percent` (to the canary
 * Service) plus, of the rest (to the stable Service, which selects both), its pods' part by count.
 */
export function canaryShare(percent: number, canaryPods: number, stablePods: number): number {
  const pods = canaryPods + stablePods;
  return percent + ((100 - percent) * (pods === 0 ? 0 : canaryPods)) / Math.max(pods, 1);
}
