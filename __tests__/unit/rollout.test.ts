import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rollBack } from '../../src/deploy/restore.js';
import { deploy as deployNow, type DeployRequest } from '../../src/deploy/rollout.js';
import type { TargetRecord } from '../../src/deploy/target-record.js';
import { KubeError } from '../../src/cluster/kube.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';
import { onFakeTime } from '../fakes/fake-time.js';

const digest = 'sha256:' + 'a'.repeat(64);
function request(over: Partial<DeployRequest> = {}): DeployRequest {
  return {
    targets: [{ kind: 'deployment', namespace: 'ns', name: 'web', containers: [], input: 'deployments' }],
    image: 'reg/web',
    reference: `reg/web:v2@${digest}`,
    digest,
    changeCause: 'test',
    timeoutMs: 5000,
    rollback: true,
    rollbackTimeoutMs: 5000,
    failFast: true,
    allowedRestarts: 0,
    bakeMs: 0,
    signal: new AbortController().signal,
    ...over,
  };
}

/** Deploys on fake time (see `onFakeTime`). */
const deploy = (...args: Parameters<typeof deployNow>): ReturnType<typeof deployNow> => onFakeTime(deployNow(...args));

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('deploy', () => {
  it('patches, waits and reports success with the revisions', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const log = recordingLog();
    const result = await deploy(kube, request(), log);
    expect(result).toMatchObject({ result: 'success', failureReason: '', evidence: [] });
    expect(result.targets[0]).toMatchObject({
      key: 'ns/web',
      outcome: 'success',
      revisionBefore: '1',
      revisionAfter: '2',
      imagesBefore: { app: 'reg/web:v1' },
    });
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:v2@${digest}`);
    expect(log.lines).toContain('[Deploy]');
    expect(log.lines).toContain('ns/web: deployment "web" successfully rolled out');
  });

  it('rolls a crash-looping deploy back to exactly the recorded template, with evidence', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.addDeployment('api', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    const crashing = request({
      reference: `reg/web:crash@${digest}`,
      targets: [
        { kind: 'deployment', namespace: 'ns', name: 'web', containers: [], input: 'deployments' },
        { kind: 'deployment', namespace: 'ns', name: 'api', containers: [], input: 'deployments' },
      ],
    });
    const result = await deploy(kube, crashing, recordingLog());
    expect(result.result).toBe('rolled-back');
    expect(result.failureReason).toMatch(/CrashLoopBackOff/);
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
    expect(kube.deployment('api')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v1');
    expect(result.targets.map((t) => t.outcome)).toEqual(['rolled-back', 'rolled-back']);
    expect(result.evidence[0]).toMatchObject({
      reason: 'CrashLoopBackOff',
      container: 'app',
      lastTermination: { exitCode: 1, reason: 'Error', message: 'boom' },
      logs: ['starting', 'panic: cannot connect to database'],
    });
    expect(result.evidence[0]?.events).toEqual([
      { type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container', count: 4 },
    ]);
  });

  it('leaves a failed deploy in place when rollback is off', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const result = await deploy(
      kube,
      request({ reference: `reg/web:crash@${digest}`, rollback: false }),
      recordingLog(),
    );
    expect(result.result).toBe('failed');
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:crash@${digest}`);
  });

  it('is a no-op when the digest already runs, without patching', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', `reg/web:v2@${digest}`);
    const result = await deploy(kube, request(), recordingLog());
    expect(result.result).toBe('no-op');
    expect(kube.patches).toHaveLength(0);
  });

  it('re-reads and patches again after a 409 Conflict', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.conflicts = 1;
    const log = recordingLog();
    const result = await deploy(kube, request(), log);
    expect(result.result).toBe('success');
    expect(kube.patches).toHaveLength(1);
    expect(log.lines).toContain('ns/web changed while being patched (409 Conflict); reading it again');
  });

  it("takes preflight's read as the patch's first, and reads again when the target changed since (409)", async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const read = new Map([['ns/web', structuredClone(kube.deployment('web')!)]]);
    const reads = vi.spyOn(kube, 'getWorkload');
    const unchanged = await deploy(kube, request({ read }), recordingLog());
    expect(unchanged.result).toBe('success');
    expect(reads).not.toHaveBeenCalled();

    const other = new FakeKube();
    other.addDeployment('web', 'reg/web:v1');
    const stale = new Map([['ns/web', structuredClone(other.deployment('web')!)]]);
    other.edit('ns', 'web', (d) => (d.metadata!.labels = { team: 'theirs' }));
    const log = recordingLog();
    const changed = await deploy(other, request({ read: stale }), log);
    expect(changed.result).toBe('success');
    expect(log.lines).toContain('ns/web changed while being patched (409 Conflict); reading it again');
    expect(other.deployment('web')?.metadata?.labels).toEqual({ team: 'theirs' });
  });

  it('times out under one deadline and rolls back', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const result = await deploy(
      kube,
      request({ reference: `reg/web:crash@${digest}`, failFast: false, timeoutMs: 300 }),
      recordingLog(),
    );
    expect(result.result).toBe('rolled-back');
    expect(result.failureReason).toMatch(/^ns\/web: Timeout: /);
  });

  it('treats a watch that fails for good as a failed rollout, and still rolls back', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    kube.observeError = new KubeError(403, 'watch /apis/apps/v1/namespaces/ns/pods: pods is forbidden');
    const result = await deploy(kube, request(), recordingLog());
    expect(result.result).toBe('rolled-back');
    expect(result.failureReason).toBe(
      'ns/web: WatchFailed: watching ns/web failed: watch /apis/apps/v1/namespaces/ns/pods: pods is forbidden',
    );
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
  });

  it('waits only for the patched generation: a stale view of the old Deployment is not success', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.staleFirst = true;
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), recordingLog());
    expect(result.result).toBe('rolled-back');
  });

  it('watches each target by its own namespace, name and selector', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1', 2, 'shop');
    kube.addDeployment('web', 'reg/web:v1', 2, 'other');
    const result = await deploy(
      kube,
      request({
        targets: [{ kind: 'deployment', namespace: 'shop', name: 'web', containers: [], input: 'deployments' }],
      }),
      recordingLog(),
    );
    expect(result.result).toBe('success');
    expect(kube.deployment('web', 'shop')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:v2@${digest}`);
    expect(kube.deployment('web', 'other')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v1');
    expect(kube.observed).toEqual([{ kind: 'deployment', namespace: 'shop', name: 'web', selector: 'app=web' }]);
  });

  it('re-reads and restores again after a 409 Conflict during the rollback', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    kube.restoreConflicts = 1;
    const log = recordingLog();
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), log);
    expect(result.result).toBe('rolled-back');
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
    expect(log.lines).toContain('ns/web changed while being restored (409 Conflict); reading it again');
  });

  it('marks only the target whose restore failed as rollback-failed', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.addDeployment('api', 'reg/web:v1');
    kube.restoreErrors.set('api', new KubeError(403, 'patch deployment ns/api: forbidden'));
    const result = await deploy(
      kube,
      request({
        reference: `reg/web:crash@${digest}`,
        targets: [
          { kind: 'deployment', namespace: 'ns', name: 'web', containers: [], input: 'deployments' },
          { kind: 'deployment', namespace: 'ns', name: 'api', containers: [], input: 'deployments' },
        ],
      }),
      recordingLog(),
    );
    expect(result.result).toBe('failed');
    expect(result.targets.map((t) => t.outcome)).toEqual(['rolled-back', 'rollback-failed']);
    expect(result.rollbackError).toBe(
      "ns/api: patch deployment ns/api: forbidden; it still runs this deploy's image; restore it by hand: kubectl -n ns rollout undo deployment/api --to-revision=1",
    );
  });

  it("keeps a teammate's change made during a failing rollout and reverts only our image", async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.afterPatch = (namespace, name) =>
      kube.edit(namespace, name, (d) => {
        d.spec!.template.spec!.containers[0]!.env = [{ name: 'FEATURE', value: 'on' }];
      });
    const log = recordingLog();
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), log);
    expect(result.result).toBe('rolled-back');
    const container = kube.deployment('web')?.spec?.template.spec?.containers[0];
    expect(container).toEqual({ name: 'app', image: 'reg/web:v1', env: [{ name: 'FEATURE', value: 'on' }] });
    expect(result.targets[0]?.restoreNote).toMatch(/reverted only our images and kept their change/);
    expect(log.lines.join('\n')).toMatch(/kept their change/);
  });

  it('a target restore writes only the pod template: a scale and a label made during the rollout stay', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    kube.afterPatch = (namespace, name) =>
      kube.edit(namespace, name, (d) => {
        d.spec!.replicas = 5;
        d.metadata!.labels = { team: 'pay' };
      });
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), recordingLog());
    expect(result.result).toBe('rolled-back');
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
    expect(kube.deployment('web')?.spec?.replicas).toBe(5);
    expect(kube.deployment('web')?.metadata?.labels).toEqual({ team: 'pay' });
  });

  it('touches nothing when the Deployment was deleted and created again during the rollout', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.afterPatch = (namespace, name) => kube.edit(namespace, name, (d) => (d.metadata!.uid = 'uid-new'));
    const result = await deploy(
      kube,
      request({ reference: `reg/web:crash@${digest}`, timeoutMs: 300 }),
      recordingLog(),
    );
    expect(result.result).toBe('failed');
    expect(result.targets[0]?.outcome).toBe('not-restored');
    expect(result.rollbackError).toMatch(/deleted and created again/);
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:crash@${digest}`);
  });

  it('a whole-template rollback keeps a change-cause someone else wrote during the rollout', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    kube.afterPatch = (namespace, name) =>
      kube.edit(namespace, name, (d) => (d.metadata!.annotations!['kubernetes.io/change-cause'] = 'hotfix by hand'));
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), recordingLog());
    expect(result.result).toBe('rolled-back');
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
    expect(kube.deployment('web')?.metadata?.annotations?.['kubernetes.io/change-cause']).toBe('hotfix by hand');
  });

  it('rolls back the failed target but not a superseded one, and the result stays rolled-back', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.addDeployment('api', 'reg/web:v1');
    kube.afterPatch = (namespace, name) => {
      if (name === 'api')
        kube.edit(namespace, name, (d) => (d.spec!.template.spec!.containers[0]!.image = 'reg/web:v3'));
    };
    const result = await deploy(
      kube,
      request({
        reference: `reg/web:crash@${digest}`,
        failFast: false,
        timeoutMs: 300,
        targets: [
          { kind: 'deployment', namespace: 'ns', name: 'web', containers: [], input: 'deployments' },
          { kind: 'deployment', namespace: 'ns', name: 'api', containers: [], input: 'deployments' },
        ],
      }),
      recordingLog(),
    );
    expect(result.result).toBe('rolled-back');
    expect(result.rollbackError).toBeUndefined();
    expect(result.targets.map((t) => [t.key, t.outcome])).toEqual([
      ['ns/web', 'rolled-back'],
      ['ns/api', 'superseded'],
    ]);
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v1');
    expect(kube.deployment('api')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v3');
  });

  it('the first failure, in the order of the targets, is the reason', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.addDeployment('api', 'reg/web:v1');
    const result = await deploy(
      kube,
      request({
        reference: `reg/web:crash@${digest}`,
        failFast: false,
        timeoutMs: 300,
        targets: [
          { kind: 'deployment', namespace: 'ns', name: 'web', containers: [], input: 'deployments' },
          { kind: 'deployment', namespace: 'ns', name: 'api', containers: [], input: 'deployments' },
        ],
      }),
      recordingLog(),
    );
    expect(result.targets.map((t) => t.message)).toEqual([
      expect.stringMatching(/^Timeout: ns\/web did not finish/),
      expect.stringMatching(/^Timeout: ns\/api did not finish/),
    ]);
    expect(result.failureReason).toMatch(/^ns\/web: Timeout: /);
  });

  it('stops waiting and rolls nothing back when another deploy takes over: superseded', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.afterPatch = (namespace, name) =>
      kube.edit(namespace, name, (d) => (d.spec!.template.spec!.containers[0]!.image = 'reg/web:v3'));
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), recordingLog());
    expect(result.result).toBe('superseded');
    expect(result.failureReason).toContain('app=reg/web:v3');
    expect(kube.patches).toHaveLength(1);
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v3');
  });

  it('a no-op on a digest that is crash-looping is a failure with evidence, and changes nothing', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', `reg/web:crash@${digest}`);
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), recordingLog());
    expect(result.result).toBe('failed');
    expect(result.failureReason).toMatch(/CrashLoopBackOff/);
    expect(result.evidence).toHaveLength(1);
    expect(kube.patches).toHaveLength(0);
  });

  it('bakes: pods that crash after the rollout is done fail the deploy and are rolled back', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    const log = recordingLog();
    const result = await deploy(kube, request({ reference: `reg/web:late@${digest}`, bakeMs: 2000 }), log);
    expect(result.result).toBe('rolled-back');
    expect(result.failureReason).toMatch(/CrashLoopBackOff/);
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
    expect(log.lines).toContain('ns/web: rolled out; baking 2s (bake: 0s to skip)');
  });

  it('without a bake, the same late crash is reported as deployed (what kubectl rollout status says)', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const result = await deploy(kube, request({ reference: `reg/web:late@${digest}`, bakeMs: 0 }), recordingLog());
    expect(result.result).toBe('success');
  });

  it('a restart budget lets a crash loop within allowed-restarts pass', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const result = await deploy(
      kube,
      request({ reference: `reg/web:crash@${digest}`, allowedRestarts: 3, timeoutMs: 400 }),
      recordingLog(),
    );
    expect(result.failureReason).toMatch(/Timeout/);
  });

  it('honours a cancel during the rollback wait: restored, not waited for', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const cancel = new AbortController();
    const log = { ...recordingLog(), info: (m: string) => (m.startsWith('Rolling back') ? cancel.abort() : undefined) };
    const result = await deploy(
      kube,
      request({ reference: `reg/web:crash@${digest}`, signal: cancel.signal, rollbackTimeoutMs: 60_000 }),
      log,
    );
    expect(result.result).toBe('cancelled');
    expect(result.targets[0]?.message).toBe('restored (not waited for: cancelled)');
  });

  it('reads logs bounded in bytes', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), recordingLog());
    expect(kube.logRequests[0]).toMatchObject({ previous: true, tailLines: 50, limitBytes: 65536 });
  });

  it('rides out an API server that does not answer for a moment while patching and restoring', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    kube.getFailures = 2;
    const log = recordingLog();
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), log);
    expect(result.result).toBe('rolled-back');
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
    expect(log.lines.filter((l) => l.includes('ECONNREFUSED); trying again'))).toHaveLength(2);
  });

  it('a patch whose answer was lost but which landed keeps the record read before it, so the rollback is exact', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const before = structuredClone(kube.deployment('web')?.spec?.template);
    kube.loseNextPatchAnswer = true;
    const result = await deploy(kube, request({ reference: `reg/web:crash@${digest}` }), recordingLog());
    expect(result.result).toBe('rolled-back');
    expect(kube.patches.filter((p) => p.ops.some((op) => op.path.endsWith('/image')))).toHaveLength(1);
    expect(result.targets[0]?.imagesBefore).toEqual({ app: 'reg/web:v1' });
    expect(kube.deployment('web')?.spec?.template).toEqual(before);
  });

  it('a cancelled deploy says cancelled, after restoring what it patched', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const cancel = new AbortController();
    const log = { ...recordingLog(), info: (m: string) => (m.includes(' -> ') ? cancel.abort() : undefined) };
    const result = await deploy(kube, request({ reference: `reg/web:v2@${digest}`, signal: cancel.signal }), log);
    expect(result.result).toBe('cancelled');
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v1');
  });
});

