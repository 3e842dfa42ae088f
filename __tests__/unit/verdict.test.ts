import type { V1ContainerStatus, V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  newReplicaSet,
  podFailure,
  progressLine,
  readinessGraceMs,
  replicaFailure,
  rolloutStatus,
  type PodCheck,
} from '../../src/deploy/verdict.js';

function deployment(generation: number, specReplicas: number, status: V1Deployment['status']): V1Deployment {
  return {
    metadata: { name: 'foo', generation },
    spec: { replicas: specReplicas, selector: {}, template: {} },
    status,
  };
}

// kubectl's own table: pkg/polymorphichelpers/rollout_status_test.go, TestDeploymentStatusViewerStatus.
describe('rolloutStatus: kubectl TestDeploymentStatusViewerStatus cases', () => {
  it.each([
    [
      0,
      1,
      { observedGeneration: 1, replicas: 1, updatedReplicas: 0, availableReplicas: 1, unavailableReplicas: 0 },
      'progressing',
      '0 out of 1 new replicas have been updated',
    ],
    [
      1,
      1,
      { observedGeneration: 1, replicas: 2, updatedReplicas: 1, availableReplicas: 2, unavailableReplicas: 0 },
      'progressing',
      '1 old replicas are pending termination',
    ],
    [
      1,
      2,
      { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 1, unavailableReplicas: 1 },
      'progressing',
      '1 of 2 updated replicas are available',
    ],
    [
      1,
      2,
      { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2, unavailableReplicas: 0 },
      'done',
      'deployment "foo" successfully rolled out',
    ],
    [
      2,
      2,
      { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2, unavailableReplicas: 0 },
      'progressing',
      'waiting for the deployment spec update to be observed',
    ],
  ] as const)('generation %d, %d wanted, %o -> %s', (generation, wanted, status, state, message) => {
    expect(rolloutStatus(deployment(generation, wanted, { ...status }))).toEqual({ state, message });
  });

  it('fails at ProgressDeadlineExceeded, once the generation is observed', () => {
    const conditions = [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }];
    expect(
      rolloutStatus(deployment(1, 1, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, conditions })),
    ).toEqual({
      state: 'failed',
      reason: 'ProgressDeadlineExceeded',
      message: 'deployment "foo" exceeded its progress deadline',
    });
    expect(rolloutStatus(deployment(2, 1, { observedGeneration: 1, conditions })).state).toBe('progressing');
  });
});

// kube-ship's own cases of replica counts: kubectl's rule is done only when every wanted replica is updated, no
// old one is left, and every updated one is available.
describe('rolloutStatus: replica counts', () => {
  it.each([
    [
      'observedGeneration behind',
      deployment(2, 1, {
        observedGeneration: 1,
        replicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        readyReplicas: 1,
      }),
      'progressing',
    ],
    [
      'fewer replicas than wanted',
      deployment(1, 4, {
        observedGeneration: 1,
        replicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        readyReplicas: 1,
      }),
      'progressing',
    ],
    [
      'more replicas than wanted',
      deployment(1, 1, {
        observedGeneration: 1,
        replicas: 2,
        updatedReplicas: 1,
        availableReplicas: 1,
        readyReplicas: 1,
      }),
      'progressing',
    ],
    [
      'fewer updated than wanted',
      deployment(1, 4, {
        observedGeneration: 1,
        replicas: 4,
        updatedReplicas: 1,
        availableReplicas: 4,
        readyReplicas: 4,
      }),
      'progressing',
    ],
    [
      'fewer available than updated',
      deployment(1, 4, {
        observedGeneration: 1,
        replicas: 4,
        updatedReplicas: 4,
        availableReplicas: 3,
        readyReplicas: 4,
      }),
      'progressing',
    ],
    [
      'current',
      deployment(1, 1, {
        observedGeneration: 1,
        replicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        readyReplicas: 1,
        conditions: [
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
          { type: 'Available', status: 'True' },
        ],
      }),
      'done',
    ],
  ] as const)('%s -> %s', (_name, d, state) => {
    expect(rolloutStatus(d).state).toBe(state);
  });
});

