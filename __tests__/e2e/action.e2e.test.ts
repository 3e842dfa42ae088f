/**
 * The action end to end: bundled dist/ run as the runner runs it, against the real stack. Each case checks what
 * the cluster holds afterwards, not only what the action says.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Audit,
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  env,
  kubectlJson,
  ownDeployer,
  podImages,
  runAction,
  serviceAccountKubeconfig,
  serviceAccountUser,
  template,
  withoutMasks,
} from './harness.js';

const deployer = { kubeconfig: readFileSync(env.DEPLOYER_KUBECONFIG ?? '', 'utf8'), namespace: NAMESPACE };
const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;
const digestRef = /^127\.0\.0\.1:5000\/e2e\/[a-z-]+:[a-z0-9-]+@sha256:[0-9a-f]{64}$/;

describe('kube-ship on the local stack', () => {
  beforeAll(() => {
    createDeployment('web', initial('web'));
    createDeployment('crash', initial('crash'));
    createDeployment('pull', initial('pull'));
    createDeployment('ready', initial('ready'));
    createDeployment('pair-a', `${REGISTRY}/e2e/pair:initial`);
    // pair-b's pods take 25 s to become ready: a deploy with a short timeout fails on it, and its old pods are
    // ready by then, so the restore is quick.
    createDeployment('pair-b', `${REGISTRY}/e2e/pair:initial`, { replicas: 1, readyDelay: '25s' });
  });

  it('(a) builds a multi-stage image, deploys it by digest with the least-privilege kubeconfig, and succeeds', async () => {
    const run = await runAction(appInputs('web', 'v1', 'a', deployer));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.outputs.image).toMatch(digestRef);
    expect(run.outputs.image).toContain(':v1@');
    expect(run.outputs.digest).toBe(run.outputs.image?.split('@')[1]);
    expect(JSON.parse(run.outputs['previous-images'] ?? '{}')).toEqual({
      [`${NAMESPACE}/web`]: { app: initial('web') },
    });
    expect(JSON.parse(run.outputs.revisions ?? '{}')).toEqual({ [`${NAMESPACE}/web`]: { before: '1', after: '2' } });
    expect(JSON.parse(run.outputs.metadata ?? '{}')['containerimage.digest']).toBe(run.outputs.digest);
    expect(Number(run.outputs.duration)).toBeGreaterThan(0);
    const images = podImages('web');
    expect(images).toHaveLength(3);
    expect(new Set(images)).toEqual(new Set([run.outputs.image]));
    const served = await fetch(`http://${REGISTRY}/v2/e2e/web/manifests/v1`, {
      method: 'HEAD',
      headers: {
        Accept:
          'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
      },
    });
    expect(served.headers.get('docker-content-digest')).toBe(run.outputs.digest);
    const annotations = kubectlJson<{ metadata: { annotations: Record<string, string> } }>([
      'get',
      'deployment',
      'web',
      '-n',
      NAMESPACE,
    ]).metadata.annotations;
    expect(annotations['kubernetes.io/change-cause']).toContain(
      `kube-ship deployed ${run.outputs.image} commit 0123456789ab by octocat`,
    );
    for (const group of ['Preflight', 'Build and push', 'Digest', 'Deploy', 'Rollout', 'Report'])
      expect(run.log).toContain(`::group::${group}`);
    expect(run.log).toMatch(new RegExp(`${NAMESPACE}/web: \\d/3 updated, \\d available`));
    expect(run.log).toMatch(/Verdict \d+\.\d+s after the patch/);
    expect(run.summary).toContain('Deployed');
    const secret =
      /token: (\S+)/.exec(deployer.kubeconfig)?.[1] ?? /client-key-data: (\S+)/.exec(deployer.kubeconfig)?.[1];
    expect(secret).toBeDefined();
    expect(withoutMasks(run.log)).not.toContain(secret);
  });

  it('(h) a lone Deployment is watched lean: its own stream, its ReplicaSets listed once, the new pods only', async () => {
    createDeployment('lean', initial('lean'));
    const own = { kubeconfig: ownDeployer(), namespace: NAMESPACE }; // its requests are this file's alone
    const audit = new Audit();
    const mark = audit.mark();
    const run = await runAction(appInputs('lean', 'v1', 'a', own));
    expect(run.outputs.result, run.log).toBe('success');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the last requests reach the audit log a moment later
    const requests = audit
      .since(mark, serviceAccountUser(NAMESPACE, 'deployer'))
      .map((e) => `${e.verb} ${decodeURIComponent(e.uri)}`);
    const of = (verb: string, resource: string) =>
      requests.filter((r) => r.startsWith(`${verb} `) && r.includes(`/namespaces/${NAMESPACE}/${resource}?`));
    expect(of('watch', 'deployments'), requests.join('\n')).toHaveLength(1);
    expect(of('list', 'replicasets')).toHaveLength(1);
    expect(of('watch', 'replicasets')).toEqual([]);
    const pods = of('watch', 'pods');
    expect(pods).toHaveLength(1);
    expect(pods[0]).toMatch(/labelSelector=app=lean,pod-template-hash=[a-z0-9]+&/);
    expect(new Set(podImages('lean'))).toEqual(new Set([run.outputs.image]));
  });

  it('(f) the same digest again is a no-op that changes nothing', async () => {
    createDeployment('noop', initial('noop'), { replicas: 1 });
    const first = await runAction(appInputs('noop', 'v1', 'f', deployer));
    expect(first.outputs.result, first.log).toBe('success');
    const before = kubectlJson<{ metadata: { generation: number } }>(['get', 'deployment', 'noop', '-n', NAMESPACE])
      .metadata.generation;
    const run = await runAction(appInputs('noop', 'v1', 'f', deployer));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('no-op');
    expect(run.outputs.image).toBe(first.outputs.image);
    const after = kubectlJson<{ metadata: { generation: number } }>(['get', 'deployment', 'noop', '-n', NAMESPACE])
      .metadata.generation;
    expect(after).toBe(before);
  });

  it('(b) a crash-looping image is caught, rolled back to the recorded template, with the crash log as evidence', async () => {
    const recorded = template('crash');
    const run = await runAction(appInputs('crash', 'crashloop-1', 'b'));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    expect(template('crash')).toEqual(recorded);
    expect(new Set(podImages('crash'))).toEqual(new Set([initial('crash')]));
    expect(run.log).toContain('panic: cannot connect to database');
    expect(run.summary).toMatch(/rolled back/i);
    expect(run.summary).toContain('panic: cannot connect to database');
    expect(run.summary).toMatch(/Last exit:\*\* code [1-9]/);
    expect(run.log).toContain('::group::Rollback');
    expect(run.log).toMatch(/Restored and healthy \d+\.\d+s after the verdict/);
    expect(run.outputs['failure-reason']?.match(/CrashLoopBackOff/g)).toHaveLength(1);
    const revisions = JSON.parse(run.outputs.revisions ?? '{}') as Record<string, { before: string; after: string }>;
    expect(Number(revisions[`${NAMESPACE}/crash`]?.after)).toBeGreaterThan(
      Number(revisions[`${NAMESPACE}/crash`]?.before),
    );
  });

  it('(c) an image that cannot be pulled fails fast and is rolled back', async () => {
    const recorded = template('pull');
    const run = await runAction(appInputs('pull', 'pullfail-1', 'c'));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/ErrImagePull|ImagePullBackOff/);
    expect(template('pull')).toEqual(recorded);
    expect(run.summary).toContain('no log');
  });

  it('(d) pods that never become ready fail after the readiness grace, not at the timeout', async () => {
    const run = await runAction(appInputs('ready', 'neverready-1', 'd', { timeout: '5m' }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('ReadinessTimeout');
    expect(run.outputs['failure-reason']).toContain('but not ready');
    expect(run.ms).toBeLessThan(120_000);
    expect(new Set(podImages('ready'))).toEqual(new Set([initial('ready')]));
  });

  it('(e) two Deployments, one fails: both are restored', async () => {
    const recordedA = template('pair-a');
    const recordedB = template('pair-b');
    const run = await runAction({
      ...appInputs('pair', 'v2', 'e'),
      deployments: `${NAMESPACE}/pair-a\n${NAMESPACE}/pair-b`,
      timeout: '12s',
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('pair-b');
    expect(template('pair-a')).toEqual(recordedA);
    expect(template('pair-b')).toEqual(recordedB);
    expect(run.log).toMatch(/pair-a: deployment "pair-a" successfully rolled out/);
  });

  it('(g) a kubeconfig lacking a verb fails in preflight, before anything is built', async () => {
    const kubeconfig = serviceAccountKubeconfig('no-logs', [
      { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['pods', 'events'], verbs: ['get', 'list', 'watch'] },
    ]);
    const token = /token: (\S+)/.exec(kubeconfig)?.[1] ?? '';
    expect(token).not.toBe('');
    const run = await runAction(
      appInputs('web', 'never-built', 'g', { kubeconfig: Buffer.from(kubeconfig).toString('base64'), namespace: '' }),
    );
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['failure-reason']).toContain(`may not get pods/log in namespace ${NAMESPACE}`);
    expect(run.log).not.toContain('::group::Build');
    expect(withoutMasks(run.log)).not.toContain(token);
    const tag = await fetch(`http://${REGISTRY}/v2/e2e/web/manifests/never-built`, { method: 'HEAD' });
    expect(tag.status).toBe(404);
  });

  it('refuses platforms without buildx before building, naming the fix', async () => {
    const run = await runAction({ ...appInputs('web', 'v8', 'p'), platforms: 'linux/amd64,linux/arm64' });
    expect(run.exitCode).toBe(1);
    expect(run.outputs['failure-reason']).toBe(
      'Input "platforms": needs docker buildx, which is not installed; add docker/setup-buildx-action before kube-ship.',
    );
    expect(run.log).not.toContain('[command]');
  });

  it('refuses a target with no matching container, naming the input and the fix', async () => {
    const run = await runAction({ ...appInputs('web', 'v9', 'x'), deployments: `${NAMESPACE}/web:nope` });
    expect(run.exitCode).toBe(1);
    expect(run.outputs['failure-reason']).toContain(
      `Input "deployments": ${NAMESPACE}/web has no container "nope" (it has: app)`,
    );
  });
});
