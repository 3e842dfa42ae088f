/**
 * Faults in the middle of a deploy, made with the real parts: a permission revoked, a token made invalid, etcd
 * restarted. The rule for each: the deploy completes, or the target ends where the rollback rules put it, with a
 * clear message, within the time limits; never a stuck step.
 */
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  kubectl,
  podImages,
  restartStackPart,
  runAction,
  serviceAccountKubeconfig,
  template,
  type Rule,
} from './harness.js';

const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;

/** The least-privilege Role of the README's "Permissions". */
const DEPLOYER_RULES: Rule[] = [
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods', 'events'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];

const imageOf = (name: string) =>
  (template(name) as { spec: { containers: { image: string }[] } }).spec.containers[0]?.image;

describe('faults mid-deploy', () => {
  it("the deployer's permission revoked mid-rollout: the rollback fails with 403 and says how to finish by hand", async () => {
    createDeployment('revoked', initial('revoked'), { replicas: 2, readyDelay: '4s' });
    const kubeconfig = serviceAccountKubeconfig('revoked', DEPLOYER_RULES);
    const run = await runAction(appInputs('revoked', 'crashloop-revoked', 'revoked', { kubeconfig, namespace: '' }), {
      whenPatched: () => kubectl(['delete', 'rolebinding', 'revoked', '-n', NAMESPACE]),
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toMatch(/CrashLoopBackOff|WatchFailed/);
    expect(run.log).toMatch(/Rollback also failed: .*forbidden/);
    expect(run.log).toContain(
      `restore it by hand: kubectl -n ${NAMESPACE} rollout undo deployment/revoked --to-revision=1`,
    );
    expect(run.summary).toContain('Rollback problem');
    expect(imageOf('revoked')).toContain('crashloop-revoked');
    expect(run.ms).toBeLessThan(90_000);
  });

  it('the token made invalid mid-rollout (ServiceAccount deleted): 401, reported, and the step ends', async () => {
    // The API server caches a token's authentication for about 10 s: the new pods crash only after that.
    createDeployment('tokenless', initial('tokenless'), { replicas: 2, readyDelay: '15s' });
    const kubeconfig = serviceAccountKubeconfig('tokenless', DEPLOYER_RULES);
    const run = await runAction(
      appInputs('tokenless', 'crashloop-tokenless', 'tokenless', { kubeconfig, namespace: '' }),
      { whenPatched: () => kubectl(['delete', 'serviceaccount', 'tokenless', '-n', NAMESPACE]) },
    );
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.log).toMatch(/Rollback also failed: .*(Unauthorized|HTTP 401)/);
    expect(run.log).toContain('restore it by hand');
    expect(run.ms).toBeLessThan(90_000);
  });

  it('etcd restarted in the middle of a rollout: the verdict does not change', async () => {
    createDeployment('etcd', initial('etcd'), { replicas: 3, surge: 1, unavailable: 0, readyDelay: '6s' });
    const run = await runAction(appInputs('etcd', 'v2', 'etcd', { bake: '0s' }), {
      whenPatched: () => setTimeout(() => restartStackPart('etcd', 2), 2000),
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(new Set(podImages('etcd'))).toEqual(new Set([run.outputs.image]));
  });
});