// kstatus's own table: cli-utils pkg/kstatus/status/status_compute_test.go, TestDeploymentStatus, each case's
// Deployment (metadata, spec and status as the case writes them: no replicas in the spec) and kstatus's expected
// status. kube-ship follows kubectl's rule (`kubectl rollout status`), which reads the replica counts and only the
// ProgressDeadlineExceeded reason of the Progressing condition; kstatus also reads a Progressing condition that is
// False for another reason, and an Available condition that is False. Where the two differ (depNotProgressing,
// depNotAvailable: every replica updated, ready and available) the row says `follows: 'kubectl'`, and kube-ship says
// done where kstatus says InProgress.
describe('rolloutStatus: kstatus TestDeploymentStatus cases', () => {
  const kstatusDeployment = (spec: object | undefined, status: V1Deployment['status']): V1Deployment => ({
    metadata: { name: 'test', namespace: 'qual', generation: 1 },
    ...(spec ? { spec: spec as V1Deployment['spec'] } : {}),
    ...(status ? { status } : {}),
  });
  const allReplicas = {
    observedGeneration: 1,
    updatedReplicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
    replicas: 1,
  };
  const at = new Date('2026-01-01T00:00:00Z');
  const KSTATUS = { InProgress: 'progressing', Current: 'done', Failed: 'failed' } as const;
  const cases: {
    name: string;
    deployment: V1Deployment;
    kstatus: keyof typeof KSTATUS;
    kubeShip: 'progressing' | 'done' | 'failed';
    follows?: 'kubectl';
  }[] = [
    {
      name: 'depNoStatus',
      deployment: kstatusDeployment(undefined, undefined),
      kstatus: 'InProgress',
      kubeShip: 'progressing',
    },
    {
      name: 'depOK',
      deployment: kstatusDeployment(undefined, {
        ...allReplicas,
        conditions: [
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
          { type: 'Available', status: 'True' },
        ],
      }),
      kstatus: 'Current',
      kubeShip: 'done',
    },
    {
      name: 'depNotProgressing',
      deployment: kstatusDeployment(
        { progressDeadlineSeconds: 45 },
        {
          ...allReplicas,
          conditions: [
            { type: 'Progressing', status: 'False', reason: 'Some reason' },
            { type: 'Available', status: 'True' },
          ],
        },
      ),
      kstatus: 'InProgress',
      kubeShip: 'done',
      follows: 'kubectl',
    },
    {
      name: 'depNoProgressDeadlineSeconds',
      deployment: kstatusDeployment(undefined, { ...allReplicas, conditions: [{ type: 'Available', status: 'True' }] }),
      kstatus: 'Current',
      kubeShip: 'done',
    },
    {
      name: 'depNotAvailable',
      deployment: kstatusDeployment(undefined, {
        ...allReplicas,
        conditions: [
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
          { type: 'Available', status: 'False' },
        ],
      }),
      kstatus: 'InProgress',
      kubeShip: 'done',
      follows: 'kubectl',
    },
    {
      name: 'depProgressDeadlineExceeded',
      deployment: kstatusDeployment(undefined, {
        ...allReplicas,
        conditions: [
          { type: 'Progressing', status: 'True', reason: 'ProgressDeadlineExceeded' },
          { type: 'Available', status: 'False' },
        ],
      }),
      kstatus: 'Failed',
      kubeShip: 'failed',
    },
    {
      name: 'depProgressDeadlineExceededWithLastTransitionTime',
      deployment: kstatusDeployment(undefined, {
        ...allReplicas,
        conditions: [
          { type: 'Progressing', status: 'True', reason: 'ProgressDeadlineExceeded', lastTransitionTime: at },
          { type: 'Available', status: 'False' },
        ],
      }),
      kstatus: 'Failed',
      kubeShip: 'failed',
    },
  ];

  it.each(cases)('$name: kstatus $kstatus, kube-ship $kubeShip', ({ deployment, kstatus, kubeShip, follows }) => {
    expect(rolloutStatus(deployment).state).toBe(kubeShip);
    // The table is honest: kube-ship and kstatus agree on every row but those that say kube-ship follows kubectl.
    expect(KSTATUS[kstatus] === kubeShip).toBe(follows === undefined);
  });
});

describe('progressLine', () => {
  it('says updated, available and old replicas', () => {
    expect(progressLine(deployment(1, 3, { replicas: 4, updatedReplicas: 2, availableReplicas: 1 }))).toBe(
      '2/3 updated, 1 available, 2 old',
    );
  });
});

function pod(name: string, statuses: NonNullable<V1Pod['status']>['containerStatuses']): V1Pod {
  return { metadata: { name }, status: { containerStatuses: statuses } };
}

const checkAt = (now: number, over: Partial<PodCheck> = {}): PodCheck => ({
  now,
  minReadySeconds: 0,
  allowedRestarts: 0,
  restartsBefore: () => 0,
  wasReady: () => false,
  ...over,
});

