/**
 * StatefulSets and DaemonSets as targets (input `workloads`), on the real controllers: kubectl's rule for each
 * kind, the pod signals of the new revision, and a rollback to the recorded template that leaves every pod Ready
 * with no manual step (a StatefulSet's stuck pod of the failed revision is deleted so the controller makes it again).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  createWorkload,
  env,
  kubectl,
  kubectlJson,
  patched,
  runAction,
} from './harness.js';

interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: { image: string }[]; nodeName?: string };
  status: { conditions?: { type: string; status: string }[] };
}

const podsOf = (name: string): Pod[] =>
  kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `app=${name}`]).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );
const ready = (pod: Pod): boolean =>
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const templateOf = (kind: string, name: string): unknown =>
  kubectlJson<{ spec: { template: unknown } }>(['get', kind, name, '-n', NAMESPACE]).spec.template;
const initial = (name: string) => `${REGISTRY}/e2e/${name}:initial`;

describe('StatefulSets', () => {
  it("a good release rolls out, every pod on the digest, with kubectl's rule for StatefulSets", async () => {
    createWorkload('statefulset', 'db', initial('db'), { replicas: 3 });
    const run = await runAction({
      ...appInputs('db', 'v1', 'sts-good', { bake: '2s' }),
      deployments: '',
      workloads: `${NAMESPACE}/sts/db`,
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.log).toMatch(new RegExp(`${NAMESPACE}/statefulset/db: \\d/3 updated, \\d ready`));
    const pods = podsOf('db');
    expect(pods).toHaveLength(3);
    expect(new Set(pods.map((p) => p.spec.containers[0]?.image))).toEqual(new Set([run.outputs.image]));
    expect(pods.every(ready)).toBe(true);
  });

  it('a crash-looping release is rolled back to the recorded template, every pod Ready again, no manual step', async () => {
    createWorkload('statefulset', 'ledger', initial('ledger'), { replicas: 3 });
    const recorded = templateOf('statefulset', 'ledger');
    const run = await runAction({
      ...appInputs('ledger', 'crashloop-v2', 'crashloop-ledger'),
      deployments: '',
      workloads: `${NAMESPACE}/statefulset/ledger`,
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    expect(run.log).toMatch(/deleted pod ledger-2 of the failed revision \(not Ready\)/);
    expect(templateOf('statefulset', 'ledger')).toEqual(recorded);
    const pods = podsOf('ledger');
    expect(pods).toHaveLength(3);
    expect(pods.every(ready)).toBe(true);
    expect(new Set(pods.map((p) => p.spec.containers[0]?.image))).toEqual(new Set([initial('ledger')]));
    expect(run.summary).toContain('panic: cannot connect to database');
  });

  it('a step killed mid-rollout: the post step restores the template and replaces the stuck pod', async () => {
    createWorkload('statefulset', 'journal', initial('journal'), { replicas: 3 });
    const recorded = templateOf('statefulset', 'journal');
    const inputs = {
      ...appInputs('journal', 'crashloop-v2', 'crashloop-journal', { 'fail-fast': 'false' }),
      deployments: '',
      workloads: `${NAMESPACE}/sts/journal`,
    };
    // Killed 5 s after the patch, when the new pod crash-loops: the controller now waits for it for good.
    let patchedAt = 0;
    const run = await runAction(inputs, {
      during: [
        {
          when: ({ state }) => {
            if (!patched(state)) return false;
            patchedAt ||= Date.now();
            return Date.now() - patchedAt > 5000;
          },
          act: 'SIGKILL',
        },
      ],
    });
    expect(run.state.finished).toBeUndefined();
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toMatch(/deleted pod journal-2 of the failed revision \(not Ready\)/);
    expect(templateOf('statefulset', 'journal')).toEqual(recorded);
    // The controller makes the pod again from the restored template: every pod Ready, no manual step.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !(podsOf('journal').length === 3 && podsOf('journal').every(ready))) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(podsOf('journal').every(ready)).toBe(true);
    expect(new Set(podsOf('journal').map((p) => p.spec.containers[0]?.image))).toEqual(new Set([initial('journal')]));
  });

  it('refuses an OnDelete StatefulSet in preflight, naming the fix, before anything is built', async () => {
    createWorkload('statefulset', 'ondelete', initial('ondelete'), { replicas: 1, updateStrategy: 'OnDelete' });
    const run = await runAction({
      ...appInputs('ondelete', 'v1', 'ondelete'),
      deployments: '',
      workloads: `${NAMESPACE}/sts/ondelete`,
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs['failure-reason']).toContain('uses the OnDelete update strategy');
    expect(run.outputs['failure-reason']).toContain('set spec.updateStrategy.type to RollingUpdate');
    expect(run.log).not.toContain('::group::Build');
  });
});

describe('DaemonSets', () => {
  it('a good release rolls out across the 3 nodes', async () => {
    createWorkload('daemonset', 'agent', initial('agent'));
    const run = await runAction({
      ...appInputs('agent', 'v1', 'ds-good', { bake: '2s' }),
      deployments: '',
      workloads: `${NAMESPACE}/ds/agent`,
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    const pods = podsOf('agent');
    expect(new Set(pods.map((p) => p.spec.nodeName))).toEqual(new Set(['kwok-node-0', 'kwok-node-1', 'kwok-node-2']));
    expect(new Set(pods.map((p) => p.spec.containers[0]?.image))).toEqual(new Set([run.outputs.image]));
  });

  it('a crash-looping release is rolled back, every node running the recorded image again', async () => {
    createWorkload('daemonset', 'shipper', initial('shipper'));
    const recorded = templateOf('daemonset', 'shipper');
    const run = await runAction({
      ...appInputs('shipper', 'crashloop-v2', 'crashloop-shipper'),
      deployments: '',
      workloads: `${NAMESPACE}/daemonset/shipper`,
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.result, run.log).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toContain('CrashLoopBackOff');
    expect(templateOf('daemonset', 'shipper')).toEqual(recorded);
    const pods = podsOf('shipper');
    expect(pods).toHaveLength(3);
    expect(pods.every(ready)).toBe(true);
    expect(new Set(pods.map((p) => p.spec.containers[0]?.image))).toEqual(new Set([initial('shipper')]));
  });
});

describe('where it is reachable', () => {
  it("the summary lists the Services that select the workload's pods and the Ingress paths to them", async () => {
    createDeployment('storefront', initial('storefront'), { replicas: 1 });
    const objects = [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'storefront', namespace: NAMESPACE },
        spec: { selector: { app: 'storefront' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'other', namespace: NAMESPACE },
        spec: { selector: { app: 'other' }, ports: [{ port: 80 }] },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'storefront', namespace: NAMESPACE },
        spec: {
          rules: [
            {
              host: 'shop.example.test',
              http: {
                paths: [
                  { path: '/', pathType: 'Prefix', backend: { service: { name: 'storefront', port: { number: 80 } } } },
                ],
              },
            },
          ],
        },
      },
    ];
    kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    // The least-privilege deployer: its Role grants list on services and ingresses for the report.
    const run = await runAction({
      ...appInputs('storefront', 'v1', 'storefront', { bake: '0s' }),
      kubeconfig: readFileSync(env.DEPLOYER_KUBECONFIG ?? '', 'utf8'),
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.summary).toContain('**Where it is reachable**');
    expect(run.summary).toContain(
      `- <code>${NAMESPACE}/storefront</code>: Service <code>storefront</code> (ClusterIP <code>80→8080/TCP</code>); Ingress <code>storefront</code> <code>http://shop.example.test/</code> → <code>storefront:80</code>`,
    );
    expect(run.summary).not.toContain('<code>other</code>');
  });
});
