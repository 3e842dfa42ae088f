/**
 * Manifests (input `manifests`) on the real API server: server-side apply of the example's Deployment, Service,
 * Ingress and ConfigMap, the dry run before the build, and a rollback that deletes what a failed first deploy made and
 * sets back what a failed change changed, ConfigMap included.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REGISTRY, ROOT, appInputs, freshNamespace, kubectl, kubectlJson, runAction, workspaceDir } from './harness.js';

const EXAMPLE = 'examples/web/k8s';
const IMAGE = `${REGISTRY}/demo/web`;

/** A namespace of its own for each test: the example's objects keep their names. */
const namespace = (name: string): string => freshNamespace(`kube-ship-m-${name}`);

function inputs(ns: string, tag: string, variant: string, extra: Record<string, string> = {}) {
  return {
    ...appInputs('web', tag, variant, { bake: '2s' }),
    image: IMAGE,
    deployments: '',
    namespace: ns,
    manifests: EXAMPLE,
    ...extra,
  };
}

/** The example's files copied to a folder under the repository, changed by `edit` (file name -> new text). */
function editedExample(edit: (file: string, text: string) => string): string {
  const dir = workspaceDir('manifests-');
  for (const file of ['configmap.yaml', 'deployment.yaml', 'service.yaml', 'ingress.yaml']) {
    writeFileSync(join(dir, file), edit(file, readFileSync(join(ROOT, EXAMPLE, file), 'utf8')));
  }
  return relative(ROOT, dir);
}

const exists = (ns: string, kind: string, name: string): boolean =>
  kubectl(['get', kind, name, '-n', ns, '--ignore-not-found', '-o', 'name']).trim() !== '';

interface Deployment {
  metadata: { generation: number; resourceVersion: string };
  spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } } };
}

