/**
 * The phases of the main step (main.ts's `phases` and the steps it runs) on fakes of our own interfaces: the fake
 * Kube, and a builder, command runner, registry, publisher and job that record what they are asked.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Builder, BuildOutput, BuildSpec } from '../../src/image/builder.js';
import type { Run } from '../../src/image/exec.js';
import type { Registry } from '../../src/image/registry.js';
import type { Kustomize } from '../../src/render/kustomize.js';
import {
  KubeError,
  type JsonPatchOp,
  type KubeObject,
  type ApplyOptions,
  type WorkloadRef,
} from '../../src/cluster/kube.js';
import { CancelledError } from '../../src/lib/errors.js';
import { Secrets } from '../../src/lib/secrets.js';
import type { Log } from '../../src/lib/log.js';
import { phases, type Adapters, type RunState } from '../../src/main.js';
import type { PreviewStamp } from '../../src/preview/since-preview.js';
import type { Publisher } from '../../src/report/publish.js';
import type { Report } from '../../src/report/report.js';
import { parseInputs, type Inputs } from '../../src/desired/inputs.js';
import { resolveDigest } from '../../src/steps/build-and-push.js';
import { finishReport, startReport } from '../../src/steps/finish-report.js';
import { openCluster } from '../../src/steps/open-cluster.js';
import type { Job, PostFact } from '../../src/steps/job.js';
import { FakeKube, recordingLog } from '../fakes/fake-kube.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const HEAD = 'feedface'.repeat(5);
const DIGEST = 'sha256:' + 'b'.repeat(64);

/** A kubeconfig for the fake: only read, never dialled (the fake Kube is what `connect` returns). */
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://fake' } }]
users: [{ name: u, user: { token: sekret-token } }]
contexts: [{ name: x, context: { cluster: c, user: u, namespace: ns } }]
current-context: x
`;

/** Manifests (app.yaml in the workspace): a Deployment that runs the image, and a ConfigMap. */
const MANIFESTS = `apiVersion: apps/v1
kind: Deployment
metadata: { name: api }
spec:
  replicas: 1
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec: { containers: [{ name: app, image: reg/web:v1 }] }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings }
data: { mode: fast }
`;

/** The fake Kube, recording every write with its dry-run flag; a dry-run patch changes nothing, as on a server. */
class WritesKube extends FakeKube {
  writes: { what: string; dryRun: boolean; ops?: JsonPatchOp[] }[] = [];
  override async patchWorkload(ref: WorkloadRef, ops: JsonPatchOp[], options?: { dryRun?: boolean }) {
    this.writes.push({ what: `patch ${ref.name}`, dryRun: options?.dryRun === true, ops });
    if (options?.dryRun) return this.getWorkload(ref);
    return super.patchWorkload(ref, ops);
  }
  override async applyObject(object: KubeObject, options: ApplyOptions) {
    this.writes.push({ what: `apply ${object.kind} ${object.metadata.name}`, dryRun: options.dryRun });
    return super.applyObject(object, options);
  }
}

class RecordingJob implements Job {
  events: string[] = [];
  saved: Partial<Record<PostFact, string>> = {};
  outputs: Record<string, string> = {};
  summaryFails = false;
  printed: string[] = [];
  /** The pull request head the runner's event names, if any. */
  head: string | undefined = undefined;
  /** When the pushed head commit was made, as the runner's event says. */
  pushedAt: string | undefined = undefined;
  print(lines: string[]): void {
    this.printed.push(...lines);
    this.events.push(`print ${lines.length}`);
  }
  save(fact: PostFact, value: string): void {
    this.saved[fact] = value;
  }
  setOutput(name: string, value: string): void {
    this.outputs[name] = value;
    this.events.push(`output ${name}`);
  }
  async writeSummary(markdown: string): Promise<void> {
    if (this.summaryFails) throw new Error('summary file not writable');
    this.events.push(`summary ${markdown.length > 0}`);
  }
  pullRequestHead(): string | undefined {
    return this.head;
  }
  headCommitTime(): string | undefined {
    return this.pushedAt;
  }
  setFailed(message: string): void {
    this.events.push(`failed ${message}`);
  }
}

function fakeBuilder(digest: string | undefined = DIGEST) {
  const specs: BuildSpec[] = [];
  const builder: Builder = {
    kind: 'buildx',
    async build(spec: BuildSpec): Promise<BuildOutput> {
      specs.push(spec);
      return {
        builder: 'buildx',
        digest,
        imageId: 'sha256:' + 'c'.repeat(64),
        metadata: { 'image.name': 'reg/web:v2', 'buildx.build.ref': 'builder/1' },
        buildMs: 1200,
        pushMs: 300,
        cachedSteps: 1,
        totalSteps: 3,
      };
    },
  };
  return { specs, find: async () => builder };
}

/** A kustomize that builds every directory into `yaml`, recording the directories it was given. */
function fakeKustomize(yaml = MANIFESTS): Kustomize & { built: string[]; yaml: string } {
  const built: string[] = [];
  return {
    built,
    yaml,
    async build(directory) {
      built.push(directory);
      return { yaml: this.yaml, command: 'kustomize build' };
    },
  };
}

function fakeRegistry(served: string | undefined): Registry & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async manifestDigest(repository, reference) {
      asked.push(`${repository}:${reference}`);
      return served;
    },
  };
}

/** A publisher that finds `stamp` on a pull request whose head is `head` (by default, the stamp's commit). */
function fakePublisher(stamp?: PreviewStamp, head = stamp?.sha): Publisher & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async startDeployment() {
      calls.push('startDeployment');
    },
    async publish(report: Report) {
      calls.push(`publish ${report.result}`);
    },
    async findPreview() {
      calls.push('findPreview');
      return stamp && { stamp, head };
    },
  };
}

const commands: string[][] = [];
/** Commands run (docker login, git log): all succeed, git with no output. */
const exec: Run = async (command, args) => {
  commands.push([command, ...args]);
  return { exitCode: 0, stdout: '', stderr: '' };
};

function inputsOf(raw: Record<string, string>): Inputs {
  const values: Record<string, string> = {
    image: 'reg/web',
    tags: 'v2',
    deployments: 'web',
    kubeconfig: KUBECONFIG,
    build: 'false',
    bake: '0s',
    timeout: '5s',
    ...raw,
  };
  return parseInputs((name) => values[name] ?? '', SHA);
}

interface Setup {
  kube: WritesKube;
  state: RunState;
  adapters: Adapters & { job: RecordingJob; kustomize: ReturnType<typeof fakeKustomize> };
  builder: ReturnType<typeof fakeBuilder>;
  registry: ReturnType<typeof fakeRegistry>;
  publisher: ReturnType<typeof fakePublisher>;
  log: Log & { lines: string[] };
}

function setup(options: { signal?: AbortSignal } = {}): Setup {
  const kube = new WritesKube();
  kube.addDeployment('web', 'reg/web:v1');
  const temp = mkdtempSync(join(tmpdir(), 'steps-'));
  writeFileSync(join(temp, 'app.yaml'), MANIFESTS);
  mkdirSync(join(temp, 'overlays', 'prod'), { recursive: true });
  const env = { GITHUB_SHA: SHA, RUNNER_TEMP: temp, GITHUB_WORKSPACE: temp };
  const log = recordingLog();
  const state: RunState = {
    report: startReport(env),
    metadata: undefined,
    signal: options.signal ?? new AbortController().signal,
    secrets: new Secrets(),
    env,
    log,
  };
  const builder = fakeBuilder();
  const registry = fakeRegistry(DIGEST);
  const publisher = fakePublisher();
  const http = { get: () => Promise.reject(new Error('no HTTP in this test')) };
  const adapters = {
    connect: () => kube,
    builder: builder.find,
    exec,
    registry,
    publisher,
    job: new RecordingJob(),
    http,
    kustomize: fakeKustomize(),
  };
  return { kube, state, adapters, builder, registry, publisher, log };
}

describe('the phases of the main step', () => {
  it('builds nothing, pushes nothing and starts no deployment when preflight fails', async () => {
    const s = setup();
    const inputs = inputsOf({
      build: 'true',
      deployments: 'web\nmissing',
      'registry-username': 'bot',
      'registry-password': 'pw',
    });
    commands.length = 0;
    await expect(phases(inputs, s.state, s.adapters)).rejects.toThrow(/ns\/missing does not exist/);
    expect(s.builder.specs).toEqual([]);
    expect(commands).toEqual([]);
    expect(s.registry.asked).toEqual([]);
    expect(s.publisher.calls).toEqual([]);
    expect(s.kube.writes).toEqual([]);
  });

  it("labels the built image with when the push's head commit was made", async () => {
    const s = setup();
    s.adapters.job.pushedAt = '2026-03-04T05:06:07+02:00';
    await phases(inputsOf({ build: 'true' }), s.state, s.adapters);
    expect(s.builder.specs[0]?.labels).toContain('org.opencontainers.image.created=2026-03-04T03:06:07.000Z');
  });

  it('builds after preflight, resolves the digest, deploys by digest and reports the build', async () => {
    const s = setup();
    commands.length = 0;
    await phases(
      inputsOf({ build: 'true', 'registry-username': 'bot', 'registry-password': 'pw' }),
      s.state,
      s.adapters,
    );
    expect(commands[0]).toEqual(['docker', 'login', 'docker.io', '--username', 'bot', '--password-stdin']);
    expect(s.adapters.job.saved.loggedIn).toBe('docker.io');
    expect(s.builder.specs.map((b) => b.tags)).toEqual([['reg/web:v2']]);
    expect(s.registry.asked).toEqual(['reg/web:v2']);
    expect(s.state.report).toMatchObject({
      result: 'success',
      digest: DIGEST,
      reference: `reg/web:v2@${DIGEST}`,
      build: { builder: 'buildx', buildSeconds: 1.2, pushSeconds: 0.3, cachedSteps: 1, totalSteps: 3 },
    });
    expect(s.state.metadata).toEqual({
      'image.name': 'reg/web:v2',
      'buildx.build.ref': 'builder/1',
      'containerimage.digest': DIGEST,
    });
    expect(s.kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe(`reg/web:v2@${DIGEST}`);
    expect(s.adapters.job.saved.finished).toBe('true');
    expect(s.adapters.job.saved.recordsFile).toMatch(/records\.json$/);
    // Finished: nothing is left for the post step, so the records are gone from the runner.
    expect(existsSync(s.adapters.job.saved.recordsFile!)).toBe(false);
  });

  it('shows where each deployed workload is reachable', async () => {
    const s = setup();
    s.kube.services = [
      { metadata: { name: 'web', namespace: 'ns' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } },
    ];
    await phases(inputsOf({}), s.state, s.adapters);
    expect(s.state.report.targets[0]?.routes?.services.map((r) => r.name)).toEqual(['web']);
  });

  it('sends only dry runs in a preview, and reports the plan of the head commit', async () => {
    const s = setup();
    s.adapters.job.head = HEAD;
    await phases(inputsOf({ preview: 'true' }), s.state, s.adapters);
    expect(s.kube.writes.length).toBeGreaterThan(0);
    expect(s.kube.writes.filter((w) => !w.dryRun)).toEqual([]);
    expect(s.kube.deployment('web')?.spec?.template.spec?.containers[0]?.image).toBe('reg/web:v1');
    expect(s.state.report).toMatchObject({ result: 'preview', sha: HEAD, failureReason: '' });
    // The plan in the log, fenced: no line of it can be a workflow command.
    expect(s.adapters.job.printed.slice(1, -1)).toEqual([
      `ns/web (resourceVersion 1): app reg/web:v1 -> reg/web:v2@${DIGEST}; the dry run is accepted`,
    ]);
    expect(s.adapters.job.printed[0]).toMatch(/^::stop-commands::[0-9a-f]{32}$/);
    expect(s.state.report.plan?.targets[0]?.containers).toEqual([
      { name: 'app', before: 'reg/web:v1', after: `reg/web:v2@${DIGEST}` },
    ]);
    expect(s.adapters.job.saved.finished).toBe('true');
    expect(s.adapters.job.saved.recordsFile).toBeUndefined();
  });

  it("reports a preview of the run's commit when the event names no pull request (a push)", async () => {
    const s = setup();
    await phases(inputsOf({ preview: 'true' }), s.state, s.adapters);
    expect(s.state.report).toMatchObject({ result: 'preview', sha: SHA });
  });

  it('sends only dry runs in a preview with manifests, and plans every object', async () => {
    const s = setup();
    await phases(inputsOf({ preview: 'true', manifests: 'app.yaml' }), s.state, s.adapters);
    expect(s.kube.writes.map((w) => w.what)).toContain('apply ConfigMap settings');
    expect(s.kube.writes.filter((w) => !w.dryRun)).toEqual([]);
    expect(s.kube.objects.size).toBe(0);
    expect(s.state.report.plan?.objects.map((o) => [o.key, o.action])).toEqual([
      ['ConfigMap ns/settings', 'create'],
      ['Deployment ns/api', 'create'],
    ]);
  });

  it("prints the plan's lines from the scrubbed plan, as the report has it", async () => {
    const s = setup();
    s.kube.objects.set('ConfigMap ns/settings', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'ns', uid: 'u1', resourceVersion: '5' },
      data: { mode: 'postgres://user:hunter22@db:5432/app' },
    });
    await phases(inputsOf({ preview: 'true', manifests: 'app.yaml' }), s.state, s.adapters);
    const line = s.adapters.job.printed.find((l) => l.includes('data.mode'));
    expect(line).toBe('  data.mode: postgres://***@db:5432/app -> fast');
    expect(s.adapters.job.printed.join('\n')).not.toContain('hunter22');
  });

  it('takes a refused dry run into a preview\'s plan as "would fail", and fails a deploy in preflight', async () => {
    const quota = new KubeError(403, 'configmaps "settings" is forbidden: exceeded quota');
    const previewed = setup();
    previewed.kube.refuse.set('ConfigMap ns/settings', quota);
    await phases(inputsOf({ preview: 'true', manifests: 'app.yaml' }), previewed.state, previewed.adapters);
    expect(previewed.state.report).toMatchObject({
      result: 'preview',
      failureReason: 'the cluster would refuse this deploy (see the plan)',
    });
    const deployed = setup();
    deployed.kube.refuse.set('ConfigMap ns/settings', quota);
    await expect(phases(inputsOf({ manifests: 'app.yaml' }), deployed.state, deployed.adapters)).rejects.toThrow(
      /^Preflight failed:\n- dry run of .*exceeded quota/,
    );
    expect(deployed.kube.writes.filter((w) => !w.dryRun)).toEqual([]);
  });

  it('refuses a workload listed as a target and in the manifests, before the build', async () => {
    const s = setup();
    const inputs = inputsOf({ build: 'true', deployments: 'api', manifests: 'app.yaml' });
    s.kube.addDeployment('api', 'reg/web:v1');
    await expect(phases(inputs, s.state, s.adapters)).rejects.toThrow(
      'Input "deployments": ns/api is also in the manifests; list it in one place only.',
    );
    expect(s.builder.specs).toEqual([]);
  });

  it('previews exactly the patch the deploy then sends (one request for both)', async () => {
    const previewed = setup();
    await phases(inputsOf({ preview: 'true' }), previewed.state, previewed.adapters);
    const deployed = setup();
    await phases(inputsOf({}), deployed.state, deployed.adapters);
    const dryRun = previewed.kube.writes.find((w) => w.dryRun)?.ops;
    const sent = deployed.kube.writes.find((w) => !w.dryRun)?.ops;
    expect(dryRun).toBeDefined();
    expect(dryRun).toEqual(sent);
  });

  it('stops before the deploy when the run is cancelled during the build', async () => {
    const cancel = new AbortController();
    const s = setup({ signal: cancel.signal });
    s.adapters.registry = {
      async manifestDigest() {
        cancel.abort();
        return DIGEST;
      },
    };
    await expect(phases(inputsOf({}), s.state, s.adapters)).rejects.toThrow(CancelledError);
    expect(s.kube.writes).toEqual([]);
  });
});

describe('the phases with kustomize', () => {
  it('deploys the objects the kustomization builds by digest, and says which containers got it', async () => {
    const s = setup();
    await phases(inputsOf({ deployments: '', kustomize: 'overlays/prod' }), s.state, s.adapters);
    expect(s.adapters.kustomize.built).toEqual([join(s.state.env.GITHUB_WORKSPACE ?? '', 'overlays', 'prod')]);
    // The fake makes no pods for an applied Deployment (it is rolled back): what was applied is what counts here.
    const applied = s.kube.applies.filter((a) => !a.options.dryRun).map((a) => a.object);
    expect(applied.find((o) => o.kind === 'Deployment')).toMatchObject({
      spec: { template: { spec: { containers: [{ name: 'app', image: `reg/web:v2@${DIGEST}` }] } } },
    });
    expect(applied.find((o) => o.kind === 'ConfigMap')).toMatchObject({ data: { mode: 'fast' } });
    expect(s.log.lines).toContain('Kustomize: built overlays/prod with kustomize build: 2 objects, dry run accepted');
    expect(s.log.lines).toContain(
      'Kustomize: Deployment ns/api gets the pushed digest in container app (written reg/web:v1)',
    );
    expect(s.state.report.objects.map((o) => [o.key, o.source])).toEqual([
      ['ConfigMap ns/settings', 'overlays/prod (kustomize) document 2'],
      ['Deployment ns/api', 'overlays/prod (kustomize) document 1'],
    ]);
  });

  it('says what is wrong with the built objects of "kustomize", not of "manifests", before the build', async () => {
    const s = setup();
    s.adapters.kustomize.yaml = MANIFESTS.replace('reg/web:v1', 'reg/other:v1');
    const inputs = inputsOf({ build: 'true', deployments: '', kustomize: 'overlays/prod' });
    await expect(phases(inputs, s.state, s.adapters)).rejects.toThrow(
      /^Input "kustomize": no container in overlays\/prod \(kustomize\) runs an image from reg\/web;/,
    );
    expect(s.builder.specs).toEqual([]);
  });

  it('builds only a directory inside the workspace', async () => {
    const s = setup();
    const inputs = inputsOf({ deployments: '', kustomize: '../overlays' });
    await expect(phases(inputs, s.state, s.adapters)).rejects.toThrow(
      'Input "kustomize": "../overlays" leaves the workspace with ".."',
    );
    expect(s.adapters.kustomize.built).toEqual([]);
  });
});

describe('resolveDigest', () => {
  const inputs = inputsOf({ build: 'true' });
  it.each([
    ['served as built', DIGEST, DIGEST, undefined],
    ['not built here (buildkit)', undefined, DIGEST, undefined],
    ['missing from the registry', DIGEST, undefined, 'reg/web:v2 is not in the registry; the push did not land'],
    [
      'served differently',
      'sha256:' + 'd'.repeat(64),
      DIGEST,
      `the build reported sha256:${'d'.repeat(64)} but the registry serves ${DIGEST} for reg/web:v2`,
    ],
  ])('%s', async (_name, built, served, error) => {
    const answer = resolveDigest(fakeRegistry(served), inputs, built, recordingLog());
    if (error === undefined) await expect(answer).resolves.toBe(DIGEST);
    else await expect(answer).rejects.toThrow(error);
  });
});

describe('finishReport', () => {
  const failed = (): Report => ({ ...startReport({}), result: 'error', failureReason: 'Preflight failed: nope' });

  it('writes the outputs and the summary and publishes before the step is marked failed', async () => {
    const job = new RecordingJob();
    const publisher = fakePublisher();
    await finishReport(failed(), { metadata: undefined, publisher, job, log: recordingLog() });
    const last = job.events.at(-1);
    expect(last).toBe('failed Preflight failed: nope');
    expect(job.events.filter((e) => e.startsWith('output ')).length).toBeGreaterThan(0);
    expect(job.events.indexOf('summary true')).toBeGreaterThan(-1);
    expect(job.events.indexOf('summary true')).toBeLessThan(job.events.indexOf(last!));
    // An error is the output `failed`, as every failed run.
    expect(job.outputs.result).toBe('failed');
    expect(publisher.calls).toEqual(['publish error']);
  });

  it('still marks the step failed when the summary cannot be written, with a warning', async () => {
    const job = new RecordingJob();
    job.summaryFails = true;
    const log = recordingLog();
    await finishReport(failed(), { metadata: undefined, publisher: undefined, job, log });
    expect(log.lines).toContain('warning: Could not write the job summary: summary file not writable');
    expect(job.events.at(-1)).toBe('failed Preflight failed: nope');
  });

  it.each([
    ['success', '', undefined, 'Deployed.'],
    ['no-op', '', undefined, 'Already running this digest: nothing changed.'],
    ['preview', '', undefined, 'Preview: the cluster accepts this deploy; nothing was changed.'],
    ['preview', 'it would fail', 'Preview: it would fail', undefined],
    ['rolled-back', 'web crashed', 'Rolled back: web crashed', undefined],
    ['cancelled', 'stopped', 'Cancelled: stopped', undefined],
    ['failed', 'web crashed', 'web crashed', undefined],
  ] as const)('a %s report (%s) ends the step with %s', async (result, reason, failure, info) => {
    const job = new RecordingJob();
    const log = recordingLog();
    const report = { ...startReport({}), result, failureReason: reason };
    await finishReport(report, { metadata: undefined, publisher: undefined, job, log });
    expect(job.events.filter((e) => e.startsWith('failed '))).toEqual(failure ? [`failed ${failure}`] : []);
    if (info) expect(log.lines.at(-1)).toBe(info);
  });
});

describe('a deploy that follows a preview', () => {
  async function deployed(): Promise<Report> {
    const s = setup();
    await phases(inputsOf({}), s.state, s.adapters);
    expect(s.state.report.targets[0]).toMatchObject({ key: 'ns/web', resourceVersionBefore: '1' });
    return s.state.report;
  }

  it('warns for each target the cluster changed since the preview, and records it in the report', async () => {
    const report = await deployed();
    const publisher = fakePublisher({ sha: HEAD, targets: { 'ns/web': '0' }, objects: {} });
    const log = recordingLog();
    await finishReport(report, { metadata: undefined, publisher, job: new RecordingJob(), log });
    expect(log.lines).toContain(
      'warning: ns/web changed in the cluster since the preview of feedfac (resourceVersion 0 then, 1 before this deploy): the plan reviewed did not hold for it',
    );
    expect(report.sincePreview?.targets).toEqual([{ key: 'ns/web', atPreview: '0', atDeploy: '1' }]);
  });

  it('says so when nothing the preview planned for changed', async () => {
    const report = await deployed();
    const publisher = fakePublisher({ sha: HEAD, targets: { 'ns/web': '1' }, objects: {} });
    const log = recordingLog();
    await finishReport(report, { metadata: undefined, publisher, job: new RecordingJob(), log });
    expect(log.lines).toContain('Since the preview of feedfac: nothing it planned for changed');
    expect(log.lines.filter((l) => l.startsWith('warning:'))).toEqual([]);
  });

  it('warns that the merged head was never previewed when the stamp is of another commit, and compares nothing', async () => {
    const report = await deployed();
    const publisher = fakePublisher({ sha: HEAD, targets: { 'ns/web': '1' }, objects: {} }, 'abcdef1'.padEnd(40, '0'));
    const log = recordingLog();
    await finishReport(report, { metadata: undefined, publisher, job: new RecordingJob(), log });
    expect(log.lines.filter((l) => l.startsWith('warning:'))).toEqual([
      'warning: the merged head abcdef1 was never previewed: the preview found is of feedfac, so no reviewed plan covers what was deployed',
    ]);
    expect(report.sincePreview).toMatchObject({
      headPreviewed: false,
      targets: [{ key: 'ns/web', atPreview: undefined }],
    });
  });

  it('warns about what the preview never saw: an empty stamp is not "nothing changed"', async () => {
    const report = await deployed();
    const publisher = fakePublisher({ sha: HEAD, targets: {}, objects: {} });
    const log = recordingLog();
    await finishReport(report, { metadata: undefined, publisher, job: new RecordingJob(), log });
    expect(log.lines.filter((l) => l.startsWith('warning:'))).toEqual([
      'warning: ns/web was not in the preview of feedfac: no reviewed plan covers it',
    ]);
    expect(log.lines.some((l) => l.includes('nothing it planned for changed'))).toBe(false);
  });

  it('is not what a preview does: a preview looks for no earlier one', async () => {
    const s = setup();
    await phases(inputsOf({ preview: 'true' }), s.state, s.adapters);
    expect(s.state.report.targets.map((t) => t.key)).toEqual(['ns/web']);
    const publisher = fakePublisher({ sha: HEAD, targets: { 'ns/web': '0' }, objects: {} });
    await finishReport(s.state.report, {
      metadata: undefined,
      publisher,
      job: new RecordingJob(),
      log: recordingLog(),
    });
    expect(publisher.calls).toEqual(['publish preview']);
  });

  it('does not look for a preview after an error', async () => {
    const publisher = fakePublisher({ sha: HEAD, targets: {}, objects: {} });
    const report = { ...(await deployed()), result: 'error' as const, failureReason: 'no cluster' };
    await finishReport(report, { metadata: undefined, publisher, job: new RecordingJob(), log: recordingLog() });
    expect(publisher.calls).toEqual(['publish error']);
  });
});

describe('openCluster', () => {
  const http = KUBECONFIG.replace("'https://fake'", "'http://127.0.0.1:8001'");

  it('says which cluster, from where, and warns when allow-http lets it be reached over plain HTTP', async () => {
    const kube = Object.assign(new FakeKube(), { server: 'http://127.0.0.1:8001' });
    const log = recordingLog();
    const secrets = new Secrets();
    const opened = await openCluster(inputsOf({ kubeconfig: http, 'allow-http': 'true' }), {
      env: {},
      secrets,
      log,
      connect: () => kube,
    });
    expect(opened).toEqual({ kube, defaultNamespace: 'ns', config: expect.any(Object) });
    expect(log.lines).toEqual([
      'Cluster: http://127.0.0.1:8001 (from the kubeconfig input, context x)',
      'warning: allow-http: the cluster http://127.0.0.1:8001 is reached over plain HTTP; its credentials are not encrypted.',
    ]);
    expect(secrets.scrub('token sekret-token')).toBe('token ***');
  });

  it("takes the namespace input over the context's", async () => {
    const opened = await openCluster(inputsOf({ namespace: 'other' }), {
      env: {},
      secrets: new Secrets(),
      log: recordingLog(),
      connect: () => new FakeKube(),
    });
    expect(opened.defaultNamespace).toBe('other');
  });
});