describe('rollBack of a StatefulSet', () => {
  const template = { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'reg/db:v1' }] } };
  /** A StatefulSet back on its recorded template (revision db-good), with a pod of a failed revision not Ready. */
  function withStuckPod(): FakeKube {
    const kube = new FakeKube();
    kube.statefulSets.set('ns/db', {
      metadata: { name: 'db', namespace: 'ns', uid: 'uid-db', generation: 3, resourceVersion: '7' },
      spec: { selector: { matchLabels: { app: 'db' } }, serviceName: 'db', template },
      status: { observedGeneration: 3, replicas: 1, updateRevision: 'db-good' },
    });
    kube.pods.set('ns/db-0', {
      metadata: {
        name: 'db-0',
        namespace: 'ns',
        uid: 'uid-db-0',
        labels: { app: 'db', 'controller-revision-hash': 'db-bad' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'uid-db', controller: true }],
      },
      status: { conditions: [{ type: 'Ready', status: 'False' }] },
    });
    return kube;
  }
  const record = (applied?: TargetRecord['applied']): TargetRecord => ({
    key: 'ns/statefulset/db',
    kind: 'statefulset',
    namespace: 'ns',
    name: 'db',
    uid: 'uid-db',
    resourceVersion: '5',
    selector: 'app=db',
    containers: [{ kind: 'containers', index: 0, name: 'db', image: 'reg/db:v1' }],
    template,
    changeCause: undefined,
    revision: 'db-good',
    replicas: 1,
    ...(applied ? { applied } : {}),
  });
  const patched = { template, reference: 'reg/db:v2', changeCause: 'ours' };

  it("deletes the failed revision's pod that is not Ready of a StatefulSet it patched, and waits for it", async () => {
    const kube = withStuckPod();
    const restored = await rollBack(kube, [record(patched)], recordingLog(), 1000);
    expect(kube.deletedPods).toEqual(['ns/db-0']);
    expect(restored.items.map((i) => i.key)).toEqual(['ns/statefulset/db']);
  });

  it('touches no pod of a StatefulSet whose record was never patched', async () => {
    const kube = withStuckPod();
    const restored = await rollBack(kube, [record()], recordingLog(), 1000);
    expect(kube.deletedPods).toEqual([]);
    expect(restored).toEqual({
      items: [],
      notes: [{ key: 'ns/statefulset/db', note: 'already on the recorded template', left: false }],
      errors: [],
    });
  });
});
