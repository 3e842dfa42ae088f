/**
 * Canary first with `manifests`, end to end on the local stack: a Deployment the manifests change is canaried from
 * what the manifests make of it, after the objects it needs (its ConfigMap) are applied; a crash-looping release
 * stops at the canary with the live Deployment untouched and nothing of the canary left.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REGISTRY, ROOT, appInputs, freshNamespace, kubectl, kubectlJson, runAction, template } from './harness.js';

/** The sample app's manifests deployed into `ns` with `canary: 50%`, the release tagged (and built as) `tag`. */
const inputs = (ns: string, tag: string) => ({
  ...appInputs('web', tag, tag, { bake: '0s', canary: '50%' }),
  image: `${REGISTRY}/demo/web`,
  deployments: '',
  namespace: ns,
  manifests: 'examples/web/k8s',
});

/** The files as a first deploy by kube-ship left them (its field manager), rolled out: the stable release. */
function deployedBefore(name: string): string {
  const ns = freshNamespace(name);
  kubectl(['apply', '--server-side', '--field-manager=kube-ship', '-n', ns, '-f', join(ROOT, 'examples/web/k8s')]);
  kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
  return ns;
}

const generation = (ns: string): number =>
  kubectlJson<{ metadata: { generation: number } }>(['get', 'deployment', 'web', '-n', ns]).metadata.generation;

describe('canary first with manifests', () => {
  it("a crash-looping release of the manifests' Deployment stops at its canary; the live one is untouched", async () => {
    const ns = deployedBefore('kube-ship-k-manifests');
    const recorded = template('web', ns);
    const before = generation(ns);

    const run = await runAction(inputs(ns, 'crashloop-m'));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.outputs['failure-reason']).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/^canary 50%: .*web-canary: pod web-canary-.*CrashLoopBackOff/);
    // The ConfigMap the canary's pods read was applied before the canary.
    expect(run.log.indexOf(`ConfigMap ${ns}/web-config: unchanged`)).toBeGreaterThan(-1);
    expect(run.log.indexOf(`ConfigMap ${ns}/web-config`)).toBeLessThan(run.log.indexOf('::group::Canary 1/1: 50%'));
    expect(JSON.parse(run.outputs.canary ?? '[]')).toMatchObject([{ share: '50%', replicas: 2, result: 'failed' }]);
    expect(generation(ns)).toBe(before);
    expect(template('web', ns)).toEqual(recorded);
    expect(kubectl(['get', 'deployment', 'web-canary', '-n', ns, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
  });

  it("a good release passes the canary, then the manifests' Deployment is applied and the canary deleted", async () => {
    const ns = deployedBefore('kube-ship-k-manifests-good');
    const run = await runAction(inputs(ns, 'm-v2'));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(JSON.parse(run.outputs.canary ?? '[]')).toMatchObject([{ share: '50%', replicas: 2, result: 'passed' }]);
    // Applied only once the canary passed.
    expect(run.log.indexOf(`Deployment ${ns}/web: configured`)).toBeGreaterThan(
      run.log.indexOf('Canary 1/1: 50%: passed'),
    );
    const image = (template('web', ns) as { spec: { containers: { image: string }[] } }).spec.containers[0]?.image;
    expect(image).toBe(run.outputs.image);
    expect(kubectl(['get', 'deployment', 'web-canary', '-n', ns, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
  });
});
