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
import { resourcePath } from './api.js';
import type { Source } from './kube-watch.js';
import type { TargetState, WatchScope } from './kube.js';
import { leanObserve, type ReadPlan } from './lean-watch.js';
import type { Listed, Member, Plan, RunPlan } from './watch-plan.js';
import { resourceOf } from './workload.js';

export type { Listed, Member, Plan, RunPlan } from './watch-plan.js';

/** `key=value`, the one form several selectors can be joined in (`key in (v1,v2)`); undefined for any other. */
function singleLabel(selector: string): { key: string; value: string } | undefined {
  const match = /^([A-Za-z0-9._/-]+)=([A-Za-z0-9._-]*)$/.exec(selector);
  return match ? { key: match[1] ?? '', value: match[2] ?? '' } : undefined;
}

/** The targets of one kind in one namespace, and which map of their state that kind fills. */
interface Group {
  resource: Listed;
  namespace: string;
  members: Member[];
  field: keyof TargetState;
}

/** Each target's kinds (its workload, its ReplicaSets or ControllerRevisions, its pods), grouped by namespace. */
function groupByKind(members: Member[]): Group[] {
  const groups = new Map<string, Group>();
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
  return [...groups.values()];
}

const storeOf = (m: Member, field: keyof TargetState) => m.state[field] as Map<string, KubernetesObject>;

/** Workloads by name: one informer for the group, by field selector when there is one name. */
function planWorkloads({ resource, namespace, members, field }: Group): Plan[] {
  const names = new Set(members.map((m) => m.scope.name));
  const query: Record<string, string> =
    names.size === 1 ? { fieldSelector: `metadata.name=${members[0]?.scope.name ?? ''}` } : {};
  const planned = members.map((m) => ({
    member: m,
    store: storeOf(m, field),
    owns: (o: KubernetesObject) => o.metadata?.name === m.scope.name,
  }));
  return [{ resource, namespace, query, members: planned }];
}

/** Objects by label: one informer when the selectors join (`key in (...)`), else one per target. */
function planByLabel({ resource, namespace, members, field }: Group): Plan[] {
  const labels = members.map((m) => singleLabel(m.scope.selector));
  const key = labels[0]?.key;
  const joinable = members.length > 1 && labels.every((l) => l !== undefined && l.key === key);
  if (!joinable || key === undefined) {
    return members.map((m) => ({
      resource,
      namespace,
      query: { labelSelector: m.scope.selector },
      members: [{ member: m, store: storeOf(m, field), owns: () => true }],
    }));
  }
  const values = [...new Set(labels.map((l) => l?.value ?? ''))];
  const planned = members.map((m, i) => ({
    member: m,
    store: storeOf(m, field),
    owns: (o: KubernetesObject) => o.metadata?.labels?.[key] === labels[i]?.value,
  }));
  return [{ resource, namespace, query: { labelSelector: `${key} in (${values.join(',')})` }, members: planned }];
}

/** The informers that watching `members` needs (pure: tested on its own). */
export function planWatches(members: Member[]): Plan[] {
  return groupByKind(members).flatMap((group) =>
    group.field === 'workloads' ? planWorkloads(group) : planByLabel(group),
  );
}

/** What `source` describes a plan as, for messages: `pods in ns (app=web)`. */
export function sourceOf(plan: Plan): Source {
  const apiVersion = plan.resource === 'pods' ? 'v1' : 'apps/v1';
  const only = plan.members.length === 1 ? plan.members[0]?.member.scope : undefined;
  const isWorkload =
    plan.resource !== 'pods' && plan.resource !== 'replicasets' && plan.resource !== 'controllerrevisions';
  const what =
    isWorkload && only
      ? `${only.kind} ${only.namespace}/${only.name}`
      : `${plan.resource} in ${plan.namespace}${plan.query.labelSelector ? ` (${plan.query.labelSelector})` : ''}`;
  return { what, path: resourcePath(apiVersion, plan.resource, plan.namespace), query: plan.query };
}

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
 * The informers of one batch of targets (the `observe` calls of one tick) and who still uses each: a target hears of
 * changes once all its kinds have been listed; it leaves when its signal aborts or an informer of its fails for good.
 */
