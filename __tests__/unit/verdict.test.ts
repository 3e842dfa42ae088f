import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { newReplicaSet, podFailure, progressLine, readinessGraceMs, rolloutStatus } from '../../src/verdict.js';

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

// kstatus (cli-utils status_compute_test.go TestDeploymentStatus): where it says InProgress, kubectl's rule
// must not say done.
describe('rolloutStatus: kstatus TestDeploymentStatus cases', () => {
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

describe('podFailure', () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  it.each([
    'CrashLoopBackOff',
    'ErrImagePull',
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
      0,
      now,
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
    expect(podFailure([creating, deleting], [], 0, now)).toBeUndefined();
  });

  it('fails readiness only after the grace window from the probe', () => {
    const probe = { readinessProbe: { periodSeconds: 2, failureThreshold: 3, timeoutSeconds: 1 } };
    const running = (seconds: number) =>
      pod('web-1', [
        {
          name: 'app',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { running: { startedAt: new Date(now - seconds * 1000) } },
        },
      ]);
    const containers = [{ name: 'app', ...probe }];
    expect(readinessGraceMs(containers[0], 0)).toBe(10_000);
    expect(readinessGraceMs(containers[0], 20)).toBe(27_000);
    expect(readinessGraceMs(undefined, 0)).toBe(30_000);
    expect(podFailure([running(9)], containers, 0, now)).toBeUndefined();
    expect(podFailure([running(11)], containers, 0, now)).toMatchObject({
      reason: 'ReadinessTimeout',
      pod: 'web-1',
      container: 'app',
    });
    expect(podFailure([running(11)], containers, 20, now)).toBeUndefined();
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
