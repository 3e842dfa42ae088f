/**
 * What a watch of targets is planned as: the targets (members) and the informers (plans) that fill their state, and
 * how an informer is run. Shared by the full watch (shared-watch.ts) and the lean one (lean-watch.ts).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { TargetState, WatchScope } from './kube.js';

/** The kinds listed and watched, and where their API is. */
export type Listed = 'deployments' | 'statefulsets' | 'daemonsets' | 'replicasets' | 'controllerrevisions' | 'pods';

/** One target watched: its scope, the state its callbacks see, and how it hears of changes and failures. */
export interface Member {
  scope: WatchScope;
  state: TargetState;
  /** Called once every kind of this target has been listed, and on each change after. */
  changed(): void;
  /** Its watch failed for good. */
  failed(error: unknown): void;
}

/** One informer to run: what it lists and watches, and the targets whose state it fills. */
export interface Plan {
  resource: Listed;
  namespace: string;
  query: Record<string, string>;
  /** For each target: the map of its state this informer fills, and which of the informer's objects are its own. */
  members: { member: Member; store: Map<string, KubernetesObject>; owns: (o: KubernetesObject) => boolean }[];
}

/** Runs one plan's informer into `store` until `signal` aborts; rejects only with an error retrying cannot fix. */
export type RunPlan = (
  plan: Plan,
  store: Map<string, KubernetesObject>,
  changed: () => void,
  signal: AbortSignal,
) => Promise<void>;