describe('manifests', () => {
  it('a first deploy creates Deployment, Service, Ingress and ConfigMap, and says where it is reachable', async () => {
    const ns = namespace('first');
    const run = await runAction(inputs(ns, 'm-v1', 'manifest-first'));
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(JSON.parse(run.outputs.objects ?? '{}')).toEqual({
      [`ConfigMap ${ns}/web-config`]: 'created',
      [`Service ${ns}/web`]: 'created',
      [`Deployment ${ns}/web`]: 'created',
      [`Ingress ${ns}/web`]: 'created',
    });
    const live = kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]);
    expect(live.spec.template.spec.containers[0]?.image).toBe(run.outputs.image);
    expect(run.outputs.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(run.log).toMatch(/dry run accepted/);
    // The summary: each object with its file, and the routes to the pods.
    expect(run.summary).toContain(
      `| <code>Deployment ${ns}/web</code> | <code>examples/web/k8s/deployment.yaml document 1</code> | 🆕&nbsp;created |`,
    );
    expect(run.summary).toContain(`<code>${ns}/web</code><br>web | new → <code>m-v1@`);
    expect(run.summary).toContain('Where it is reachable');
    expect(run.summary).toContain(
      'Service <code>web</code> (ClusterIP <code>80→http/TCP</code>); Ingress <code>web</code> <code>http://web.example.test/</code>',
    );
    // The same deploy again changes nothing.
    const again = await runAction(inputs(ns, 'm-v1', 'manifest-first'));
    expect(again.exitCode, again.log).toBe(0);
    expect(again.outputs.result).toBe('no-op');
    expect(Object.values(JSON.parse(again.outputs.objects ?? '{}'))).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
  });

  it('a failing first deploy leaves none of its objects behind', async () => {
    const ns = namespace('failfirst');
    const run = await runAction(inputs(ns, 'crashloop-m1', 'manifest-crash'));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    for (const [kind, name] of [
      ['deployment', 'web'],
      ['service', 'web'],
      ['ingress', 'web'],
      ['configmap', 'web-config'],
    ] as const) {
      expect(exists(ns, kind, name), `${kind}/${name}`).toBe(false);
    }
    expect(Object.values(JSON.parse(run.outputs.objects ?? '{}'))).toEqual([
      'deleted',
      'deleted',
      'deleted',
      'deleted',
    ]);
    expect(run.summary).toContain('🗑️&nbsp;deleted');
    expect(run.summary).toContain('panic: cannot connect to database');
  });

  it('a failing config change restores the ConfigMap data and the template, and keeps what others own', async () => {
    const ns = namespace('config');
    const first = await runAction(inputs(ns, 'm-v1', 'manifest-config'));
    expect(first.exitCode, first.log).toBe(0);
    // Someone else's label on the ConfigMap, and the template as recorded.
    kubectl(['label', 'configmap', 'web-config', '-n', ns, 'team=payments']);
    const recordedData = kubectlJson<{ data: Record<string, string> }>([
      'get',
      'configmap',
      'web-config',
      '-n',
      ns,
    ]).data;
    const recorded = kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]);
    // The change: a new MODE and a new key, rolled out through the template annotation; the pods crash with it.
    const broken = editedExample((file, text) =>
      file === 'configmap.yaml'
        ? text.replace('MODE: normal', 'MODE: broken\n  FEATURE: "on"')
        : file === 'deployment.yaml'
          ? text.replace('config-version: "1"', 'config-version: "2"\n        kube-ship.dev/fault: crashloop')
          : text,
    );
    const run = await runAction(inputs(ns, 'm-v1', 'manifest-config', { manifests: broken }));
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    const objects = JSON.parse(run.outputs.objects ?? '{}') as Record<string, string>;
    expect(objects[`ConfigMap ${ns}/web-config`]).toBe('restored');
    expect(objects[`Deployment ${ns}/web`]).toBe('restored');
    expect(objects[`Service ${ns}/web`]).toBe('unchanged');
    const config = kubectlJson<{ data: Record<string, string>; metadata: { labels: Record<string, string> } }>([
      'get',
      'configmap',
      'web-config',
      '-n',
      ns,
    ]);
    expect(config.data).toEqual(recordedData);
    expect(config.metadata.labels.team).toBe('payments');
    const live = kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', ns]);
    expect(live.spec.template).toEqual(recorded.spec.template);
    expect(run.log).toMatch(/ConfigMap .*web-config: restored data.FEATURE, data.MODE/);
    // The next deploy of the good manifests meets no conflict with kube-ship's own restore.
    const next = await runAction(inputs(ns, 'm-v2', 'manifest-config-2'));
    expect(next.exitCode, next.log).toBe(0);
  });

  it('a step killed after the apply: the post step deletes every object the deploy created', async () => {
    const ns = namespace('killed');
    const config = inputs(ns, 'crashloop-m3', 'manifest-killed', { 'fail-fast': 'false' });
    // Killed once every object is applied and the crash-looping pods are being waited for.
    const run = await runAction(config, {
      during: [{ when: ({ log }) => log.includes(`Ingress ${ns}/web: created`), act: 'SIGKILL' }],
    });
    expect(run.state.finished).toBeUndefined();
    expect(exists(ns, 'deployment', 'web')).toBe(true);
    const post = await runAction(config, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain('The deploy did not finish: undoing what it changed');
    for (const [kind, name] of [
      ['deployment', 'web'],
      ['service', 'web'],
      ['ingress', 'web'],
      ['configmap', 'web-config'],
    ] as const) {
      expect(exists(ns, kind, name), `${kind}/${name}`).toBe(false);
    }
  });

  it('preflight names the file and document the API server refuses, before anything is built', async () => {
    const ns = namespace('refused');
    const bad = editedExample((file, text) =>
      file === 'service.yaml' ? text.replace('port: 80', 'port: "eighty"') : text,
    );
    const run = await runAction(inputs(ns, 'm-v1', 'manifest-refused', { manifests: bad }));
    expect(run.exitCode).toBe(1);
    expect(run.log).toMatch(new RegExp(`dry run of ${bad}/service.yaml document 1 \\(Service ${ns}/web\\)`));
    expect(run.log).not.toContain('Build and push');
    expect(exists(ns, 'configmap', 'web-config')).toBe(false);
  });

  it('a field another manager owns is a conflict naming it, unless force-conflicts', async () => {
    const ns = namespace('conflict');
    const other = readFileSync(join(ROOT, EXAMPLE, 'configmap.yaml'), 'utf8').replace('MODE: normal', 'MODE: theirs');
    kubectl(['apply', '--server-side', '--field-manager=ops-team', '-n', ns, '-f', '-'], other);
    const run = await runAction(inputs(ns, 'm-v1', 'manifest-conflict'));
    expect(run.exitCode).toBe(1);
    expect(run.log).toContain('conflict with "ops-team"');
    expect(run.log).toContain('set force-conflicts: true');
    expect(run.log).not.toContain('Build and push');
    const forced = await runAction(inputs(ns, 'm-v1', 'manifest-conflict', { 'force-conflicts': 'true' }));
    expect(forced.exitCode, forced.log).toBe(0);
    const data = kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'web-config', '-n', ns]).data;
    expect(data.MODE).toBe('normal');
  });
});
