import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubeError, type KubeObject } from '../../src/cluster/kube.js';
import { applyAll } from '../../src/deploy/apply.js';
import { objectRecordsFile, postRecords, saveRecords, writeObjectRecords } from '../../src/deploy/records-file.js';
import { deploy } from '../../src/deploy/rollout.js';
import type { TargetRecord } from '../../src/deploy/target-record.js';
import { restoreUnfinished, type SavedState } from '../../src/steps/restore-unfinished.js';
import type { Helm } from '../../src/helm/helm.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const digest = 'sha256:' + 'b'.repeat(64);
const env = (): NodeJS.ProcessEnv => ({ RUNNER_TEMP: mkdtempSync(join(tmpdir(), 'post-test-')) });

/** A main step killed after its patch landed: web runs v2, and the records file says what it was. */
async function killedAfterPatch(kube: FakeKube): Promise<string> {
  kube.addDeployment('web', 'reg/web:v1');
  let records: TargetRecord[] = [];
  const result = await deploy(
    kube,
    {
      targets: [{ kind: 'deployment', namespace: 'ns', name: 'web', containers: [], input: 'deployments' }],
      image: 'reg/web',
      reference: `reg/web:v2@${digest}`,
      digest,
      changeCause: 'kube-ship deployed v2',
      timeoutMs: 5000,
      rollback: true,
      rollbackTimeoutMs: 5000,
      failFast: true,
      allowedRestarts: 0,
      bakeMs: 0,
      signal: new AbortController().signal,
      onPatched: (r) => (records = r),
    },
    recordingLog(),
  );
  expect(result.result).toBe('success');
  return saveRecords(records, env());
}

/** A main step killed after applying its manifests: one ConfigMap created, one changed. */
async function killedAfterApply(kube: FakeKube): Promise<string> {
  const configMap = (name: string, data: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'ns' },
    data,
  });
  kube.objects.set('ConfigMap ns/settings', {
    ...configMap('settings', { MODE: 'safe' }),
    metadata: { name: 'settings', namespace: 'ns', uid: 'uid-settings', resourceVersion: '3' },
  });
  const objects = [configMap('settings', { MODE: 'broken' }), configMap('extra', { A: '1' })].map((object, i) => ({
    file: 'k8s/app.yaml',
    document: i + 1,
    object,
  }));
  const file = objectRecordsFile(env());
  const applied = await applyAll(
    kube,
    objects,
    { force: false, retryMs: 1000, onApplied: (records) => writeObjectRecords(file, records) },
    recordingLog(),
  );
  expect(applied.reports.map((r) => r.outcome)).toEqual(['configured', 'created']);
  return file;
}

/** The post step's context: `connect` counts its calls and answers `kube`. */
function context(kube: FakeKube, rollback = true) {
  const log = recordingLog();
  const calls = { connect: 0 };
  return {
    log,
    calls,
    undo: {
      rollback: () => rollback,
      connect: () => {
        calls.connect += 1;
        return kube;
      },
      log,
    },
  };
}

const saved = (over: Partial<SavedState>): SavedState => ({
  recordsFile: '',
  objectsFile: '',
  jobsFile: '',
  routeFile: '',
  finished: false,
  ...over,
});

