import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { TargetState } from '../../src/cluster/kube.js';
import {
  advance,
  startWait,
  type TargetWait,
  type WaitEvent,
  type WaitItem,
  type WaitRules,
} from '../../src/deploy/wait-state.js';
import type { Verdict } from '../../src/deploy/verdict.js';

const REFERENCE = 'reg/web:v2@sha256:' + 'a'.repeat(64);
const T0 = 1_000_000;

const item = (over: Partial<WaitItem> = {}): WaitItem => ({
  key: 'ns/web',
  kind: 'deployment',
  namespace: 'ns',
  name: 'web',
  selector: 'app=web',
  minGeneration: 2,
  expected: { containers: ['app'], reference: REFERENCE },
  ...over,
});
const strict: WaitRules = { failFast: true, allowedRestarts: 0 };

/** A new pod as the watch shows it: Ready and running unless it crash-loops; restarts with an exit code 1 before. */
interface PodView {
  name: string;
  restarts?: number;
  crashLooping?: boolean;
  deleting?: boolean;
}

function pod({ name, restarts = 0, crashLooping = false, deleting = false }: PodView): V1Pod {
  return {
    metadata: {
      name,
      uid: `uid-${name}`,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-2', uid: 'rs-2', controller: true }],
      ...(deleting ? { deletionTimestamp: new Date(T0) } : {}),
    },
    status: {
      conditions: [{ type: 'Ready', status: crashLooping ? 'False' : 'True' }],
      containerStatuses: [
        {
          name: 'app',
          image: REFERENCE,
          imageID: '',
          ready: !crashLooping,
          restartCount: restarts,
          state: crashLooping
            ? { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } }
            : { running: { startedAt: new Date(T0) } },
          ...(restarts > 0 ? { lastState: { terminated: { exitCode: 1, reason: 'Error' } } } : {}),
        },
      ],
    },
  };
}

/** The Deployment `web` with its new ReplicaSet `web-2` and pods, as one watch event shows them. */
interface View {
  generation?: number;
  observedGeneration?: number;
  replicas?: number;
  updated?: number;
  available?: number;
  /** Pods the status still counts from the old ReplicaSet. */
  old?: number;
  image?: string;
  pods?: PodView[];
  deleted?: boolean;
}

function view(v: View = {}): TargetState {
  const generation = v.generation ?? 2;
  const replicas = v.replicas ?? 2;
  const updated = v.updated ?? replicas;
  const deployment: V1Deployment = {
    metadata: { name: 'web', uid: 'uid-web', generation, annotations: { 'deployment.kubernetes.io/revision': '2' } },
    spec: {
      replicas,
      selector: {},
      template: { spec: { containers: [{ name: 'app', image: v.image ?? REFERENCE }] } },
    },
    status: {
      observedGeneration: v.observedGeneration ?? generation,
      replicas: updated + (v.old ?? 0),
      updatedReplicas: updated,
      availableReplicas: v.available ?? updated,
    },
  };
  const replicaSet: V1ReplicaSet = {
    metadata: {
      name: 'web-2',
      uid: 'rs-2',
      annotations: { 'deployment.kubernetes.io/revision': '2' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true }],
    },
  };
  const pods = v.pods ?? [{ name: 'web-2-a' }, { name: 'web-2-b' }].slice(0, replicas);
  return {
    workloads: new Map(v.deleted ? [] : [['web', deployment]]),
    replicaSets: new Map([['web-2', replicaSet]]),
    revisions: new Map(),
    pods: new Map(pods.map((p) => [p.name, pod(p)])),
  };
}

const seen = (v: View = {}): WaitEvent => ({ kind: 'seen', state: view(v) });
const tick: WaitEvent = { kind: 'tick' };

/** Plays events at their times from the start of a wait: the last state, the verdict reached, every line logged. */
function play(steps: [WaitEvent, number][], start: TargetWait) {
  let state = start;
  let verdict: Verdict | undefined;
  const lines: string[] = [];
  for (const [event, at] of steps) {
    const step = advance(state, event, at);
    state = step.state;
    verdict ??= step.verdict;
    lines.push(...step.lines);
  }
  return { state, verdict, lines };
}

