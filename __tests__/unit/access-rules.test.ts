/**
 * Preflight's reading of a SelfSubjectRulesReview: which rules grant a permission (RBAC's matching, as a table), and
 * the adapter's use of it (one review per namespace; access reviews only for what an incomplete answer leaves open).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientConfig } from '../../src/cluster/client-config.js';
import { accessFor, ruleGrants, type ResourceRule } from '../../src/cluster/access.js';
import { createKube } from '../../src/cluster/kube-client.js';
import type { AccessCheck } from '../../src/cluster/kube.js';

const pods: AccessCheck = { verb: 'list', group: '', resource: 'pods' };
const podLogs: AccessCheck = { verb: 'get', group: '', resource: 'pods', subresource: 'log' };
const patchDeployments: AccessCheck = { verb: 'patch', group: 'apps', resource: 'deployments' };
const rule = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): ResourceRule => ({
  verbs,
  apiGroups,
  resources,
  ...(resourceNames ? { resourceNames } : {}),
});

describe('ruleGrants', () => {
  it.each([
    // [#, rule, check, granted]
    [1, rule(['list'], [''], ['pods']), pods, true],
    [2, rule(['get', 'list', 'watch'], [''], ['pods', 'services']), pods, true],
    [3, rule(['*'], [''], ['pods']), pods, true],
    [4, rule(['list'], ['*'], ['pods']), pods, true],
    [5, rule(['list'], [''], ['*']), pods, true],
    [6, rule(['*'], ['*'], ['*']), patchDeployments, true],
    [7, rule(['watch'], [''], ['pods']), pods, false], // another verb
    [8, rule(['list'], ['apps'], ['pods']), pods, false], // another group
    [9, rule(['list'], [''], ['pod']), pods, false], // another resource
    [10, rule(['list'], [''], ['pods'], ['web-1']), pods, false], // some objects only
    [11, rule(['*'], ['*'], ['*'], ['web-1']), pods, false],
    [12, rule(['get'], [''], ['pods/log']), podLogs, true],
    [13, rule(['get'], [''], ['*/log']), podLogs, true],
    [14, rule(['get'], [''], ['*']), podLogs, true],
    [15, rule(['get'], [''], ['pods']), podLogs, false], // the resource does not grant its subresources
    [16, rule(['get'], [''], ['pods/*']), podLogs, false], // RBAC has no "every subresource of pods"
    [17, rule(['get'], [''], ['pods/exec']), podLogs, false],
    [18, rule(['get'], [''], ['*/log']), { verb: 'get', group: '', resource: 'pods' }, false],
    [19, rule(['patch'], ['apps'], ['deployments']), patchDeployments, true],
    [20, rule(['patch'], [''], ['deployments']), patchDeployments, false], // the core group is not apps
    [21, { verbs: ['patch'], resources: ['deployments'] }, patchDeployments, false], // no apiGroups: none
    [22, rule([], ['*'], ['*']), pods, false],
  ])('%i', (_n, given, check, granted) => {
    expect(ruleGrants(given, check)).toBe(granted);
  });
});

/** A small API server answering the reviews: `rules` for a rules review, `allowed` for each access review. */
async function reviewServer(status: object, allowed: (check: AccessCheck) => boolean) {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      const sent = JSON.parse(body) as { spec: { resourceAttributes?: AccessCheck & { namespace: string } } };
      const kind = req.url?.split('/').at(-1) ?? '';
      if (kind === 'selfsubjectrulesreviews') {
        asked.push('rules');
        res.end(JSON.stringify({ ...sent, status }));
        return;
      }
      const check = sent.spec.resourceAttributes as AccessCheck;
      asked.push(`${check.verb} ${check.resource}${check.subresource ? `/${check.subresource}` : ''}`);
      res.end(JSON.stringify({ ...sent, status: { allowed: allowed(check) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = new ClientConfig();
  config.loadFromClusterAndUser(
    { name: 't', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    { name: 't', token: 'x' },
  );
  return { kube: createKube(config), asked, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

const deployer = [
  rule(['get', 'list', 'watch', 'patch'], ['apps'], ['deployments', 'replicasets']),
  rule(['list', 'watch'], [''], ['pods', 'events']),
];
const checks = accessFor(['deployment']);
const denied = async (kube: ReturnType<typeof createKube>, namespace: string) =>
  (await Promise.all(checks.map(async (c) => ((await kube.canI(namespace, c)) ? [] : [c])))).flat();

describe('canI on a rules review', () => {
  it('asks one rules review for all the checks of a namespace, and denies what a complete answer does not grant', async () => {
    const server = await reviewServer({ resourceRules: deployer, incomplete: false }, () => true);
    close = server.close;
    expect(await denied(server.kube, 'shop')).toEqual([podLogs]);
    expect(server.asked).toEqual(['rules']);
  });

  it('asks access reviews for what an incomplete answer does not grant, and takes their answer', async () => {
    const server = await reviewServer(
      { resourceRules: deployer, incomplete: true, evaluationError: 'webhook' },
      (c) => c.subresource === 'log',
    );
    close = server.close;
    expect(await denied(server.kube, 'shop')).toEqual([]);
    expect(server.asked).toEqual(['rules', 'get pods/log']);
  });

  it('asks access reviews for a check with no namespace (cluster-wide)', async () => {
    const server = await reviewServer({ resourceRules: [rule(['*'], ['*'], ['*'])], incomplete: false }, () => false);
    close = server.close;
    expect(await server.kube.canI('', pods)).toBe(false);
    expect(server.asked).toEqual(['list pods']);
  });
});