describe('restoreUnfinished (the post step)', () => {
  it('restores the targets of a main step killed after its patch, from the records file', async () => {
    const kube = new FakeKube();
    const recordsFile = await killedAfterPatch(kube);
    const { undo, log } = context(kube);
    expect(await restoreUnfinished(saved({ recordsFile }), undo)).toBeUndefined();
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v1');
    expect(log.lines).toContain('warning: The deploy did not finish: undoing what it changed in ns/web');
  });

  it('undoes the objects a killed main step applied: the created one deleted, the changed one set back', async () => {
    const kube = new FakeKube();
    const objectsFile = await killedAfterApply(kube);
    const { undo, log } = context(kube);
    expect(await restoreUnfinished(saved({ objectsFile }), undo)).toBeUndefined();
    expect(kube.deleted).toEqual(['ConfigMap ns/extra']);
    expect(kube.objects.get('ConfigMap ns/settings')?.data).toEqual({ MODE: 'safe' });
    expect(log.lines).toContain(
      'warning: The deploy did not finish: undoing what it changed in ConfigMap ns/settings, ConfigMap ns/extra',
    );
  });

  it('sets a changed Secret back and deletes a created one from the records file, Secret values hashed', async () => {
    const kube = new FakeKube();
    const secret = (name: string, data: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: 'ns' },
      data,
    });
    kube.objects.set('Secret ns/db', {
      ...secret('db', { PASSWORD: 'b2xk', USER: 'dXNlcg==', THEIRS: 'dGhlaXJz' }),
      metadata: { name: 'db', namespace: 'ns', uid: 'uid-db', resourceVersion: '3' },
    });
    const objectsFile = objectRecordsFile(env());
    await applyAll(
      kube,
      [secret('db', { PASSWORD: 'bmV3', USER: 'dXNlcg==' }), secret('extra', { KEY: 'a2V5' })].map((object, i) => ({
        file: 'k8s/secrets.yaml',
        document: i + 1,
        object,
      })),
      { force: false, retryMs: 1000, onApplied: (records) => writeObjectRecords(objectsFile, records) },
      recordingLog(),
    );
    expect(readFileSync(objectsFile, 'utf8')).not.toContain('a2V5');
    const { undo } = context(kube);
    expect(await restoreUnfinished(saved({ objectsFile }), undo)).toBeUndefined();
    // The applied configuration goes back whole (USER, unchanged, keeps its value), with PASSWORD set back.
    expect(kube.objects.get('Secret ns/db')?.data).toEqual({ PASSWORD: 'b2xk', USER: 'dXNlcg==', THEIRS: 'dGhlaXJz' });
    expect(kube.deleted).toEqual(['Secret ns/extra']);
  });

  it('removes the records files once read, whether it restored, found the main step finished, or failed', async () => {
    const kube = new FakeKube();
    const restored = await killedAfterPatch(kube);
    await restoreUnfinished(saved({ recordsFile: restored }), context(kube).undo);
    const finished = await killedAfterPatch(new FakeKube());
    await restoreUnfinished(saved({ recordsFile: finished, finished: true }), context(kube).undo);
    const failing = await killedAfterPatch(kube);
    writeFileSync(failing, '[{"key":"ns/web","kind":"deployment","namespace":"ns","name":"web","uid":""}]');
    await expect(restoreUnfinished(saved({ recordsFile: failing }), context(kube).undo)).rejects.toThrow('has no uid');
    expect([restored, finished, failing].map((f) => existsSync(dirname(f)))).toEqual([false, false, false]);
  });

  it('restores nothing from a records file with a record whose object is not the one it names', async () => {
    const kube = new FakeKube();
    const objectsFile = await killedAfterApply(kube);
    const records = JSON.parse(readFileSync(objectsFile, 'utf8')) as { applied: KubeObject }[];
    records[0]!.applied.metadata.namespace = 'kube-system';
    writeFileSync(objectsFile, JSON.stringify(records));
    const { undo, calls } = context(kube);
    await expect(restoreUnfinished(saved({ objectsFile }), undo)).rejects.toThrow(
      'record 1 (ConfigMap ns/settings) holds another object than ConfigMap ns/settings',
    );
    expect(calls.connect).toBe(0);
    expect(kube.objects.get('ConfigMap ns/settings')?.data).toEqual({ MODE: 'broken' });
  });

  it('deletes a Job a killed main step left running (a migration), by its uid, with the records it was saved in', async () => {
    const kube = new FakeKube();
    let file = '';
    const records = postRecords(env(), (fact, path) => {
      if (fact === 'jobsFile') file = path;
    });
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job' as const,
      namespace: 'ns',
      name: 'migrate',
      uid: 'uid-Job ns/migrate',
    };
    await kube.applyObject(
      { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: 'ns' } },
      { dryRun: false, force: true },
    );
    records.saveJobs([job]);
    const { undo, log } = context(kube);
    expect(await restoreUnfinished(saved({ jobsFile: file }), undo)).toBeUndefined();
    expect(kube.deleted).toEqual(['Job ns/migrate']);
    expect(log.lines.join('\n')).toContain('Deleted Job ns/migrate');
    expect(existsSync(file)).toBe(false);
  });

  it('a killed chart deploy: deletes the Job of a check it left running, then finishes the release', async () => {
    const kube = new FakeKube();
    const files: Record<string, string> = {};
    const records = postRecords(env(), (fact, path) => (files[fact] = path));
    await kube.applyObject(
      { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'smoke-1', namespace: 'ns' } },
      { dryRun: false, force: true },
    );
    records.saveJobs([
      { apiVersion: 'batch/v1', kind: 'Job', namespace: 'ns', name: 'smoke-1', uid: 'uid-Job ns/smoke-1' },
    ]);
    records.saveRelease({ release: 'web', namespace: 'ns', revision: 3 });
    const { undo } = context(kube);
    const finished: string[] = [];
    const helm = () =>
      ({
        latest: async () => ({ revision: 3, status: 'deployed' }),
        close: () => finished.push('closed'),
      }) as unknown as Helm & { close(): void };
    const result = await restoreUnfinished(saved({ jobsFile: files.jobsFile, releaseFile: files.releaseFile }), {
      ...undo,
      helm,
    });
    expect(result).toBeUndefined();
    expect(kube.deleted).toEqual(['Job ns/smoke-1']);
    expect(finished).toEqual(['closed']);
  });

  it('leaves a Job that ended (its record removed) alone', async () => {
    const kube = new FakeKube();
    let file = '';
    const records = postRecords(env(), (fact, path) => {
      if (fact === 'jobsFile') file = path;
    });
    records.saveJobs([{ apiVersion: 'batch/v1', kind: 'Job', namespace: 'ns', name: 'm', uid: 'u' }]);
    records.saveJobs([]);
    const { undo, calls } = context(kube);
    expect(await restoreUnfinished(saved({ jobsFile: file }), undo)).toBeUndefined();
    expect(calls.connect).toBe(0);
  });

  it('does nothing, and does not connect, when the main step finished', async () => {
    const kube = new FakeKube();
    const recordsFile = await killedAfterPatch(kube);
    const { undo, log, calls } = context(kube);
    expect(await restoreUnfinished(saved({ recordsFile, finished: true }), undo)).toBeUndefined();
    expect(calls.connect).toBe(0);
    expect(log.lines).toEqual([]);
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:v2@${digest}`);
  });

  it('does nothing when the main step saved no records (it changed nothing)', async () => {
    const { undo, log, calls } = context(new FakeKube());
    expect(await restoreUnfinished(saved({}), undo)).toBeUndefined();
    expect(calls.connect).toBe(0);
    expect(log.lines).toEqual([]);
  });

  it('with rollback: false, says what it leaves and changes nothing', async () => {
    const kube = new FakeKube();
    const recordsFile = await killedAfterPatch(kube);
    const { undo, log, calls } = context(kube, false);
    expect(await restoreUnfinished(saved({ recordsFile }), undo)).toBeUndefined();
    expect(calls.connect).toBe(0);
    expect(log.lines).toEqual(['warning: The deploy did not finish; ns/web left as they are (rollback: false)']);
    expect(kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:v2@${digest}`);
  });

  it('returns what it could not restore, for the step to fail with', async () => {
    const kube = new FakeKube();
    const recordsFile = await killedAfterPatch(kube);
    kube.restoreErrors.set('web', new KubeError(403, 'patch deployment ns/web: forbidden'));
    const { undo } = context(kube);
    expect(await restoreUnfinished(saved({ recordsFile }), undo)).toBe(
      'Could not restore: ns/web: patch deployment ns/web: forbidden',
    );
  });
});