describe('advance: rolling out (one watch event)', () => {
  it.each([
    [
      'a stale view of the Deployment before our patch: not done, however complete',
      view({ generation: 1 }),
      strict,
      { phase: 'rolling', verdict: undefined, lines: ['ns/web: 2/2 updated, 2 available'] },
    ],
    [
      'a stale view the controller has not observed either: waiting for the patched one',
      view({ generation: 1, observedGeneration: 0 }),
      strict,
      { phase: 'rolling', verdict: undefined, lines: ['ns/web: waiting for the patched deployment to be seen'] },
    ],
    [
      'the controller has not observed it yet: kubectl says why',
      view({ observedGeneration: 1 }),
      strict,
      {
        phase: 'rolling',
        verdict: undefined,
        lines: ['ns/web: waiting for the deployment spec update to be observed'],
      },
    ],
    [
      'half way: the progress line',
      view({ updated: 1, available: 2, old: 1, pods: [{ name: 'web-2-a' }] }),
      strict,
      { phase: 'rolling', verdict: undefined, lines: ['ns/web: 1/2 updated, 2 available, 1 old'] },
    ],
    [
      'kubectl says done',
      view(),
      strict,
      {
        phase: 'decided',
        verdict: { state: 'done', message: 'deployment "web" successfully rolled out' },
        lines: ['ns/web: deployment "web" successfully rolled out'],
      },
    ],
    [
      'another image in our container: superseded',
      view({ image: 'reg/web:v3' }),
      strict,
      {
        phase: 'decided',
        verdict: {
          state: 'superseded',
          image: 'app=reg/web:v3',
          message: 'another change took over during the rollout: now app=reg/web:v3',
        },
        lines: ['ns/web: another change took over during the rollout: now app=reg/web:v3'],
      },
    ],
    [
      'the Deployment deleted',
      view({ deleted: true }),
      strict,
      {
        phase: 'decided',
        verdict: { state: 'failed', reason: 'Deleted', message: 'deployment ns/web was deleted during the rollout' },
        lines: ['ns/web: deployment ns/web was deleted during the rollout'],
      },
    ],
    [
      'a new pod crash-looping, fail-fast: failed at once',
      view({ updated: 1, old: 1, pods: [{ name: 'web-2-a', restarts: 3, crashLooping: true }] }),
      strict,
      {
        phase: 'decided',
        verdict: {
          state: 'failed',
          reason: 'CrashLoopBackOff',
          message: 'pod web-2-a container app: CrashLoopBackOff, restarted 3 times, exit code 1 (Error), back-off 40s',
          pod: 'web-2-a',
          container: 'app',
        },
        lines: [
          'ns/web: pod web-2-a container app: CrashLoopBackOff, restarted 3 times, exit code 1 (Error), back-off 40s',
        ],
      },
    ],
    [
      'the same crash loop without fail-fast: only kubectl rule counts',
      view({ updated: 1, old: 1, pods: [{ name: 'web-2-a', restarts: 3, crashLooping: true }] }),
      { failFast: false, allowedRestarts: 0 },
      { phase: 'rolling', verdict: undefined, lines: ['ns/web: 1/2 updated, 1 available, 1 old'] },
    ],
  ] as const)('%s', (_name, state, rules, expected) => {
    const step = advance(startWait(item(), rules), { kind: 'seen', state }, T0);
    expect({ phase: step.state.phase, verdict: step.verdict, lines: step.lines }).toEqual(expected);
    if (expected.phase === 'decided') expect(step.state.finishedAt).toBe(T0);
    expect(step.state.rolledOutAt).toBe(expected.verdict?.state === 'done' ? T0 : undefined);
  });

  it('logs a line only when it changes', () => {
    const halfWay = seen({ updated: 1, available: 2, old: 1, pods: [{ name: 'web-2-a' }] });
    const { lines } = play(
      [
        [halfWay, T0],
        [tick, T0 + 500],
        [halfWay, T0 + 800],
        [seen(), T0 + 1000],
      ],
      startWait(item(), strict),
    );
    expect(lines).toEqual([
      'ns/web: 1/2 updated, 2 available, 1 old',
      'ns/web: deployment "web" successfully rolled out',
    ]);
  });

  it('does nothing on a tick before the watch showed anything', () => {
    const start = startWait(item(), strict);
    expect(advance(start, tick, T0)).toEqual({ state: start, lines: [] });
  });

  it('leaves the state it was given as it was', () => {
    const baking = advance(startWait(item({ bakeMs: 10_000 }), strict), seen(), T0).state;
    const before = structuredClone(baking);
    const events: WaitEvent[] = [tick, seen({ pods: [{ name: 'web-2-a', restarts: 1 }] }), { kind: 'cancelled' }];
    for (const event of events) expect(advance(baking, event, T0 + 10_000).state.phase).toBe('decided');
    expect(baking).toEqual(before);
  });
});

