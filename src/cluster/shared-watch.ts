/**
 * One list and watch per kind per namespace, shared by every target watched there at once. The targets a wait starts
 * together (their `observe` calls come in the same tick) are planned together: for each kind, the targets of one
 * namespace share one informer whose query covers them all, and each target's state keeps only its own objects.
 *
 * What one query can cover: workloads of one kind by name (one target: `metadata.name=web`; several: the namespace's
 * workloads of that kind, which are few), and ReplicaSets, ControllerRevisions and pods by label selector when the
 * targets' selectors are each one `key=value` on the same key (`app in (web,api)`). Targets whose selectors cannot be
 * joined keep an informer of their own, with their own selector, so the cost of watching still does not grow with the
 * other pods of a crowded namespace.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Source } from './kube-watch.js';
import type { TargetState, WatchScope } from './kube.js';
import { resourceOf } from './workload.js';

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

/** `key=value`, the one form several selectors can be joined in (`key in (v1,v2)`); undefined for any other. */
function singleLabel(selector: string): { key: string; value: string } | undefined {
  const match = /^([A-Za-z0-9._/-]+)=([A-Za-z0-9._-]*)$/.exec(selector);
  return match ? { key: match[1] ?? '', value: match[2] ?? '' } : undefined;
}

/** The informers that watching `members` needs (pure: tested on its own). */
export function planWatches(members: Member[]): Plan[] {
  const plans: Plan[] = [];
  const groups = new Map<
    string,
    { resource: Listed; namespace: string; members: Member[]; field: keyof TargetState }
  >();
  const add = (resource: Listed, field: keyof TargetState, member: Member): void => {
    const key = `${member.scope.namespace}/${resource}`;
    const group = groups.get(key) ?? { resource, namespace: member.scope.namespace, members: [], field };
    group.members.push(member);
    groups.set(key, group);
  };
  for (const member of members) {
    add(resourceOf(member.scope.kind), 'workloads', member);
    if (member.scope.kind === 'deployment') add('replicasets', 'replicaSets', member);
    else add('controllerrevisions', 'revisions', member);
    add('pods', 'pods', member);
  }
  const storeOf = (m: Member, field: keyof TargetState) => m.state[field] as Map<string, KubernetesObject>;
  for (const { resource, namespace, members: group, field } of groups.values()) {
    if (field === 'workloads') {
      const names = new Set(group.map((m) => m.scope.name));
      const query: Record<string, string> =
        names.size === 1 ? { fieldSelector: `metadata.name=${group[0]?.scope.name ?? ''}` } : {};
      plans.push({
        resource,
        namespace,
        query,
        members: group.map((m) => ({
          member: m,
          store: storeOf(m, field),
          owns: (o) => o.metadata?.name === m.scope.name,
        })),
      });
      continue;
    }
    const labels = group.map((m) => singleLabel(m.scope.selector));
    const key = labels[0]?.key;
    const joinable = group.length > 1 && labels.every((l) => l !== undefined && l.key === key);
    if (joinable && key !== undefined) {
      const values = [...new Set(labels.map((l) => l?.value ?? ''))];
      plans.push({
        resource,
        namespace,
        query: { labelSelector: `${key} in (${values.join(',')})` },
        members: group.map((m, i) => ({
          member: m,
          store: storeOf(m, field),
          owns: (o) => o.metadata?.labels?.[key] === labels[i]?.value,
        })),
      });
      continue;
    }
    for (const m of group) {
      plans.push({
        resource,
        namespace,
        query: { labelSelector: m.scope.selector },
        members: [{ member: m, store: storeOf(m, field), owns: () => true }],
      });
    }
  }
  return plans;
}