describe('podFailure', () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  it.each([
    'ErrImagePull',
    'ErrImageNeverPull',
    'RegistryUnavailable',
    'ImagePullBackOff',
    'InvalidImageName',
    'CreateContainerConfigError',
    'CreateContainerError',
  ])('fails at once on %s', (reason) => {
    const failure = podFailure(
      [
        pod('web-1', [
          {
            name: 'app',
            image: 'x',
            imageID: '',
            ready: false,
            restartCount: 2,
            state: { waiting: { reason, message: 'back-off 20s' } },
          },
        ]),
      ],
      [],
      checkAt(now),
    );
    expect(failure).toEqual({
      state: 'failed',
      reason,
      message: `pod web-1 container app: ${reason}: back-off 20s`,
      pod: 'web-1',
      container: 'app',
    });
  });

  it('ignores ContainerCreating and pods being deleted', () => {
    const creating = pod('web-1', [
      {
        name: 'app',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'ContainerCreating' } },
      },
    ]);
    const deleting = {
      ...pod('web-2', [
        {
          name: 'app',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 3,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
        },
      ]),
    };
    deleting.metadata = { name: 'web-2', deletionTimestamp: new Date() };
    expect(podFailure([creating, deleting], [], checkAt(now))).toBeUndefined();
  });

  const status = (over: Partial<V1ContainerStatus>): V1ContainerStatus => ({
    name: 'app',
    image: 'x',
    imageID: '',
    ready: false,
    restartCount: 0,
    ...over,
  });
  const ago = (seconds: number) => new Date(now - seconds * 1000);

  it('fails readiness before the first Ready only after the probes budget, at least 60 s', () => {
    const probe = { readinessProbe: { periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 1 } };
    const running = (seconds: number) => pod('web-1', [status({ state: { running: { startedAt: ago(seconds) } } })]);
    const containers = [{ name: 'app', ...probe }];
    expect(readinessGraceMs(containers[0], 0)).toBe(60_000);
    expect(
      readinessGraceMs({ name: 'app', ...probe, startupProbe: { periodSeconds: 10, failureThreshold: 6 } }, 0),
    ).toBe((61 + 31) * 1000);
    expect(readinessGraceMs(containers[0], 0, true)).toBe(31_000);
    expect(readinessGraceMs(undefined, 0, true)).toBe(30_000);
    // An app that warms up for 45 s is not failed.
    expect(podFailure([running(45)], containers, checkAt(now))).toBeUndefined();
    expect(podFailure([running(61)], containers, checkAt(now))).toMatchObject({
      reason: 'ReadinessTimeout',
      pod: 'web-1',
      container: 'app',
    });
    expect(podFailure([running(61)], containers, checkAt(now, { minReadySeconds: 20 }))).toBeUndefined();
  });

  it('counts readiness from the last readiness change, not from container start', () => {
    const flapped = (secondsSinceChange: number): V1Pod => ({
      metadata: { name: 'web-1' },
      status: {
        conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: ago(secondsSinceChange) }],
        containerStatuses: [status({ state: { running: { startedAt: ago(120) } } })],
      },
    });
    const wasReady = { wasReady: () => true };
    expect(podFailure([flapped(5)], [], checkAt(now, wasReady))).toBeUndefined();
    expect(podFailure([flapped(31)], [], checkAt(now, wasReady))).toMatchObject({
      reason: 'ReadinessTimeout',
      message: expect.stringContaining('lost readiness for 31s'),
    });
  });

  it('fails a crash loop past the restart budget, not within it', () => {
    const looping = (restarts: number) =>
      pod('web-1', [
        status({
          restartCount: restarts,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } },
          lastState: { terminated: { exitCode: 2, reason: 'Error' } },
        }),
      ]);
    expect(podFailure([looping(1)], [], checkAt(now))).toMatchObject({ reason: 'CrashLoopBackOff' });
    expect(podFailure([looping(2)], [], checkAt(now, { allowedRestarts: 2 }))).toBeUndefined();
    expect(podFailure([looping(3)], [], checkAt(now, { allowedRestarts: 2 }))).toMatchObject({
      reason: 'CrashLoopBackOff',
      message: expect.stringContaining('restarted 3 times (allowed-restarts: 2)'),
    });
  });

  it('fails restarts of a running container counted from when watching began', () => {
    const restarted = (restarts: number, exitCode: number, reason = 'Error') =>
      pod('web-1', [
        status({
          ready: true,
          restartCount: restarts,
          state: { running: { startedAt: ago(1) } },
          lastState: { terminated: { exitCode, reason } },
        }),
      ]);
    expect(podFailure([restarted(1, 1)], [], checkAt(now))).toMatchObject({ reason: 'ContainerRestarted' });
    expect(podFailure([restarted(1, 137, 'OOMKilled')], [], checkAt(now))).toMatchObject({ reason: 'OOMKilled' });
    expect(podFailure([restarted(1, 0, 'Completed')], [], checkAt(now))).toBeUndefined();
    expect(podFailure([restarted(5, 1)], [], checkAt(now, { restartsBefore: () => 5 }))).toBeUndefined();
    expect(podFailure([restarted(6, 1)], [], checkAt(now, { restartsBefore: () => 5 }))).toMatchObject({
      reason: 'ContainerRestarted',
    });
  });

  it('fails an init container that failed', () => {
    const init: V1Pod = {
      metadata: { name: 'web-1' },
      status: {
        initContainerStatuses: [
          status({ name: 'migrate', restartCount: 1, lastState: { terminated: { exitCode: 1, reason: 'Error' } } }),
        ],
      },
    };
    expect(podFailure([init], [], checkAt(now))).toMatchObject({ reason: 'InitContainerFailed', container: 'migrate' });
  });

  it('fails a pod the scheduler cannot place, after its window', () => {
    const pending = (seconds: number): V1Pod => ({
      metadata: { name: 'web-1' },
      status: {
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available: 3 Insufficient cpu.',
            lastTransitionTime: ago(seconds),
          },
        ],
      },
    });
    expect(podFailure([pending(10)], [], checkAt(now))).toBeUndefined();
    expect(podFailure([pending(30)], [], checkAt(now))).toBeUndefined();
    expect(podFailure([pending(32)], [], checkAt(now))).toMatchObject({
      reason: 'Unschedulable',
      message: 'pod web-1: not scheduled for 31s: 0/3 nodes are available: 3 Insufficient cpu.',
    });
  });
});