describe('advance: the bake', () => {
  const baking = item({ bakeMs: 10_000 });
  const ended = 'deployment "web" successfully rolled out and baked';

  it.each([
    [
      'nothing happens: done when the bake ends, not a millisecond before',
      strict,
      [
        [seen(), T0],
        [tick, T0 + 9_999],
      ],
      undefined,
      ['ns/web: deployment "web" successfully rolled out', 'ns/web: rolled out; baking 10s (bake: 0s to skip)'],
    ],
    [
      'the bake ends on a tick',
      strict,
      [
        [seen(), T0],
        [tick, T0 + 10_000],
      ],
      { state: 'done', message: ended },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: baked 10s: no restarts, all ready',
      ],
    ],
    [
      'a container restarts during the bake: failed',
      strict,
      [
        [seen(), T0],
        [seen({ pods: [{ name: 'web-2-a', restarts: 1 }, { name: 'web-2-b' }] }), T0 + 4_000],
      ],
      {
        state: 'failed',
        reason: 'ContainerRestarted',
        message: 'pod web-2-a container app: ContainerRestarted, restarted 1 time, exit code 1 (Error)',
        pod: 'web-2-a',
        container: 'app',
      },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: pod web-2-a container app: ContainerRestarted, restarted 1 time, exit code 1 (Error)',
      ],
    ],
    [
      'a restart within allowed-restarts: baked, the restart counted',
      { failFast: true, allowedRestarts: 1 },
      [
        [seen(), T0],
        [seen({ pods: [{ name: 'web-2-a', restarts: 1 }, { name: 'web-2-b' }] }), T0 + 4_000],
        [tick, T0 + 10_000],
      ],
      { state: 'done', message: ended },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: baked 10s: 1 restarts, all ready',
      ],
    ],
    [
      'restarts from before the watch began do not count against the budget',
      strict,
      [
        [seen({ pods: [{ name: 'web-2-a', restarts: 2 }, { name: 'web-2-b' }] }), T0],
        [tick, T0 + 10_000],
      ],
      { state: 'done', message: ended },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: baked 10s: 2 restarts, all ready',
      ],
    ],
    [
      'without fail-fast the bake still watches the new pods',
      { failFast: false, allowedRestarts: 0 },
      [
        [seen(), T0],
        [seen({ pods: [{ name: 'web-2-a', restarts: 4, crashLooping: true }, { name: 'web-2-b' }] }), T0 + 4_000],
      ],
      {
        state: 'failed',
        reason: 'CrashLoopBackOff',
        message: 'pod web-2-a container app: CrashLoopBackOff, restarted 4 times, exit code 1 (Error), back-off 40s',
        pod: 'web-2-a',
        container: 'app',
      },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: pod web-2-a container app: CrashLoopBackOff, restarted 4 times, exit code 1 (Error), back-off 40s',
      ],
    ],
    [
      'a pod of the new release replaced: failed',
      strict,
      [
        [seen(), T0],
        [seen({ pods: [{ name: 'web-2-a', deleting: true }, { name: 'web-2-b' }] }), T0 + 4_000],
      ],
      {
        state: 'failed',
        reason: 'PodReplaced',
        message: 'pod web-2-a of the new release went away during the bake',
        pod: 'web-2-a',
      },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: pod web-2-a of the new release went away during the bake',
      ],
    ],
    [
      'a pod gone because the Deployment was scaled down: not a failure',
      strict,
      [
        [seen(), T0],
        [seen({ replicas: 1, pods: [{ name: 'web-2-b' }] }), T0 + 4_000],
        [tick, T0 + 10_000],
      ],
      { state: 'done', message: ended },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: baked 10s: no restarts, all ready',
      ],
    ],
    [
      'another deploy takes over during the bake: superseded',
      strict,
      [
        [seen(), T0],
        [seen({ image: 'reg/web:v3' }), T0 + 4_000],
      ],
      {
        state: 'superseded',
        image: 'app=reg/web:v3',
        message: 'another change took over during the rollout: now app=reg/web:v3',
      },
      [
        'ns/web: deployment "web" successfully rolled out',
        'ns/web: rolled out; baking 10s (bake: 0s to skip)',
        'ns/web: another change took over during the rollout: now app=reg/web:v3',
      ],
    ],
  ] as const)('%s', (_name, rules, steps, verdict, lines) => {
    const played = play(steps as unknown as [WaitEvent, number][], startWait(baking, rules));
    expect(played.verdict).toEqual(verdict);
    expect(played.lines).toEqual(lines);
    expect(played.state.rolledOutAt).toBe(T0);
  });

  it('times a bake from when the rollout was done, and keeps both times', () => {
    const played = play(
      [
        [seen({ updated: 1, old: 1 }), T0],
        [seen(), T0 + 3_000],
        [tick, T0 + 12_999],
        [tick, T0 + 13_000],
      ],
      startWait(baking, strict),
    );
    expect(played.state).toMatchObject({ phase: 'decided', rolledOutAt: T0 + 3_000, finishedAt: T0 + 13_000 });
  });
});

