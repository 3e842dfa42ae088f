/**
 * Kustomize (input `kustomize`) on the real API server: the example's production overlay built with the stack's
 * kubectl and deployed by digest, a crashing change to it restored (ConfigMap included), a preview of another
 * overlay, a killed step undone by the post step, and the errors of a missing kubectl and of a kustomization that
 * does not build.
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REGISTRY, ROOT, appInputs, freshNamespace, kubectl, kubectlJson, runAction, workspaceDir } from './harness.js';

const IMAGE = `${REGISTRY}/demo/web`;
const OVERLAYS = join(ROOT, 'examples/web/kustomize/overlays');

/** A namespace of its own for each test. */
const namespace = (name: string): string => freshNamespace(`kube-ship-k-${name}`);

/**
 * A kustomization in the workspace that builds one of the example's overlays into namespace `ns`, with `more` (YAML
 * of further kustomization fields, e.g. patches) on top; its path relative to the workspace.
 */
function overlayIn(ns: string, overlay: string, more = ''): string {
  const dir = workspaceDir('kustomize-');
  const base = relative(dir, join(OVERLAYS, overlay));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${ns}\nresources:\n  - ${base}\n${more}`,
  );
  return relative(ROOT, dir);
}

function inputs(tag: string, variant: string, kustomize: string, extra: Record<string, string> = {}) {
  return { ...appInputs('web', tag, variant, { bake: '2s' }), image: IMAGE, deployments: '', kustomize, ...extra };
}

interface Deployment {
  spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
}

const configData = (ns: string) =>
  kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'web-config', '-n', ns]).data;

/** The change that crashes: a new MODE (and key) in the ConfigMap, rolled out with pods that crash-loop. */
const CRASHING_CHANGE = `patches:
  - target: { kind: ConfigMap, name: web-config }
    patch: |
      - { op: replace, path: /data/MODE, value: broken }
      - { op: add, path: /data/FEATURE, value: "on" }
  - target: { kind: Deployment, name: web }
    patch: |
      - { op: replace, path: /spec/template/metadata/annotations/config-version, value: "2" }
      - { op: add, path: /spec/template/metadata/annotations/kube-ship.dev~1fault, value: crashloop }
`;

describe('kustomize', () => {
  it('deploys the production overlay by digest, and previews the staging overlay over it', async () => {
    const ns = namespace('prod');
    const production = overlayIn(ns, 'production');
    const run = await runAction(inputs('k-v1', 'kustomize-prod', production));
    expect(run.exitCode, run.log).toBe(0);
    expect(JSON.parse(run.outputs.objects ?? '{}')).toEqual({
      [`ConfigMap ${ns}/web-config`]: 'created',
      [`Service ${ns}/web`]: 'created',
      [`Deployment ${ns}/web`]: 'created',
      [`Ingress ${ns}/web`]: 'created',
    });
    const live = kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]);
    expect(run.outputs.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(live.spec.template.spec.containers[0]?.image).toBe(run.outputs.image);
    expect(live.spec.replicas).toBe(3);
    expect(configData(ns).GREETING).toBe('hello from production');
    expect(run.log).toContain(`Kustomize: built ${production} with kubectl kustomize: 4 objects, dry run accepted`);
    expect(run.log).toContain(
      `Kustomize: Deployment ${ns}/web gets the pushed digest in container web (written ${IMAGE}:latest)`,
    );
    // The staging overlay over the same namespace, previewed (the same image, not built again): the plan has its
    // changes, the cluster none of them.
    const preview = await runAction({
      ...inputs('k-v1', 'kustomize-prod', overlayIn(ns, 'staging')),
      build: 'false',
      preview: 'true',
    });
    expect(preview.exitCode, preview.log).toBe(0);
    expect(preview.outputs.result).toBe('preview');
    const plan = JSON.parse(preview.outputs.plan ?? '{}') as {
      objects: { key: string; action: string; changes: { field: string; before: string; after: string }[] }[];
    };
    const changesOf = (key: string) => plan.objects.find((o) => o.key === key)?.changes ?? [];
    expect(changesOf(`ConfigMap ${ns}/web-config`)).toContainEqual({
      field: 'data.MODE',
      before: 'normal',
      after: 'staging',
    });
    expect(changesOf(`Deployment ${ns}/web`)).toContainEqual({ field: 'spec.replicas', before: '3', after: '1' });
    expect(kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]).spec.replicas).toBe(3);
    expect(configData(ns).MODE).toBe('normal');
  });

  it('restores a crashing change of the overlay to exactly what was there, ConfigMap included', async () => {
    const ns = namespace('crash');
    const first = await runAction(inputs('k-v1', 'kustomize-crash', overlayIn(ns, 'production')));
    expect(first.exitCode, first.log).toBe(0);
    const recordedData = configData(ns);
    const recorded = kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]).spec.template;
    // The same image (not built again): what crashes is the change of the overlay.
    const change = overlayIn(ns, 'production', CRASHING_CHANGE);
    const run = await runAction(inputs('k-v1', 'kustomize-crash', change, { build: 'false' }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    const objects = JSON.parse(run.outputs.objects ?? '{}') as Record<string, string>;
    expect(objects[`ConfigMap ${ns}/web-config`]).toBe('restored');
    expect(objects[`Deployment ${ns}/web`]).toBe('restored');
    expect(configData(ns)).toEqual(recordedData);
    expect(kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]).spec.template).toEqual(recorded);
    expect(run.log).toMatch(/ConfigMap .*web-config: restored data.FEATURE, data.MODE/);
  });

  it('a step killed after the apply: the post step deletes every object the overlay created', async () => {
    const ns = namespace('killed');
    const config = inputs('crashloop-k1', 'kustomize-killed', overlayIn(ns, 'staging'), { 'fail-fast': 'false' });
    const run = await runAction(config, {
      during: [{ when: ({ log }) => log.includes(`Ingress ${ns}/web: created`), act: 'SIGKILL' }],
    });
    expect(run.state.finished).toBeUndefined();
    expect(kubectl(['get', 'deployment', 'web', '-n', ns, '-o', 'name']).trim()).toBe('deployment.apps/web');
    const post = await runAction(config, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain('The deploy did not finish: undoing what it changed');
    const left = kubectl(['get', 'deployment,service,ingress,configmap', '-n', ns, '-o', 'name']);
    expect(left.split('\n').filter((name) => name.endsWith('/web') || name.endsWith('/web-config'))).toEqual([]);
  });

  it('names the input and the fix when no kubectl or kustomize is on PATH, or the kustomization does not build', async () => {
    const ns = namespace('errors');
    const bin = workspaceDir('empty-bin-');
    const missing = await runAction(inputs('k-v1', 'kustomize-errors', overlayIn(ns, 'staging')), {
      env: { PATH: bin },
    });
    expect(missing.exitCode).toBe(1);
    expect(missing.log).toMatch(/Input "kustomize": ".*" cannot be built: neither kustomize nor kubectl is on PATH/);
    const broken = overlayIn(ns, 'staging', 'components:\n  - missing-component\n');
    const failed = await runAction(inputs('k-v1', 'kustomize-errors', broken));
    expect(failed.exitCode).toBe(1);
    expect(failed.log).toContain(`Input "kustomize": "${broken}" did not build with kubectl kustomize (exit code 1): `);
    expect(failed.log).toContain('missing-component');
    expect(failed.log).not.toContain('Build and push');
    expect(kubectl(['get', 'all', '-n', ns, '-o', 'name']).trim()).toBe('');
  });
});
