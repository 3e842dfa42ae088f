/** The Preflight phase's manifest checks on the fake Kube, with the files in a temporary workspace. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Secrets } from '../../src/lib/secrets.js';
import { checkCluster, type CheckInputs } from '../../src/steps/check-cluster.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const SECRET = `apiVersion: v1
kind: Secret
metadata: { name: db }
stringData: { password: "sk_live_4242", api-key: 8837465529910342 }
`;

function workspaceWith(text: string): string {
  const root = mkdtempSync(join(tmpdir(), 'kube-ship-check-'));
  writeFileSync(join(root, 'secret.yaml'), text);
  return root;
}

const inputs = (manifests: string[]): CheckInputs => ({
  deployments: [],
  workloads: [],
  image: 'registry.local/acme/web',
  manifests,
  pinned: undefined,
  tags: ['v1'],
  'force-conflicts': false,
  preview: false,
  verify: [],
  'pre-deploy': [],
  canary: [],
  'canary-route': undefined,
});

describe('checkCluster with manifests', () => {
  it('masks every value of a Secret, whatever YAML made of it, before the first request, and refuses an unquoted one', async () => {
    const kube = new FakeKube();
    const masked: string[] = [];
    const requests: string[][] = [];
    kube.kindInfo = async (apiVersion, kind) => {
      requests.push([...masked]);
      return FakeKube.prototype.kindInfo.call(kube, apiVersion, kind);
    };
    const secrets = new Secrets((value) => masked.push(value));
    const checked = checkCluster(kube, inputs(['secret.yaml']), {
      defaultNamespace: 'shop',
      secrets,
      workspace: workspaceWith(SECRET),
      log: recordingLog(),
    });
    await expect(checked).rejects.toThrow(
      'secret.yaml document 1 (Secret db): stringData.api-key is not a string (YAML read it as a number)',
    );
    expect(masked).toEqual(expect.arrayContaining(['sk_live_4242', '8837465529910342']));
    expect(requests).toEqual([]);
  });

  it('has every Secret value masked when discovery, the first request, is sent', async () => {
    const kube = new FakeKube();
    const masked: string[] = [];
    const requests: string[][] = [];
    kube.kindInfo = async (apiVersion, kind) => {
      requests.push([...masked]);
      return FakeKube.prototype.kindInfo.call(kube, apiVersion, kind);
    };
    const secrets = new Secrets((value) => masked.push(value));
    await checkCluster(kube, inputs(['secret.yaml']), {
      defaultNamespace: 'shop',
      secrets,
      workspace: workspaceWith(SECRET.replace('8837465529910342', '"8837465529910342"') + deploymentText),
      log: recordingLog(),
    });
    expect(requests[0]).toEqual(expect.arrayContaining(['sk_live_4242', '8837465529910342']));
  });
});

const deploymentText = `---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: app, image: registry.local/acme/web:v1 }] }
`;

describe('checkCluster with canary: the access a canary needs', () => {
  const statefulSet = (kube: FakeKube, namespace: string) =>
    kube.statefulSets.set(`${namespace}/db`, {
      metadata: { name: 'db', namespace, uid: 'uid-db', generation: 1 },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'db' } },
        serviceName: 'db',
        template: {
          metadata: { labels: { app: 'db' } },
          spec: { containers: [{ name: 'db', image: 'registry.local/acme/web:v1' }] },
        },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      },
    });
  const canaryOf = (workloads: CheckInputs['workloads']): CheckInputs => ({
    ...inputs([]),
    workloads,
    canary: [{ kind: 'percent', percent: 50 }],
  });
  const options = { defaultNamespace: 'ns', secrets: new Secrets(), workspace: '/nowhere', log: recordingLog() };
  const target = (kind: 'deployment' | 'statefulset', namespace: string, name: string) => ({
    kind,
    namespace,
    name,
    containers: [],
    input: 'workloads' as const,
  });

  it('asks create and delete deployments only where a Deployment gets a NAME-canary, not for a StatefulSet', async () => {
    const kube = new FakeKube();
    kube.denied = new Set(['create deployments', 'delete deployments']);
    statefulSet(kube, 'data');
    kube.addDeployment('web', 'registry.local/acme/web:v1', 2, 'ns');
    await expect(checkCluster(kube, canaryOf([target('statefulset', 'data', 'db')]), options)).resolves.toBeDefined();
    await expect(
      checkCluster(kube, canaryOf([target('statefulset', 'data', 'db'), target('deployment', 'ns', 'web')]), options),
    ).rejects.toThrow(/may not create deployments.apps, delete deployments.apps in namespace ns;/);
  });
});