describe('advance: what the wait itself decides (deadline, cancel, watch)', () => {
  const timeout = (last: string) =>
    `ns/web did not finish rolling out within "timeout" (last: ${last}); raise "timeout" if it needs longer`;

  it.each([
    [
      'the deadline while rolling out: Timeout, with the last line logged',
      [[seen({ updated: 1, old: 1 }), T0]],
      { kind: 'deadline' },
      { state: 'failed', reason: 'Timeout', message: timeout('1/2 updated, 1 available, 1 old') },
    ],
    [
      'the deadline before the watch showed anything',
      [],
      { kind: 'deadline' },
      { state: 'failed', reason: 'Timeout', message: timeout('no status') },
    ],
    ['the deadline during a bake: the bake runs to its end', [[seen(), T0]], { kind: 'deadline' }, undefined],
    [
      'cancelled during a bake',
      [[seen(), T0]],
      { kind: 'cancelled' },
      { state: 'failed', reason: 'Cancelled', message: 'the step was cancelled' },
    ],
    [
      'the watch failed for good',
      [[seen({ updated: 1, old: 1 }), T0]],
      { kind: 'watch-failed', message: 'pods is forbidden' },
      { state: 'failed', reason: 'WatchFailed', message: 'watching ns/web failed: pods is forbidden' },
    ],
  ] as const)('%s', (_name, before, event, verdict) => {
    const { state } = play(before as unknown as [WaitEvent, number][], startWait(item({ bakeMs: 10_000 }), strict));
    const step = advance(state, event, T0 + 60_000);
    expect(step.verdict).toEqual(verdict);
    expect(step.lines).toEqual([]);
    expect(step.state.phase).toBe(verdict === undefined ? 'baking' : 'decided');
    expect(step.state.finishedAt).toBe(verdict === undefined ? undefined : T0 + 60_000);
  });

  it('a decided target stays decided: later events only keep the last state seen, for evidence', () => {
    const done = advance(startWait(item(), strict), seen(), T0).state;
    const later = view({ pods: [{ name: 'web-2-a', restarts: 5, crashLooping: true }] });
    for (const event of [tick, { kind: 'deadline' }, { kind: 'cancelled' }] as const) {
      expect(advance(done, event, T0 + 60_000)).toEqual({ state: done, lines: [] });
    }
    const step = advance(done, { kind: 'seen', state: later }, T0 + 60_000);
    expect(step).toEqual({ state: { ...done, seen: later }, lines: [] });
  });
});