describe('replicaFailure', () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  const condition = (seconds: number) => ({
    type: 'ReplicaFailure',
    status: 'True',
    reason: 'FailedCreate',
    message: 'pods "web-2" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=3, limited: pods=3',
    lastTransitionTime: new Date(now - seconds * 1000),
  });
  const rs = (seconds: number): V1ReplicaSet => ({
    metadata: { name: 'web-2' },
    status: { replicas: 0, conditions: [condition(seconds)] },
  });
  it('fails once the new ReplicaSet could not create pods past the window, with the admission message', () => {
    expect(replicaFailure(rs(5), [], now)).toBeUndefined();
    expect(replicaFailure(rs(10), [], now)).toBeUndefined(); // whole-second timestamps: never early
    expect(replicaFailure(rs(11), [], now)).toEqual({
      state: 'failed',
      reason: 'FailedCreate',
      message: `web-2: FailedCreate: ${condition(0).message}`,
    });
  });
  it('waits while a pod is terminating (its end may free the quota)', () => {
    const terminating: V1Pod = { metadata: { name: 'web-1-a', deletionTimestamp: new Date() } };
    expect(replicaFailure(rs(11), [terminating], now)).toBeUndefined();
  });
  it("ignores the Deployment's copy of the condition: a restored ReplicaSet without one is not failing", () => {
    const restored: V1ReplicaSet = { metadata: { name: 'web-1' }, status: { replicas: 2, conditions: [] } };
    expect(replicaFailure(restored, [], now)).toBeUndefined();
  });
});

describe('rolloutStatus and a stale ProgressDeadlineExceeded', () => {
  const withDeadline = (at: string): V1Deployment => ({
    metadata: { name: 'web', generation: 2 },
    spec: { replicas: 1, selector: {}, template: {} },
    status: {
      observedGeneration: 2,
      replicas: 1,
      updatedReplicas: 0,
      conditions: [
        { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', lastUpdateTime: new Date(at) },
      ],
    },
  });
  it('ignores one last updated at or before the patch, and fails on a newer one', () => {
    expect(rolloutStatus(withDeadline('2026-01-01T00:00:00Z'), '2026-01-01T00:00:00.000Z').state).toBe('progressing');
    expect(rolloutStatus(withDeadline('2026-01-01T00:05:00Z'), '2026-01-01T00:00:00.000Z').state).toBe('failed');
    expect(rolloutStatus(withDeadline('2026-01-01T00:00:00Z')).state).toBe('failed');
  });
});

describe('newReplicaSet', () => {
  const d: V1Deployment = {
    metadata: { name: 'web', uid: 'd1', generation: 2, annotations: { 'deployment.kubernetes.io/revision': '3' } },
    status: { observedGeneration: 2 },
  };
  const rs = (name: string, revision: string, uid = 'd1') => ({
    metadata: {
      name,
      uid: name,
      annotations: { 'deployment.kubernetes.io/revision': revision },
      ownerReferences: [{ uid, controller: true, apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
    },
  });
  it('is the owned ReplicaSet of the current revision', () => {
    expect(newReplicaSet(d, [rs('old', '2'), rs('other', '3', 'x'), rs('new', '3')])?.metadata?.name).toBe('new');
  });
  it('is unknown while the generation is not observed yet', () => {
    expect(newReplicaSet({ ...d, status: { observedGeneration: 1 } }, [rs('new', '3')])).toBeUndefined();
  });
});
