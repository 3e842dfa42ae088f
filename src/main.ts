/**
 * The action's main step: Preflight, Build and push, Digest, Deploy, Rollout, Rollback, Report. Inputs are read
 * once; the cluster is checked before anything is built; outputs and the summary are written before a failure is
 * reported; there is one catch, at the top.
 */
import * as core from '@actions/core';
import { readFileSync } from 'node:fs';
import { commitTime, createBuilder, withDefaultLabels, writeSecretFiles, type BuildOutput } from './build/builder.js';
import { deadline, sleep } from './lib/deadline.js';
import { CancelledError, InputError, messageOf } from './lib/errors.js';
import { run as exec, lastErrorLine } from './build/exec.js';
import { formatReference, splitRepository } from './spec/image-ref.js';
import { parseInputs, registerSecretInputs, type Inputs } from './spec/inputs.js';
import { createKube } from './cluster/kube-client.js';
import { issuedToken, loadCluster } from './cluster/kubeconfig.js';
import { logTo } from './core-log.js';
import { fenced } from './lib/log-text.js';
import { Secrets } from './lib/secrets.js';
import { objectRecordsFile, saveRecords, writeObjectRecords } from './deploy/records-file.js';
import { readManifestFiles } from './spec/manifest-files.js';
import { workloadItem } from './deploy/apply.js';
import { objectKey, secretValues, withImage, type ManifestObject } from './spec/manifests.js';
import type { ObjectRecord } from './deploy/object-record.js';
import { renderReport, SUMMARY_LIMIT } from './report/markdown.js';
import { changeCause } from './deploy/patch.js';
import { createRegistry, REGISTRY_RETRY_MS, withRetries } from './build/registry.js';
import { outputsOf, runUrlOf, type Report, type TargetReport } from './report/report.js';
import type { Evidence } from './deploy/evidence.js';
import type { Connection } from './report/github.js';
import type { Log } from './lib/log.js';
import { createPublisher, type Publisher } from './report/publish.js';
import { preflight, preflightManifests } from './steps/preflight.js';
import { planDeploy, wouldFail, type Plan } from './preview/preview.js';
import { changedSince, sincePreview } from './preview/since-preview.js';
import { DELETED_NOTE, deploy } from './deploy/rollout.js';
import { STATE } from './state.js';
import { gatherRoutes } from './report/routes.js';
import { resolveTargets, targetKey, type Target } from './spec/targets.js';
import type { Kube, WorkloadRef } from './cluster/kube.js';

async function buildAndPush(inputs: Inputs, env: NodeJS.ProcessEnv): Promise<BuildOutput> {
  const builder = await createBuilder(exec);
  core.info(`Builder: ${builder.kind === 'buildx' ? 'docker buildx' : 'docker build with BuildKit (no buildx found)'}`);
  if (builder.kind === 'buildkit') {
    if (inputs.platforms.length > 0) {
      throw new InputError(
        'platforms',
        'needs docker buildx, which is not installed; add docker/setup-buildx-action before kube-ship.',
      );
    }
    if (inputs['cache-to'].length > 0) {
      core.warning(
        'cache-to: without buildx the cache is exported inline in the pushed image; use that image in cache-from.',
      );
    }
  }
  const secrets = await writeSecretFiles(inputs.secrets);
  try {
    return await builder.build({
      context: inputs.context,
      file: inputs.file,
      target: inputs.target,
      buildArgs: inputs['build-args'],
      labels: withDefaultLabels(inputs.labels, env, await commitTime(env, inputs.context, exec)),
      secretFiles: secrets.files,
      cacheFrom: inputs['cache-from'],
      cacheTo: inputs['cache-to'],
      platforms: inputs.platforms,
      noCache: inputs['no-cache'],
      network: inputs.network,
      tags: inputs.tags.map((tag) => `${inputs.image}:${tag}`),
    });
  } finally {
    await secrets.cleanup();
  }
}

async function login(inputs: Inputs): Promise<void> {
  if (inputs['registry-username'] === '') return;
  const { host } = splitRepository(inputs.image);
  const result = await exec('docker', ['login', host, '--username', inputs['registry-username'], '--password-stdin'], {
    input: inputs['registry-password'],
  });
  if (result.exitCode !== 0) {
    throw new Error(
      `docker login to ${host} failed: ${lastErrorLine(result)}; check registry-username and registry-password`,
    );
  }
  core.saveState(STATE.loggedIn, host);
  core.info(`Logged in to ${host} as ${inputs['registry-username']}`);
}

