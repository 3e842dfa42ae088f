import { describe, expect, it } from 'vitest';
import { preflight } from '../../src/steps/preflight.js';
import type { Target } from '../../src/desired/targets.js';
import { FakeKube } from '../fakes/fake-kube.js';

const target = (name: string, containers: string[] = []): Target => ({
  kind: 'deployment',
  namespace: 'ns',
  name,
  containers,
  input: 'deployments',
});

describe('preflight', () => {
  it('passes when every target resolves and every permission is held, and hands over each target as read', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    const read = await preflight(kube, [target('web')], 'reg/web');
    expect([...read.keys()]).toEqual(['ns/web']);
    expect(read.get('ns/web')?.metadata?.name).toBe('web');
  });

  it('reports every problem at once, each with its fix', async () => {
    const kube = new FakeKube();
    kube.addDeployment('web', 'reg/web:v1');
    kube.addDeployment('paused', 'reg/web:v1');
    kube.deployment('paused')!.spec!.paused = true;
    kube.denied.add('get pods/log');
    kube.denied.add('patch deployments');
    await expect(
      preflight(kube, [target('web', ['nope']), target('missing'), target('paused')], 'reg/web'),
    ).rejects.toThrow(
      [
        'Preflight failed:',
        '- Input "deployments": ns/web has no container "nope" (it has: app); name one of its containers or leave the name out.',
        '- Input "deployments": ns/missing does not exist (no Deployment "missing" in namespace "ns"); check the kind, the name and the namespace',
        '- ns/paused is paused; resume it (kubectl rollout resume deployment/paused) or remove it.',
        '- the kubeconfig\'s identity may not get pods/log, patch deployments.apps in namespace ns; grant them with a Role bound to it (see the README\'s "Permissions")',
      ].join('\n'),
    );
  });
});