/** What `source` describes a plan as, for messages: `pods in ns (app=web)`. */
export function sourceOf(plan: Plan, list: Source['list']): Source {
  const group = plan.resource === 'pods' ? '/api/v1' : '/apis/apps/v1';
  const only = plan.members.length === 1 ? plan.members[0]?.member.scope : undefined;
  const isWorkload =
    plan.resource !== 'pods' && plan.resource !== 'replicasets' && plan.resource !== 'controllerrevisions';
  const what =
    isWorkload && only
      ? `${only.kind} ${only.namespace}/${only.name}`
      : `${plan.resource} in ${plan.namespace}${plan.query.labelSelector ? ` (${plan.query.labelSelector})` : ''}`;
  return { what, path: `${group}/namespaces/${plan.namespace}/${plan.resource}`, query: plan.query, list };
}

/** Runs one plan's informer into `store` until `signal` aborts; rejects only with an error retrying cannot fix. */
export type RunPlan = (
  plan: Plan,
  store: Map<string, KubernetesObject>,
  changed: () => void,
  signal: AbortSignal,
) => Promise<void>;

interface Subscription {
  member: Member;
  signal: AbortSignal;
  resolve(): void;
  reject(error: unknown): void;
}

/** One running informer and the targets still using it. */
interface Running {
  users: Set<Member>;
  stop: AbortController;
  done: Promise<void>;
}

/**
 * `Kube.observe` on shared informers: the calls of one tick are planned together (`planWatches`); each target's
 * callback starts once all its kinds have been listed; an informer stops when the last target using it stops; one
 * failing for good fails every target using it, and stops that target's other informers (where no other uses them).
 */
export function sharedObserve(runPlan: RunPlan) {
  let pending: Subscription[] = [];

  const start = (batch: Subscription[]): void => {
    const live = batch.filter((s) => !s.signal.aborted);
    for (const s of batch) if (s.signal.aborted) s.resolve();
    const plans = planWatches(live.map((s) => s.member));
    const running = new Map<Plan, Running>();
    const plansOf = new Map<Member, Plan[]>(live.map((s) => [s.member, []]));
    for (const plan of plans) for (const { member } of plan.members) plansOf.get(member)?.push(plan);
    const listed = new Map<Member, Set<Plan>>(live.map((s) => [s.member, new Set()]));
    const ended = new Set<Member>();

    /** `member` stops using its informers; those nobody uses any more stop. Resolves once they have. */
    const leave = (member: Member): Promise<unknown> => {
      const stopped: Promise<void>[] = [];
      for (const plan of plansOf.get(member) ?? []) {
        const run = running.get(plan);
        if (!run?.users.delete(member) || run.users.size > 0) continue;
        run.stop.abort();
        stopped.push(run.done);
      }
      return Promise.all(stopped);
    };

    for (const plan of plans) {
      const store = new Map<string, KubernetesObject>();
      const stop = new AbortController();
      const changed = (): void => {
        for (const { member, store: own, owns } of plan.members) {
          if (ended.has(member)) continue;
          own.clear();
          for (const [name, object] of store) if (owns(object)) own.set(name, object);
          const seen = listed.get(member);
          seen?.add(plan);
          if (seen?.size === plansOf.get(member)?.length) member.changed();
        }
      };
      const users = new Set(plan.members.map((m) => m.member));
      const done = runPlan(plan, store, changed, stop.signal).catch((error: unknown) => {
        for (const { member } of plan.members) {
          if (ended.has(member)) continue;
          ended.add(member);
          member.failed(error);
          void leave(member);
        }
      });
      running.set(plan, { users, stop, done });
    }

    for (const s of live) {
      s.signal.addEventListener(
        'abort',
        () => {
          if (ended.has(s.member)) return;
          ended.add(s.member);
          void leave(s.member).then(() => s.resolve());
        },
        { once: true },
      );
    }
  };

  return (scope: WatchScope, onChange: (state: TargetState) => void, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const state: TargetState = {
        workloads: new Map(),
        replicaSets: new Map(),
        revisions: new Map(),
        pods: new Map(),
      };
      const member: Member = { scope, state, changed: () => onChange(state), failed: reject };
      if (pending.length === 0) {
        queueMicrotask(() => {
          const batch = pending;
          pending = [];
          start(batch);
        });
      }
      pending.push({ member, signal, resolve, reject });
    });
}