/** The real GitHub connection, made on first use: Octokit is loaded (its own chunk of the bundle) only then. */
function connectGitHub(token: string, log: Log): () => Promise<Connection> {
  return async () => {
    const { connect } = await import('./report/github-client.js');
    return connect(token, log);
  };
}

/** Reads, parses and checks the manifests (dry run included); their Secrets' values are masked from here on. */
async function checkManifests(
  kube: Kube,
  inputs: Inputs,
  defaultNamespace: string,
  secrets: Secrets,
  env: NodeJS.ProcessEnv,
) {
  const files = readManifestFiles(inputs.manifests, env.GITHUB_WORKSPACE || process.cwd());
  const tag = inputs.pinned ? { digest: inputs.pinned.digest } : { tag: inputs.tags[0] ?? 'latest' };
  const checked = await preflightManifests(kube, {
    files,
    image: inputs.image,
    dryRunReference: formatReference({ repository: inputs.image, ...tag }),
    defaultNamespace,
    force: inputs['force-conflicts'],
    refusalsInPlan: inputs.preview,
  });
  for (const value of secretValues(checked.objects)) secrets.add(value, { lines: true });
  const created = checked.objects.map((m) => objectKey(m.object));
  core.info(`Manifests: ${files.map((f) => f.file).join(', ')}: ${created.length} objects, dry run accepted`);
  return checked;
}

/** A workload both listed as a target and in the manifests would be changed twice: refused before the build. */
function refuseTwice(targets: Target[], objects: ManifestObject[]): void {
  for (const { key } of manifestWorkloadRefs(objects)) {
    const target = targets.find((t) => targetKey(t) === key);
    if (target) throw new InputError(target.input, `${key} is also in the manifests; list it in one place only.`);
  }
}

/** The workloads among the manifests' objects (as the engine watches them: `workloadItem`). */
function manifestWorkloadRefs(objects: ManifestObject[]): (WorkloadRef & { key: string })[] {
  return objects.flatMap(({ object }) => {
    const item = workloadItem(object);
    return item ? [{ kind: item.kind, namespace: item.namespace, name: item.name, key: item.key }] : [];
  });
}

/** Saves the manifests' records after every object applied, to one file (the post step's). */
function saveObjectRecords(env: NodeJS.ProcessEnv): (records: ObjectRecord[]) => void {
  let file: string | undefined;
  return (records) => {
    if (file === undefined) {
      file = objectRecordsFile(env);
      core.saveState(STATE.objectsFile, file);
    }
    writeObjectRecords(file, records);
  };
}

/** Limits of the steps before anything is built: a credential plugin, and preflight as a whole. */
const CREDENTIAL_TIMEOUT_MS = 30_000;
const PREFLIGHT_TIMEOUT_MS = 60_000;

