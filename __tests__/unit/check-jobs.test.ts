/**
 * Preflight of `verify` and `pre-deploy` on the fake cluster: each Job file read (one Job, its namespace given, a
 * check's Job renamed to be unique to the run), dry-run unless a Job of that name is there, and only the access the
 * checks use asked for, the missing part named.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseVerify } from '../../src/desired/verify.js';
import { checkJobs } from '../../src/steps/check-jobs.js';
import { FakeKube } from '../fakes/fake-kube.js';

const workspace = mkdtempSync(join(tmpdir(), 'check-jobs-'));
afterAll(() => rmSync(workspace, { recursive: true, force: true }));
const job = (name: string) =>
  JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'reg/app:1' }] } } },
  });
writeFileSync(join(workspace, 'migrate.yaml'), job('migrate'));
writeFileSync(join(workspace, 'smoke.yaml'), job('smoke-test'));
writeFileSync(join(workspace, 'two.yaml'), `${job('a')}\n---\n${job('b')}`);
writeFileSync(
  join(workspace, 'config.yaml'),
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }),
);

const options = { defaultNamespace: 'shop', workspace, namespaces: ['shop'], suffix: () => 'abc123' };

describe('checkJobs', () => {
  it('reads the Jobs, gives them the namespace, renames a check’s Job for the run, and dry-runs them', async () => {
    const kube = new FakeKube();
    const checked = await checkJobs(
      kube,
      { verify: parseVerify('- job: smoke.yaml\n- http: {port: 8080}'), preDeploy: ['migrate.yaml'], annotated: [] },
      options,
    );
    expect(checked.checks[0]?.job?.object.metadata).toMatchObject({ name: 'smoke-test-abc123', namespace: 'shop' });
    expect(checked.checks[1]?.job).toBeUndefined();
    expect(checked.preDeploy.map((j) => j.object.metadata)).toMatchObject([{ name: 'migrate', namespace: 'shop' }]);
    expect(kube.applies.map((a) => [a.object.metadata.name, a.options.dryRun])).toEqual([
      ['smoke-test-abc123', true],
      ['migrate', true],
    ]);
  });

  it('does not dry-run a Job whose name an earlier run left (its template is immutable): the deploy replaces it', async () => {
    const kube = new FakeKube();
    await kube.applyObject(JSON.parse(job('migrate')) as never, { dryRun: false, force: true });
    const before = kube.applies.length;
    kube.objects.set('Job shop/migrate', {
      ...JSON.parse(job('migrate')),
      metadata: { name: 'migrate', namespace: 'shop', uid: 'u' },
    });
    await checkJobs(kube, { verify: [], preDeploy: ['migrate.yaml'], annotated: [] }, options);
    expect(kube.applies.length).toBe(before);
  });

  it.each([
    ['two.yaml', 'must hold exactly one Job'],
    ['config.yaml', 'must hold exactly one Job'],
  ])('refuses %s: %s', async (file, message) => {
    await expect(checkJobs(new FakeKube(), { verify: [], preDeploy: [file], annotated: [] }, options)).rejects.toThrow(
      `Input "pre-deploy": ${file} ${message}`,
    );
  });

  it('asks only for the access the checks use, and names what is missing', async () => {
    const kube = new FakeKube();
    kube.denied = new Set(['get pods/proxy', 'get services/proxy', 'create jobs']);
    await expect(
      checkJobs(kube, { verify: parseVerify('- http: {port: 8080}'), preDeploy: [], annotated: [] }, options),
    ).rejects.toThrow(/may not get pods\/proxy in namespace shop; the checks of "verify"/);
    // A url check needs nothing from the cluster.
    await expect(
      checkJobs(
        kube,
        { verify: parseVerify("- http: {url: 'https://x.test/'}"), preDeploy: [], annotated: [] },
        options,
      ),
    ).resolves.toBeDefined();
    await expect(
      checkJobs(
        kube,
        {
          verify: parseVerify('- http: {service: monitoring/web, port: 80}'),
          preDeploy: ['migrate.yaml'],
          annotated: [],
        },
        options,
      ),
    ).rejects.toThrow(/create jobs.batch in namespace shop[\s\S]*get services\/proxy in namespace monitoring/);
  });
});
