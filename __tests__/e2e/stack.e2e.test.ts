/**
 * The test bed is real: scripts/stack/smoke.sh builds and pushes through the real engine and registries, rolls a
 * Deployment through the real controller, crash-loops it into ProgressDeadlineExceeded, undoes it, and checks the
 * least-privilege kubeconfig against real RBAC. Each check prints one "ok" line; all of them must be there. And the
 * KWOK fault stages keyed on the pod annotation kube-ship.dev/fault instead of the image.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NAMESPACE, REGISTRY, ROOT, createDeployment, env, kubectl, kubectlJson } from './harness.js';

it('the local stack passes its smoke test', () => {
  const result = spawnSync('bash', [join(ROOT, 'scripts/stack/smoke.sh')], { env, encoding: 'utf8', timeout: 180_000 });
  const output = `${result.stdout}\n${result.stderr}`;
  expect(result.status, output).toBe(0);
  for (const check of [
    /ok .* multi-stage BuildKit build from .* \(no pull\)/,
    /ok .* Docker-Content-Digest sha256:[0-9a-f]{64} equals the pushed digest/,
    /ok .* auth registry: 401 without login, push after login, same digest/,
    /ok .* \d+ nodes Ready/,
    /ok .* set image to the pushed digest: rollout status succeeded/,
    /ok .* crashloop image: CrashLoopBackOff, restartCount rising/,
    /ok .* rollout status failed: Progressing=False reason ProgressDeadlineExceeded/,
    /ok .* kubectl logs --previous through the API server ends with: panic: cannot connect to database/,
    /ok .* rollout undo brought back/,
    /ok .* deployer kubeconfig: patch in \S+ allowed, 403 Forbidden in default/,
    /ok .* pullfail image: Pending, ErrImagePull then ImagePullBackOff, Warning Failed event/,
    /ok .* neverready image: Running, container running with ready=false/,
  ]) {
    expect(output).toMatch(check);
  }
  expect(output).toMatch(/smoke test passed/);
});

interface FaultPod {
  metadata: { name: string; deletionTimestamp?: string };
  status: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      restartCount: number;
      state?: { waiting?: { reason?: string } };
      lastState?: { terminated?: { exitCode?: number; message?: string } };
    }[];
  };
}

const podsOf = (name: string): FaultPod[] =>
  kubectlJson<{ items: FaultPod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `app=${name}`]).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );
const crashLooping = (pod: FaultPod): boolean =>
  (pod.status.containerStatuses ?? []).some(
    (c) =>
      c.restartCount >= 1 &&
      c.state?.waiting?.reason === 'CrashLoopBackOff' &&
      c.lastState?.terminated?.exitCode === 2 &&
      c.lastState.terminated.message === 'panic: cannot connect to database',
  );
const backOffEvents = (pod: string): number =>
  kubectlJson<{ items: { type: string }[] }>([
    'get',
    'events',
    '-n',
    NAMESPACE,
    '--field-selector',
    `involvedObject.name=${pod},reason=BackOff`,
  ]).items.filter((e) => e.type === 'Warning').length;

// A config change breaks pods without a new image: the KWOK stages read the pod annotation kube-ship.dev/fault as
// if every container's image reference had the word in it (scripts/stack/kwok/pod-stages.yaml).
it('a fault annotation (crashloop) crash-loops the pods of a normal image; a pod without it is Ready', async () => {
  const image = `${REGISTRY}/e2e/fault-annotation:initial`;
  try {
    createDeployment('fault-plain', image, { replicas: 1 });
    createDeployment('fault-crash', image, {
      replicas: 1,
      annotations: { 'kube-ship.dev/fault': 'crashloop' },
      wait: false,
    });
    const [plain] = podsOf('fault-plain');
    expect(plain?.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    expect(plain?.status.containerStatuses?.[0]?.restartCount).toBe(0);

    const deadline = Date.now() + 20_000;
    let pod: FaultPod | undefined;
    while (Date.now() < deadline) {
      pod = podsOf('fault-crash').find(crashLooping);
      if (pod && backOffEvents(pod.metadata.name) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(pod, JSON.stringify(podsOf('fault-crash'), null, 1)).toBeDefined();
    const status = pod?.status.containerStatuses?.[0];
    expect(status?.restartCount).toBeGreaterThanOrEqual(1);
    expect(status?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(status?.lastState?.terminated?.exitCode).toBe(2);
    expect(pod?.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'False' }));
    expect(backOffEvents(pod?.metadata.name ?? '')).toBeGreaterThan(0);
    expect(podsOf('fault-plain').every((p) => (p.status.containerStatuses?.[0]?.restartCount ?? 0) === 0)).toBe(true);
  } finally {
    kubectl([
      'delete',
      'deployment',
      'fault-plain',
      'fault-crash',
      '-n',
      NAMESPACE,
      '--ignore-not-found',
      '--wait=false',
    ]);
  }
});
