/**
 * A Job run to its end: the verdict of its state (pure), and the run on the fake cluster (created, watched, its
 * failed pod's log kept, deleted when asked, a leftover of the same name replaced first).
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { JobState, KubeObject } from '../../src/cluster/kube.js';
import { jobVerdict, runJob } from '../../src/deploy/job-run.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const job = (conditions: { type: string; status: string; reason?: string; message?: string }[] = []): V1Job => ({
  metadata: { name: 'migrate', namespace: 'ns', uid: 'u1' },
  spec: { template: { spec: { containers: [{ name: 'migrate', image: 'reg/app@sha256:1' }] } } },
  status: { conditions, active: 1 },
});

const failedPod = (name: string, at: string): V1Pod => ({
  metadata: { name, creationTimestamp: new Date(at) },
  status: {
    phase: 'Failed',
    containerStatuses: [
      {
        name: 'migrate',
        image: 'reg/app@sha256:1',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { terminated: { exitCode: 1, reason: 'Error', message: 'relation already exists' } },
      },
    ],
  },
});

const pullingPod: V1Pod = {
  metadata: { name: 'migrate-p' },
  status: {
    phase: 'Pending',
    containerStatuses: [
      {
        name: 'migrate',
        image: 'reg/app@sha256:1',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'ImagePullBackOff', message: 'not found' } },
      },
    ],
  },
};

const state = (j: V1Job | undefined, pods: V1Pod[] = []): JobState => ({
  ...(j ? { job: j } : {}),
  pods: new Map(pods.map((p) => [p.metadata?.name ?? '', p])),
});

describe('jobVerdict', () => {
  it.each([
    ['running', state(job()), 'progressing', ''],
    ['complete', state(job([{ type: 'Complete', status: 'True' }])), 'done', ''],
    [
      'the Failed condition',
      state(job([{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'reached the limit' }]), [
        failedPod('migrate-a', '2026-01-01T00:00:00Z'),
      ]),
      'failed',
      'BackoffLimitExceeded: reached the limit; pod migrate-a: exit code 1 (Error): relation already exists',
    ],
    [
      'a failed run past allowed-restarts (0), before the Job gives up',
      state(job(), [failedPod('migrate-a', '2026-01-01T00:00:00Z')]),
      'failed',
      '1 run failed: pod migrate-a: exit code 1 (Error): relation already exists',
    ],
    ['an image that cannot be pulled', state(job(), [pullingPod]), 'failed', 'ImagePullBackOff'],
    ['the Job deleted', state(undefined), 'failed', 'deleted'],
  ])('%s', (_name, s, verdict, message) => {
    const v = jobVerdict(s, 0, Date.now());
    expect(v.state).toBe(verdict);
    expect(v.message).toContain(message);
  });

  it('allowed-restarts lets failed runs be retried', () => {
    expect(jobVerdict(state(job(), [failedPod('a', '2026-01-01T00:00:00Z')]), 1, Date.now()).state).toBe('progressing');
  });
});

const manifest = (): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'migrate', namespace: 'ns' },
  spec: { template: { spec: { containers: [{ name: 'migrate', image: 'reg/app@sha256:1' }] } } },
});

const options = (over: Partial<Parameters<typeof runJob>[2]> = {}) => ({
  allowedRestarts: 0,
  timeoutMs: 5000,
  signal: new AbortController().signal,
  deleteAfter: false,
  ...over,
});

describe('runJob', () => {
  it('creates the Job, watches it by its uid to Complete, and keeps it', async () => {
    const kube = new FakeKube();
    kube.jobStates = () => [state(job()), state(job([{ type: 'Complete', status: 'True' }]))];
    const result = await runJob(kube, manifest(), options(), recordingLog());
    expect(result).toMatchObject({ key: 'ns/migrate', outcome: 'complete' });
    expect(kube.observedJobs).toEqual([{ namespace: 'ns', name: 'migrate', uid: 'uid-Job ns/migrate' }]);
    expect(kube.deleted).toEqual([]);
  });

  it('a failed run: the pod, its exit and its last log lines; deleted when asked', async () => {
    const kube = new FakeKube();
    kube.jobStates = () => [state(job(), [failedPod('migrate-a', '2026-01-01T00:00:00Z')])];
    const result = await runJob(kube, manifest(), options({ deleteAfter: true }), recordingLog());
    expect(result).toMatchObject({ outcome: 'failed', pod: 'migrate-a', logs: expect.stringContaining('panic') });
    expect(kube.logRequests[0]).toMatchObject({ pod: 'migrate-a', container: 'migrate', previous: false });
    expect(kube.deleted).toEqual(['Job ns/migrate']);
  });

  it('replaces a Job of the same name an earlier run left', async () => {
    const kube = new FakeKube();
    await kube.applyObject(
      { ...manifest(), metadata: { ...manifest().metadata, labels: { old: 'yes' } } },
      {
        dryRun: false,
        force: true,
      },
    );
    kube.jobStates = () => [state(job([{ type: 'Complete', status: 'True' }]))];
    const log = recordingLog();
    const result = await runJob(kube, manifest(), options(), log);
    expect(result.outcome).toBe('complete');
    expect(kube.deleted).toEqual(['Job ns/migrate']);
    expect(
      (await kube.getObject({ apiVersion: 'batch/v1', kind: 'Job', namespace: 'ns', name: 'migrate' }))?.metadata
        .labels,
    ).toBeUndefined();
    expect(log.lines.join('\n')).toContain('replacing the Job of the same name');
  });

  it('cancelled while it runs: deleted, and said so', async () => {
    const kube = new FakeKube();
    kube.jobStates = () => [state(job())];
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 20);
    const result = await runJob(kube, manifest(), options({ signal: cancel.signal }), recordingLog());
    expect(result.outcome).toBe('cancelled');
    expect(kube.deleted).toEqual(['Job ns/migrate']);
  });

  it('bounded by its timeout', async () => {
    const kube = new FakeKube();
    kube.jobStates = () => [state(job())];
    const result = await runJob(kube, manifest(), options({ timeoutMs: 30, deleteAfter: false }), recordingLog());
    expect(result).toMatchObject({ outcome: 'timeout', message: 'not finished within 0s' });
  });
});
