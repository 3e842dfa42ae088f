/**
 * Where a workload is reachable: the Services whose selector matches its pods' labels (type, ports) and the
 * Ingress rules whose backend is one of those Services (host, path). Read after the rollout for the report; a
 * missing permission or a slow API server leaves a note, never a failed deploy.
 */
import type { V1Ingress, V1Service } from '@kubernetes/client-node';
import { within } from '../lib/deadline.js';
import { messageOf } from '../lib/errors.js';
import { onceByKey } from '../lib/once.js';
import { isStatus, type Kube, type WorkloadRef } from '../cluster/kube.js';

export interface ServiceRoute {
  name: string;
  type: string;
  /** `80→8080/TCP`, with `:30080` for a NodePort. */
  ports: string[];
}

export interface IngressRoute {
  ingress: string;
  /** `https://host/path` (http when the host has no TLS entry); `*` for a rule without a host. */
  url: string;
  service: string;
  port: string;
}

export interface TargetRoutes {
  services: ServiceRoute[];
  ingresses: IngressRoute[];
  /** What could not be read (a missing permission), when so; the Services are shown even when only Ingresses failed. */
  note?: string;
}

/** A Service selects the pods when its selector is not empty and every key=value of it is on the pods. */
function selects(service: V1Service, labels: Record<string, string>): boolean {
  const selector = service.spec?.selector ?? {};
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

function portsOf(service: V1Service): string[] {
  return (service.spec?.ports ?? []).map((p) => {
    const target = p.targetPort ?? p.port;
    const node = p.nodePort ? ` :${p.nodePort}` : '';
    return `${p.port}→${String(target)}/${p.protocol ?? 'TCP'}${node}`;
  });
}

/** The Services that select pods with `labels`, and the Ingress paths that route to those Services. */
export function routesOf(labels: Record<string, string>, services: V1Service[], ingresses: V1Ingress[]): TargetRoutes {
  const selecting = services.filter((s) => selects(s, labels));
  const names = new Set(selecting.map((s) => s.metadata?.name ?? ''));
  const routes: IngressRoute[] = [];
  for (const ingress of ingresses) {
    const tls = new Set((ingress.spec?.tls ?? []).flatMap((t) => t.hosts ?? []));
    for (const rule of ingress.spec?.rules ?? []) {
      for (const path of rule.http?.paths ?? []) {
        const backend = path.backend.service;
        if (backend === undefined || !names.has(backend.name)) continue;
        const host = rule.host ?? '*';
        const scheme = rule.host && tls.has(rule.host) ? 'https' : 'http';
        routes.push({
          ingress: ingress.metadata?.name ?? '',
          url: `${scheme}://${host}${path.path ?? '/'}`,
          service: backend.name,
          port: String(backend.port?.number ?? backend.port?.name ?? ''),
        });
      }
    }
  }
  return {
    services: selecting.map((s) => ({
      name: s.metadata?.name ?? '',
      type: s.spec?.type ?? 'ClusterIP',
      ports: portsOf(s),
    })),
    ingresses: routes,
  };
}

/** How long the report waits for the Services and Ingresses of all targets. */
export const ROUTES_LIMIT_MS = 5000;

/** Why a list could not be read, for the report. */
function notShown(what: string, namespace: string, error: unknown): string {
  return isStatus(error, 403)
    ? `${what} not shown: the identity may not list them in ${namespace}`
    : `${what} not shown: ${messageOf(error)}`;
}

/** A target whose routes are shown, with its pods' labels when they are known (else it is read). */
export type RoutedTarget = WorkloadRef & { key: string; podLabels?: Record<string, string> };

/**
 * The routes to each target's pods (by its pod template's labels), keyed like the report's targets. Each namespace's
 * Services are listed once; its Ingresses only when a Service there selects a target (an Ingress routes to Services),
 * each list on its own: a refused Ingress list keeps the Services.
 */
export async function gatherRoutes(kube: Kube, targets: RoutedTarget[]): Promise<Map<string, TargetRoutes>> {
  const services = onceByKey((namespace) => kube.listServices(namespace));
  const ingresses = onceByKey((namespace) => kube.listIngresses(namespace));
  const one = async (target: RoutedTarget): Promise<[string, TargetRoutes]> => {
    const { namespace } = target;
    try {
      const labels = target.podLabels ?? (await kube.getWorkload(target)).spec?.template.metadata?.labels ?? {};
      const listed = await services(namespace);
      if (!listed.some((s) => selects(s, labels))) return [target.key, routesOf(labels, listed, [])];
      try {
        const routes = await ingresses(namespace);
        return [target.key, routesOf(labels, listed, routes)];
      } catch (error) {
        return [target.key, { ...routesOf(labels, listed, []), note: notShown('ingresses', namespace, error) }];
      }
    } catch (error) {
      return [target.key, { services: [], ingresses: [], note: notShown('services and ingresses', namespace, error) }];
    }
  };
  const timedOut = (): [string, TargetRoutes][] =>
    targets.map((t) => [
      t.key,
      { services: [], ingresses: [], note: `not shown: no answer within ${ROUTES_LIMIT_MS / 1000}s` },
    ]);
  return new Map(await within(ROUTES_LIMIT_MS, Promise.all(targets.map(one)), timedOut));
}
