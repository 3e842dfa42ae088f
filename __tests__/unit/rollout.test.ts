import { describe, expect, it } from 'vitest';
import { deploy, type DeployRequest } from '../../src/rollout.js';
import { KubeError } from '../../src/kube.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const digest = 'sha256:' + 'a'.repeat(64);
function request(over: Partial<DeployRequest> = {}): DeployRequest {
  return {
    targets: [{ namespace: 'ns', name: 'web', containers: [] }],
    image: 'reg/web',
    reference: `reg/web:v2@${digest}`,
    digest,
    changeCause: 'test',
    timeoutMs: 5000,
    rollback: true,
    failFast: true,
    signal: new AbortController().signal,
    ...over,
  };
}

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
    expect(kube.deployments.get('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:v2@${digest}`);
    expect(log.lines).toContain('[Deploy]');
    expect(log.lines).toContain('ns/web: deployment "web" successfully rolled out');
  });

  it('rolls a crash-looping deploy back to exactly the recorded template, with evidence', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.addDeployment('api', 'reg/web:v1');
    const before = structuredClone(kube.deployments.get('web')?.spec?.template);
    const crashing = request({
      reference: `reg/web:crash@${digest}`,
      targets: [
        { namespace: 'ns', name: 'web', containers: [] },
        { namespace: 'ns', name: 'api', containers: [] },
      ],
    });
    const result = await deploy(kube, crashing, recordingLog());
    expect(result.result).toBe('rolled-back');
    expect(result.failureReason).toMatch(/CrashLoopBackOff/);
    expect(kube.deployments.get('web')?.spec?.template).toEqual(before);
    expect(kube.deployments.get('api')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v1');
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
    expect(kube.deployments.get('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:crash@${digest}`);
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
    const before = structuredClone(kube.deployments.get('web')?.spec?.template);
    kube.observeError = new KubeError(403, 'watch /apis/apps/v1/namespaces/ns/pods: pods is forbidden');
    const result = await deploy(kube, request(), recordingLog());
    expect(result.result).toBe('rolled-back');
    expect(result.failureReason).toBe(
      'ns/web: WatchFailed: watching namespace ns failed: watch /apis/apps/v1/namespaces/ns/pods: pods is forbidden',
    );
    expect(kube.deployments.get('web')?.spec?.template).toEqual(before);
  });
});