export async function run(): Promise<void> {
  const started = Date.now();
  const env = process.env;
  const report: Report = {
    environment: 'default',
    environmentUrl: '',
    result: 'error',
    failureReason: '',
    image: '',
    tags: [],
    reference: '',
    digest: '',
    build: undefined,
    targets: [],
    objects: [],
    evidence: [],
    rollbackError: undefined,
    sha: env.GITHUB_SHA ?? '',
    actor: env.GITHUB_ACTOR ?? '',
    runUrl: runUrlOf(env),
    durationSeconds: 0,
  };
  const secrets = new Secrets((value) => core.setSecret(value));
  const coreLog = logTo(secrets);
  let metadata: Record<string, unknown> | undefined;
  let publisher: Publisher | undefined;
  const cancel = new AbortController();
  const onSignal = (): void => {
    core.warning('Cancelled: stopping the rollout and restoring the recorded templates');
    cancel.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const parsed = parseInputs((name) => core.getInput(name), env.GITHUB_SHA ?? '');
    registerSecretInputs(parsed, secrets, env);
    publisher = createPublisher({
      // A preview changes nothing: no GitHub Deployment is made for it.
      inputs: parsed.preview ? { ...parsed, 'github-deployment': false } : parsed,
      event: env.GITHUB_EVENT_NAME ?? '',
      connect: connectGitHub(parsed['github-token'], coreLog),
      log: coreLog,
    });
    Object.assign(report, {
      environment: parsed.environment,
      environmentUrl: parsed['environment-url'],
      image: parsed.image,
      tags: parsed.tags,
    });

    const { kube, targets, manifests } = await core.group('Preflight', async () => {
      const cluster = loadCluster(
        parsed.kubeconfig,
        parsed['kube-context'],
        env,
        (s, whole) => secrets.add(s, { lines: !whole }),
        {
          allowHttp: parsed['allow-http'],
        },
      );
      const kube = createKube(cluster.config);
      core.info(`Cluster: ${kube.server} (from ${cluster.source}, context ${cluster.config.getCurrentContext()})`);
      if (cluster.credentialCommand !== undefined) {
        core.info(`The kubeconfig runs a credential command on this runner: ${cluster.credentialCommand}`);
      }
      const plugin = cluster.credentialCommand;
      secrets.add(
        await deadline(
          CREDENTIAL_TIMEOUT_MS,
          issuedToken(cluster.config),
          `the kubeconfig's credential command (${plugin}) did not answer within ${CREDENTIAL_TIMEOUT_MS / 1000}s; check that it runs on this runner without prompting`,
        ),
      );
      if (parsed['allow-http'] && kube.server.startsWith('http://')) {
        core.warning(
          `allow-http: the cluster ${kube.server} is reached over plain HTTP; its credentials are not encrypted.`,
        );
      }
      const defaultNamespace = parsed.namespace || cluster.contextNamespace || 'default';
      const targets = resolveTargets([...parsed.deployments, ...parsed.workloads], defaultNamespace);
      const checks = Promise.all([
        preflight(kube, targets, parsed.image),
        parsed.manifests.length > 0 ? checkManifests(kube, parsed, defaultNamespace, secrets, env) : undefined,
      ]);
      const [, manifests] = await deadline(
        PREFLIGHT_TIMEOUT_MS,
        checks,
        `preflight did not finish within ${PREFLIGHT_TIMEOUT_MS / 1000}s: the cluster at ${kube.server} is not answering`,
      );
      if (targets.length > 0) core.info(`Targets: ${targets.map(targetKey).join(', ')}: found, permitted`);
      if (manifests) refuseTwice(targets, manifests.objects);
      return { kube, targets, manifests };
    });
    await publisher.startDeployment();

    const registry = withRetries(
      createRegistry(
        parsed['registry-username']
          ? Buffer.from(`${parsed['registry-username']}:${parsed['registry-password']}`).toString('base64')
          : undefined,
      ),
      {
        budgetMs: REGISTRY_RETRY_MS,
        sleep,
        now: Date.now,
        onRetry: (message, waitMs) => coreLog.info(`${message}; trying again in ${(waitMs / 1000).toFixed(1)}s`),
      },
    );
    let digest: string | undefined;
    if (parsed.build) {
      await login(parsed);
      const output = await core.group('Build and push', () => buildAndPush(parsed, env));
      metadata = output.metadata;
      report.build = {
        builder: output.builder,
        buildSeconds: Math.round(output.buildMs / 100) / 10,
        pushSeconds: Math.round(output.pushMs / 100) / 10,
        cachedSteps: output.cachedSteps,
        totalSteps: output.totalSteps,
        imageId: output.imageId,
      };
      digest = output.digest;
    }
    // The tag (or pinned digest) that names the image: what the registry is asked for, and what the reference shows.
    const ref = parsed.pinned?.digest ?? parsed.tags[0] ?? '';
    const named = formatReference(
      parsed.pinned ? { repository: parsed.image, digest: ref } : { repository: parsed.image, tag: ref },
    );
    const shownTag = parsed.pinned ? parsed.pinned.tag : parsed.tags[0];
    const shown = { repository: parsed.image, ...(shownTag ? { tag: shownTag } : {}) };
    digest = await core.group('Digest', async () => {
      const served = await registry.manifestDigest(parsed.image, ref);
      if (served === undefined) {
        throw new Error(
          `${named} is not in the registry; ${parsed.build ? 'the push did not land' : 'push it first or fix "image" / "tags"'}`,
        );
      }
      if (digest !== undefined && digest !== served) {
        throw new Error(`the build reported ${digest} but the registry serves ${served} for ${named}`);
      }
      core.info(`${named} is ${served} in the registry`);
      return served;
    });
    if (cancel.signal.aborted) throw new CancelledError();
    report.digest = digest;
    report.reference = formatReference({ ...shown, digest });
    metadata ??= { 'containerimage.digest': digest, 'image.name': formatReference(shown) };
    metadata['containerimage.digest'] ??= digest;

    if (parsed.preview) {
      const plan = await core.group('Preview', () =>
        planDeploy(kube, {
          targets,
          image: parsed.image,
          reference: report.reference,
          digest,
          changeCause: changeCause(report.reference, report.sha, report.actor, report.runUrl),
          manifests: manifests && {
            objects: withImage(manifests.objects, parsed.image, report.reference).objects,
            force: parsed['force-conflicts'],
          },
        }),
      );
      for (const line of fenced(planLines(plan))) core.info(line);
      core.saveState(STATE.finished, 'true');
      // The plan is of the pull request's head commit (GITHUB_SHA is the merge commit on pull_request events).
      Object.assign(report, { result: 'preview', plan, sha: headSha(env) ?? report.sha });
      if (wouldFail(plan)) report.failureReason = 'the cluster would refuse this deploy (see the plan)';
      const routes = await gatherRoutes(kube, [
        ...targets.map((t) => ({ ...t, key: targetKey(t) })),
        ...manifestWorkloadRefs(manifests?.objects ?? []),
      ]);
      report.targets = [...routes].map(([key, r]) => ({ ...previewTarget(key), routes: r }));
      return;
    }
    const result = await deploy(
      kube,
      {
        targets,
        image: parsed.image,
        reference: report.reference,
        digest,
        changeCause: changeCause(report.reference, report.sha, report.actor, report.runUrl),
        timeoutMs: parsed.timeout,
        rollback: parsed.rollback,
        rollbackTimeoutMs: parsed['rollback-timeout'],
        failFast: parsed['fail-fast'],
        allowedRestarts: parsed['allowed-restarts'],
        bakeMs: parsed.bake,
        signal: cancel.signal,
        onPatched: (records) => core.saveState(STATE.recordsFile, saveRecords(records, env)),
        manifests: manifests && {
          ...withImage(manifests.objects, parsed.image, report.reference),
          force: parsed['force-conflicts'],
          onApplied: saveObjectRecords(env),
        },
      },
      coreLog,
    );
    core.saveState(STATE.finished, 'true');
    if (result.result !== 'no-op') core.info(`Verdict ${(result.verdictMs / 1000).toFixed(1)}s after the patch`);
    if (result.restoreMs !== undefined && result.rollbackError === undefined)
      core.info(`Restored and healthy ${(result.restoreMs / 1000).toFixed(1)}s after the verdict`);
    Object.assign(report, {
      result: result.result,
      failureReason: result.failureReason,
      targets: result.targets,
      objects: result.objects,
      evidence: result.evidence,
      rollbackError: result.rollbackError,
    });
    if (!cancel.signal.aborted) {
      // Routes to what runs now: a workload the rollback deleted has none.
      const running = [
        ...targets.map((t) => ({ ...t, key: targetKey(t) })),
        ...manifestWorkloadRefs(manifests?.objects ?? []),
      ].filter((t) => result.targets.some((r) => r.key === t.key && r.restoreNote !== DELETED_NOTE));
      const routes = await gatherRoutes(kube, running);
      for (const target of report.targets) target.routes = routes.get(target.key);
    }
  } catch (error) {
    report.plan = undefined;
    report.result = error instanceof CancelledError || cancel.signal.aborted ? 'cancelled' : 'error';
    report.failureReason = messageOf(error);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    report.durationSeconds = Math.round((Date.now() - started) / 100) / 10;
    await finishReport(secrets.scrubAll(report), metadata && secrets.scrubAll(metadata), publisher);
  }
}

