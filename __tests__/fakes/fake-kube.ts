/**
 * A fake of our own Kube interface with a toy Deployment controller: every patch bumps the generation, applies
 * JSON Patch, and after a tick the "controller" makes a ReplicaSet per template and pods whose status follows the
 * image (an image containing "crash" crash-loops). For unit tests of the engine; the real thing is the e2e suite.
 */
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { KubeError, type AccessCheck, type Kube, type NamespaceState } from '../../src/kube.js';
import type { Log } from '../../src/log.js';
import { canonicalJson, type JsonPatchOp } from '../../src/patch.js';

function applyPatch(target: Record<string, unknown>, ops: JsonPatchOp[]): void {
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop() ?? '';
    let node = target as Record<string, unknown>;
    for (const p of parts) node = node[p] as Record<string, unknown>;
    if (op.op === 'test') {
      if (JSON.stringify(node[last]) !== JSON.stringify(op.value)) throw new KubeError(422, 'test failed');
    } else if (op.op === 'remove') delete node[last];
    else node[last] = structuredClone(op.value);
  }
}

export class FakeKube implements Kube {
  readonly server = 'https://fake';
  deployments = new Map<string, V1Deployment>();
  replicaSets = new Map<string, V1ReplicaSet>();
  pods = new Map<string, V1Pod>();
  patches: { name: string; ops: JsonPatchOp[] }[] = [];
  /** Conflicts to answer before accepting a patch (simulating a concurrent writer). */
  conflicts = 0;
  private listeners = new Set<() => void>();

  addDeployment(name: string, image: string, replicas = 2): void {
    const d: V1Deployment = {
      metadata: { name, namespace: 'ns', uid: `uid-${name}`, generation: 1, resourceVersion: '1', annotations: {} },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      },
      status: {},
    };
    this.deployments.set(name, d);
    this.reconcile(name);
  }

  private reconcile(name: string): void {
    const d = this.deployments.get(name);
    if (!d?.metadata || !d.spec) return;
    const key = canonicalJson(d.spec.template);
    let rs = [...this.replicaSets.values()].find(
      (r) => r.metadata?.labels?.owner === name && canonicalJson(r.spec?.template) === key,
    );
    const revisions = [...this.replicaSets.values()].map((r) =>
      Number(r.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0),
    );
    const revision = String(Math.max(0, ...revisions) + 1);
    if (rs === undefined) {
      const rsName = `${name}-${this.replicaSets.size + 1}`;
      rs = {
        metadata: {
          name: rsName,
          uid: rsName,
          labels: { owner: name },
          annotations: {},
          ownerReferences: [
            { apiVersion: 'apps/v1', kind: 'Deployment', name, uid: d.metadata.uid ?? '', controller: true },
          ],
        },
        spec: { selector: {}, template: structuredClone(d.spec.template) },
      };
      this.replicaSets.set(rsName, rs);
    }
    rs.metadata!.annotations!['deployment.kubernetes.io/revision'] = revision;
    d.metadata.annotations!['deployment.kubernetes.io/revision'] = revision;
    const image = d.spec.template.spec?.containers[0]?.image ?? '';
    const crash = image.includes('crash');
    for (const [podName, pod] of this.pods) if (pod.metadata?.labels?.owner === name) this.pods.delete(podName);
    const replicas = d.spec.replicas ?? 1;
    for (let i = 0; i < replicas; i += 1) {
      const podName = `${rs.metadata!.name}-${i}`;
      this.pods.set(podName, {
        metadata: {
          name: podName,
          labels: { owner: name },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: rs.metadata!.name!,
              uid: rs.metadata!.uid!,
              controller: true,
            },
          ],
        },
        status: {
          containerStatuses: [
            {
              name: 'app',
              image,
              imageID: '',
              ready: !crash,
              restartCount: crash ? 3 : 0,
              state: crash
                ? { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } }
                : { running: { startedAt: new Date() } },
              lastState: crash ? { terminated: { exitCode: 1, reason: 'Error', message: 'boom' } } : {},
            },
          ],
        },
      });
    }
    d.status = crash
      ? {
          observedGeneration: d.metadata.generation,
          replicas: replicas + 1,
          updatedReplicas: 1,
          availableReplicas: replicas,
          readyReplicas: replicas,
        }
      : {
          observedGeneration: d.metadata.generation,
          replicas,
          updatedReplicas: replicas,
          availableReplicas: replicas,
          readyReplicas: replicas,
        };
  }

  async getDeployment(_namespace: string, name: string): Promise<V1Deployment> {
    const d = this.deployments.get(name);
    if (!d) throw new KubeError(404, `deployments.apps "${name}" not found`);
    return structuredClone(d);
  }

  async patchDeployment(_namespace: string, name: string, ops: JsonPatchOp[]): Promise<V1Deployment> {
    const d = this.deployments.get(name)!;
    if (this.conflicts > 0) {
      this.conflicts -= 1;
      d.metadata!.resourceVersion = String(Number(d.metadata!.resourceVersion) + 1);
      throw new KubeError(409, 'the object has been modified');
    }
    const copy = structuredClone(d) as unknown as Record<string, unknown>;
    applyPatch(copy, ops);
    const next = copy as V1Deployment;
    if (next.metadata!.resourceVersion !== d.metadata!.resourceVersion) throw new KubeError(409, 'conflict');
    this.patches.push({ name, ops });
    next.metadata!.resourceVersion = String(Number(d.metadata!.resourceVersion) + 1);
    next.metadata!.generation = (d.metadata!.generation ?? 0) + 1;
    this.deployments.set(name, next);
    setTimeout(() => {
      this.reconcile(name);
      this.listeners.forEach((l) => l());
    }, 5);
    return structuredClone(next);
  }

  /** Access checks answered "no", as `verb resource` (e.g. `get pods/log`). */
  denied = new Set<string>();

  async canI(_namespace: string, check: AccessCheck): Promise<boolean> {
    const resource = check.subresource ? `${check.resource}/${check.subresource}` : check.resource;
    return !this.denied.has(`${check.verb} ${resource}`);
  }

  /** When set, observe() fails with it once the rollout is under way (a watch refused for good). */
  observeError: KubeError | undefined;

  async observe(_namespace: string, onChange: (state: NamespaceState) => void, signal: AbortSignal): Promise<void> {
    if (this.observeError && this.patches.length > 0 && !this.restoring()) throw this.observeError;
    const emit = (): void =>
      onChange({
        deployments: new Map(this.deployments),
        replicaSets: new Map(this.replicaSets),
        pods: new Map(this.pods),
      });
    this.listeners.add(emit);
    emit();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.listeners.delete(emit);
  }

  /** True once a rollback patch (a whole template) was sent. */
  private restoring(): boolean {
    return this.patches.some((p) => p.ops.some((op) => op.path === '/spec/template'));
  }

  async listEvents() {
    return [
      {
        metadata: {},
        involvedObject: {},
        type: 'Warning',
        reason: 'BackOff',
        message: 'Back-off restarting failed container',
        count: 4,
      },
    ];
  }

  async readLog(): Promise<string> {
    return 'starting\npanic: cannot connect to database\n';
  }
}

export function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    debug: () => undefined,
    group: async (name, fn) => {
      lines.push(`[${name}]`);
      return fn();
    },
  };
}