class Batch {
  private readonly running = new Map<Plan, Running>();
  private readonly plansOf: Map<Member, Plan[]>;
  private readonly listed: Map<Member, Set<Plan>>;
  private readonly ended = new Set<Member>();

  constructor(
    private readonly runPlan: RunPlan,
    private readonly plans: Plan[],
    members: Member[],
  ) {
    this.plansOf = new Map(members.map((m) => [m, []]));
    for (const plan of plans) for (const { member } of plan.members) this.plansOf.get(member)?.push(plan);
    this.listed = new Map(members.map((m) => [m, new Set()]));
  }

  start(subscriptions: Subscription[]): void {
    for (const plan of this.plans) this.startInformer(plan);
    for (const s of subscriptions) this.endOnAbort(s);
  }

  /** Runs one plan's informer; each change is sorted into its members' own maps. */
  private startInformer(plan: Plan): void {
    const store = new Map<string, KubernetesObject>();
    const stop = new AbortController();
    const done = this.runPlan(plan, store, () => this.deliver(plan, store), stop.signal).catch((error: unknown) => {
      for (const { member } of plan.members) this.end(member, () => member.failed(error));
    });
    this.running.set(plan, { users: new Set(plan.members.map((m) => m.member)), stop, done });
  }

  private deliver(plan: Plan, store: Map<string, KubernetesObject>): void {
    for (const { member, store: own, owns } of plan.members) {
      if (this.ended.has(member)) continue;
      own.clear();
      for (const [name, object] of store) if (owns(object)) own.set(name, object);
      const seen = this.listed.get(member);
      seen?.add(plan);
      if (seen?.size === this.plansOf.get(member)?.length) member.changed();
    }
  }

  private endOnAbort(s: Subscription): void {
    s.signal.addEventListener('abort', () => this.end(s.member, undefined, () => s.resolve()), { once: true });
  }

  /** `member` is done (`now` runs at once, `after` once its informers nobody else uses have stopped). */
  private end(member: Member, now?: () => void, after?: () => void): void {
    if (this.ended.has(member)) return;
    this.ended.add(member);
    now?.();
    void this.leave(member).then(after);
  }

  /** `member` stops using its informers; those nobody uses any more stop. Resolves once they have. */
  private leave(member: Member): Promise<unknown> {
    const stopped: Promise<void>[] = [];
    for (const plan of this.plansOf.get(member) ?? []) {
      const run = this.running.get(plan);
      if (!run?.users.delete(member) || run.users.size > 0) continue;
      run.stop.abort();
      stopped.push(run.done);
    }
    return Promise.all(stopped);
  }
}

/**
 * `Kube.observe` on shared informers: the calls of one tick are planned together (`planWatches`); each target's
 * callback starts once all its kinds have been listed; an informer stops when the last target using it stops; one
 * failing for good fails every target using it, and stops that target's other informers (where no other uses them).
 */
export function sharedObserve(runPlan: RunPlan, readPlan?: ReadPlan) {
  let pending: Subscription[] = [];

  /** The full watch of `live` (every ReplicaSet or revision and pod of each selector). */
  const full = (live: Subscription[]): void => {
    const members = live.map((s) => s.member);
    new Batch(runPlan, planWatches(members), members).start(live);
  };
  const start = (batch: Subscription[]): void => {
    const live = batch.filter((s) => !s.signal.aborted);
    for (const s of batch) if (s.signal.aborted) s.resolve();
    const [only] = live;
    if (readPlan === undefined || live.length !== 1 || only?.member.scope.kind !== 'deployment') return full(live);
    // A Deployment waited on alone: lean (lean-watch.ts), the full watch when that is not enough.
    const handOver = (): Promise<void> => new Promise<void>((resolve, reject) => full([{ ...only, resolve, reject }]));
    leanObserve(only.member, only.signal, { runPlan, readPlan, full: handOver }).then(only.resolve, only.reject);
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