/** The head commit of the pull request the event is about, if it is about one. */
function headSha(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.GITHUB_EVENT_PATH) return undefined;
  try {
    const event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as {
      pull_request?: { head?: { sha?: string } };
    };
    return event.pull_request?.head?.sha;
  } catch {
    return undefined;
  }
}

/** The plan as log lines (cluster text: printed fenced, see `fenced`). */
function planLines(plan: Plan): string[] {
  return [
    ...plan.destructive.map((d) => `Destructive: ${d}`),
    ...plan.targets.map(
      (t) =>
        `${t.key} (resourceVersion ${t.resourceVersion}): ${t.noop ? 'already runs this digest' : t.containers.map((c) => `${c.name} ${c.before} -> ${c.after}`).join(', ')}; ` +
        (t.refusal ? `would fail: ${t.refusal}` : 'the dry run is accepted'),
    ),
    ...plan.objects.flatMap((o) => [
      `${o.key} (${o.source}): would ${o.action === 'unchanged' ? 'stay unchanged' : o.action}; ${o.refusal ? `would fail: ${o.refusal}` : 'the dry run is accepted'}`,
      ...o.changes.map((c) => `  ${c.field}: ${c.before} -> ${c.after}`),
    ]),
  ];
}

/** A target row of a preview's report, only to carry where it is reachable. */
function previewTarget(key: string): TargetReport {
  return {
    key,
    kind: 'deployment',
    containers: [],
    imagesBefore: {},
    imageAfter: '',
    revisionBefore: '',
    revisionAfter: '',
    replicas: 0,
    outcome: 'no-op',
    message: 'preview',
    seconds: 0,
  };
}

