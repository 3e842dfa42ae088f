/**
 * Two runs on one workload, end to end: a second run started while the first runs its canary fails naming that
 * canary and never changes it (a Deployment's `NAME-canary`, a StatefulSet marked by the first run); the first goes
 * on with its own canary until it ends (here, cancelled).
 */
import { describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  createWorkload,
  initialImage,
  kubectl,
  kubectlJson,
  runAction,
  type ActionRun,
} from './harness.js';

interface StatefulSet {
  metadata: { generation: number; annotations?: Record<string, string> };
  spec: { updateStrategy?: { rollingUpdate?: { partition?: number } } };
}

interface Canary {
  metadata: { uid: string; annotations?: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
}

/** The canary as it is now: its uid, the run that made it, its image and replicas. */
function canaryNow(name: string) {
  const found = kubectl(['get', 'deployment', `${name}-canary`, '-n', NAMESPACE, '--ignore-not-found', '-o', 'json']);
  if (found.trim() === '') return undefined;
  const canary = JSON.parse(found) as Canary;
  return {
    uid: canary.metadata.uid,
    run: canary.metadata.annotations?.['kube-ship.dev/canary-run'],
    image: canary.spec.template.spec.containers[0]?.image,
    replicas: canary.spec.replicas,
  };
}

describe('two runs on one workload', () => {
  it("the second, started during the first one's canary, fails naming it and never changes it", async () => {
    const name = 'kr-web';
    kubectl(['delete', 'deployment', `${name}-canary`, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
    createDeployment(name, initialImage(name), { replicas: 2 });
    const generation = () =>
      kubectlJson<{ metadata: { generation: number } }>(['get', 'deployment', name, '-n', NAMESPACE]).metadata
        .generation;
    const before = generation();
    let first: ReturnType<typeof canaryNow>;
    let second: ActionRun | undefined;
    let afterSecond: ReturnType<typeof canaryNow>;
    const run = await runAction(appInputs(name, 'v2', name, { canary: '1', bake: '60s' }), {
      during: [
        {
          when: ({ log }) => {
            if (!log.includes('baking 60s')) return false;
            if (first === undefined) {
              first = canaryNow(name);
              void runAction(appInputs(name, 'v3', name, { canary: '1', bake: '0s' })).then((r) => (second = r));
            }
            if (second === undefined) return false;
            afterSecond = canaryNow(name);
            return true;
          },
          act: 'runner-cancel',
        },
      ],
    });
    expect(second?.exitCode).toBe(1);
    expect(second?.outputs.result).toBe('failed');
    expect(second?.outputs['failure-reason']).toContain(
      `${NAMESPACE}/${name}-canary already exists and this run did not make it`,
    );
    // The first run's canary, as it was while the second ran: the same object, its run's, its image.
    expect(first?.image).toContain(':v2@');
    expect(afterSecond).toEqual(first);
    expect(second?.log).not.toContain(`${NAMESPACE}/${name}: canary`);
    expect(run.outputs.result).toBe('cancelled');
    expect(run.log).toContain(`Deployment ${NAMESPACE}/${name}-canary: deleted`);
    expect(canaryNow(name)).toBeUndefined();
    expect(generation()).toBe(before);
  });

  it("on a StatefulSet: the second fails naming the first one's canary, and the set stays as the first left it", async () => {
    const name = 'kr-db';
    createWorkload('statefulset', name, `${REGISTRY}/e2e/${name}:initial`, { replicas: 3 });
    const setNow = () => {
      const set = kubectlJson<StatefulSet>(['get', 'statefulset', name, '-n', NAMESPACE]);
      return {
        generation: set.metadata.generation,
        run: set.metadata.annotations?.['kube-ship.dev/canary-run'],
        partition: set.spec.updateStrategy?.rollingUpdate?.partition,
      };
    };
    const inputs = (tag: string, bake: string) => ({
      ...appInputs(name, tag, name, { canary: '1', bake }),
      deployments: '',
      workloads: `${NAMESPACE}/statefulset/${name}`,
    });
    let first: ReturnType<typeof setNow> | undefined;
    let afterSecond: ReturnType<typeof setNow> | undefined;
    let second: ActionRun | undefined;
    const run = await runAction(inputs('v2', '60s'), {
      during: [
        {
          when: ({ log }) => {
            if (!log.includes('baking 60s')) return false;
            if (first === undefined) {
              first = setNow();
              void runAction(inputs('v3', '0s')).then((r) => (second = r));
            }
            if (second === undefined) return false;
            afterSecond = setNow();
            return true;
          },
          act: 'runner-cancel',
        },
      ],
    });
    expect(second?.outputs.result).toBe('failed');
    expect(second?.outputs['failure-reason']).toContain(
      `${NAMESPACE}/statefulset/${name} is in the canary of another deploy`,
    );
    expect(first).toMatchObject({ partition: 2, run: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(afterSecond).toEqual(first);
    expect(run.outputs.result).toBe('cancelled');
    expect(setNow()).toMatchObject({ partition: 0, run: undefined });
  });
});