/** The evidence of one target as log lines (cluster text: printed fenced, see `fenced`). */
function evidenceLines(e: Evidence): string[] {
  const lines = [`Evidence for ${e.target}: ${e.reason} in pod ${e.pod} container ${e.container}`];
  const t = e.lastTermination;
  if (t) lines.push(`  last exit code ${t.exitCode} (${t.reason}): ${t.message}`);
  for (const ev of e.events) lines.push(`  event ${ev.reason} x${ev.count}: ${ev.message}`);
  lines.push(`  last ${e.logs.length} log lines (${e.logSource}):`, ...e.logs.map((line) => `  | ${line}`));
  return lines;
}

/** A deploy that follows a preview: says per target and object whether the cluster changed it since (the report too). */
async function compareWithPreview(report: Report, publisher: Publisher): Promise<void> {
  const deployed = report.targets.length > 0 || report.objects.length > 0;
  if (report.result === 'preview' || report.result === 'error' || !deployed) return;
  const stamp = await publisher.findPreview();
  if (stamp === undefined) return;
  report.sincePreview = sincePreview(stamp, report.targets, report.objects);
  const items = [...report.sincePreview.targets, ...report.sincePreview.objects];
  const changed = items.filter(changedSince);
  for (const i of changed) {
    core.warning(
      `${i.key} changed in the cluster since the preview of ${stamp.sha.slice(0, 7)} (resourceVersion ${i.atPreview || '(none)'} then, ${i.atDeploy || '(none)'} before this deploy): the plan reviewed did not hold for it`,
    );
  }
  if (changed.length === 0) core.info(`Since the preview of ${stamp.sha.slice(0, 7)}: nothing it planned for changed`);
}

/** Outputs, evidence in the log, the summary and the PR comment; then the verdict. */
async function finishReport(
  report: Report,
  metadata: Record<string, unknown> | undefined,
  publisher: Publisher | undefined,
): Promise<void> {
  await core.group('Report', async () => {
    if (publisher) await compareWithPreview(report, publisher);
    for (const [name, value] of Object.entries(outputsOf(report, metadata))) core.setOutput(name, value);
    for (const line of fenced(report.evidence.flatMap(evidenceLines))) core.info(line);
    try {
      await core.summary.addRaw(renderReport(report, { limit: SUMMARY_LIMIT, logLines: 50 }), true).write();
    } catch (error) {
      core.warning(`Could not write the job summary: ${messageOf(error)}`);
    }
    if (publisher) await publisher.publish(report);
  });
  if (report.result === 'preview') {
    if (report.failureReason) core.setFailed(`Preview: ${report.failureReason}`);
    else core.info('Preview: the cluster accepts this deploy; nothing was changed.');
    return;
  }
  if (report.result === 'success' || report.result === 'no-op') {
    core.info(report.result === 'no-op' ? 'Already running this digest: nothing changed.' : 'Deployed.');
    return;
  }
  const prefix =
    report.result === 'rolled-back'
      ? 'Rolled back: '
      : report.result === 'cancelled' && !report.failureReason.includes('Cancelled')
        ? 'Cancelled: '
        : '';
  const rollback = report.rollbackError ? ` Rollback also failed: ${report.rollbackError}` : '';
  core.setFailed(`${prefix}${report.failureReason}${rollback}`);
}
