/**
 * The action's main step and its composition root: it makes the real adapters (the log on @actions/core, the
 * Kubernetes client, the builder, the registry, GitHub) and runs the phases in steps/ in order: Preflight, Build
 * and push, Digest, then Preview or the deploy, then Report. Inputs are read once; the cluster is checked before
 * anything is built; outputs and the summary are written before a failure is reported; there is one catch, here.
 */
import * as core from '@actions/core';
import { createBuilder, type Builder } from './image/builder.js';
import { run as exec, type Run as ExecRun } from './image/exec.js';
import { createRegistry, REGISTRY_RETRY_MS, withRetries, type Registry } from './image/registry.js';
import { createKustomize, type Kustomize } from './render/kustomize.js';
import type { Kube } from './cluster/kube.js';
import { createKube } from './cluster/kube-client.js';
import type { ClusterConfig } from './cluster/kubeconfig.js';
import { failStep, logTo } from './core-log.js';
import { sleep } from './lib/deadline.js';
import { CancelledError } from './lib/errors.js';
import type { Log } from './lib/log.js';
import { Secrets } from './lib/secrets.js';
import type { Connection } from './report/github.js';
import { createPublisher, type Publisher } from './report/publish.js';
import type { Report } from './report/report.js';
import { parseInputs, registerSecretInputs, type Inputs } from './desired/inputs.js';
import {
  buildAndPush,
  buildReport,
  deployedReference,
  login,
  metadataOf,
  resolveDigest,
} from './steps/build-and-push.js';
import { checkCluster, watchedWorkloads } from './steps/check-cluster.js';
import { checkChart, deployChart, previewChart } from './steps/chart.js';
import type { Helm } from './helm/helm.js';
import { createHelm } from './helm/helm-cli.js';
import type { ChartSpec } from './desired/chart.js';
import { deploy } from './steps/deploy.js';
import { failedReport, finishReport, startReport } from './steps/finish-report.js';
import type { Job, PostFact } from './steps/job.js';
import { openCluster } from './steps/open-cluster.js';
import { preview } from './steps/preview.js';
import { deployRequest, verifyPlanOf, waitLimits } from './steps/request.js';
import { postRecords, type PostRecords } from './deploy/records-file.js';
import { fetchHttp, type HttpGet } from './lib/http.js';
import { headCommitTime, pullRequestHead } from './runner-event.js';
import { STATE } from './state.js';

/** The job on GitHub Actions' runner. */
const runner: Job = {
  print: (lines) => lines.forEach((line) => core.info(line)),
  save: (fact: PostFact, value) => core.saveState(STATE[fact], value),
  setOutput: (name, value) => core.setOutput(name, value),
  writeSummary: async (markdown) => {
    await core.summary.addRaw(markdown, true).write();
  },
  pullRequestHead: () => pullRequestHead(process.env),
  headCommitTime: () => headCommitTime(process.env),
  setFailed: failStep,
};

/** The registry the digest is read from, with the inputs' credentials, retrying what can pass. */
function registryFor(inputs: Inputs, log: Log): Registry {
  const user = inputs['registry-username'];
  const auth = user ? Buffer.from(`${user}:${inputs['registry-password']}`).toString('base64') : undefined;
  return withRetries(createRegistry(auth), {
    budgetMs: REGISTRY_RETRY_MS,
    sleep,
    now: Date.now,
    onRetry: (message, waitMs) => log.info(`${message}; trying again in ${(waitMs / 1000).toFixed(1)}s`),
  });
}

/** The real GitHub connection, made on first use: Octokit is loaded (its own chunk of the bundle) only then. */
function connectGitHub(token: string, log: Log): () => Promise<Connection> {
  return async () => {
    const { connect } = await import('./report/github-client.js');
    return connect(token, log);
  };
}

/** SIGINT and SIGTERM (a cancelled workflow) abort the rollout, which then restores what it changed. */
function abortOnSignal(): { signal: AbortSignal; stop: () => void } {
  const cancel = new AbortController();
  const onSignal = (): void => {
    core.warning('Cancelled: stopping the rollout and restoring the recorded templates');
    cancel.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: cancel.signal,
    stop: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

/** What the phases share: the run's report (filled in as they go), its secrets, cancel signal and log. */
export interface RunState {
  report: Report;
  /** The build's metadata output, once there is one. */
  metadata: Record<string, unknown> | undefined;
  signal: AbortSignal;
  secrets: Secrets;
  env: NodeJS.ProcessEnv;
  log: Log;
  /** Run once the phases are over, however they end (files with credentials removed). */
  cleanups?: (() => void)[];
}

/** The outside world the phases work on: the real adapters in `run`, fakes in the unit tests. */
export interface Adapters {
  /** Makes the Kubernetes client for the loaded kubeconfig. */
  connect: (config: ClusterConfig['config']) => Kube;
  /** Finds the image builder on this runner. */
  builder: () => Promise<Builder>;
  /** Runs a command (docker login, git). */
  exec: ExecRun;
  registry: Registry;
  publisher: Publisher;
  job: Job;
  /** HTTP from the runner (checks of `verify` by URL). */
  http: HttpGet;
  /** Builds the kustomization of `kustomize` (kustomize or kubectl on the runner). */
  kustomize: Kustomize;
  /** Makes the runner's helm for the cluster (`chart`), given the loaded kubeconfig as a document and its context. */
  helm?: (cluster: { kubeconfig: string; context: string }) => Helm & { close(): void };
}

/** The chart of `chart`, checked in Preflight, with the helm that releases it. */
interface CheckedChart {
  spec: ChartSpec;
  helm: Helm;
  namespace: string;
}

/** Preflight of `chart`: the runner's helm, talking to the cluster kube-ship talks to, and the chart inputs. */
async function openChart(
  inputs: Inputs,
  cluster: { config: ClusterConfig['config']; defaultNamespace: string; workspace: string },
  adapters: Adapters,
  state: RunState,
): Promise<CheckedChart | undefined> {
  if (inputs.chart === '' || adapters.helm === undefined) return undefined;
  const helm = adapters.helm({
    kubeconfig: cluster.config.exportConfig(),
    context: cluster.config.getCurrentContext(),
  });
  (state.cleanups ??= []).push(() => helm.close());
  const namespace = cluster.defaultNamespace;
  const spec = await checkChart(helm, inputs, { workspace: cluster.workspace, namespace, log: state.log });
  return { spec, helm, namespace };
}

/** What the chart's release step is given: the cluster, the run, the post step's records and the checks of `verify`. */
interface ReleaseStepPorts {
  kube: Kube;
  state: RunState;
  job: Job;
  records: PostRecords;
  verify: ReturnType<typeof verifyPlanOf>;
}

/** The chart's release (or its preview) instead of the targets' deploy: `chart`. */
function releaseStep(inputs: Inputs, chart: CheckedChart, { kube, state, job, records, verify }: ReleaseStepPorts) {
  const request = {
    ...verify,
    spec: chart.spec,
    namespace: chart.namespace,
    image: inputs.image,
    reference: state.report.reference,
    ...waitLimits(inputs),
    signal: state.signal,
  };
  const { log, secrets, env } = state;
  return inputs.preview
    ? previewChart(kube, chart.helm, request, { job, log, secrets, env, previewValues: inputs['preview-values'] })
    : deployChart(kube, chart.helm, request, { job, log, records, secrets });
}

/** The phases, in order; each records in the report what it found, and throws to stop the run. */
export async function phases(inputs: Inputs, state: RunState, adapters: Adapters): Promise<void> {
  const { report, secrets, env, log } = state;
  const { job, exec } = adapters;
  const checked = await log.group('Preflight', async () => {
    const { kube, defaultNamespace, config } = await openCluster(inputs, {
      env,
      secrets,
      log,
      connect: adapters.connect,
    });
    const workspace = env.GITHUB_WORKSPACE || process.cwd();
    const chart = await openChart(inputs, { config, defaultNamespace, workspace }, adapters, state);
    return {
      kube,
      defaultNamespace,
      chart,
      ...(await checkCluster(kube, inputs, {
        defaultNamespace,
        workspace,
        secrets,
        log,
        kustomize: adapters.kustomize,
      })),
    };
  });
  await adapters.publisher.startDeployment();

  let built: string | undefined;
  if (inputs.build) {
    await login(inputs, exec, job, log);
    const options = { env, builder: adapters.builder, run: exec, job, log };
    const output = await log.group('Build and push', () => buildAndPush(inputs, options));
    state.metadata = output.metadata;
    report.build = buildReport(output);
    built = output.digest;
  }
  const digest = await log.group('Digest', () => resolveDigest(adapters.registry, inputs, built, log));
  if (state.signal.aborted) throw new CancelledError();
  report.digest = digest;
  report.reference = deployedReference(inputs, digest);
  state.metadata = metadataOf(inputs, digest, state.metadata);

  const { kube } = checked;
  const records = postRecords(env, (fact, path) => job.save(fact, path));
  if (checked.chart) {
    const verify = verifyPlanOf(inputs, {
      checked,
      run: report,
      defaultNamespace: checked.defaultNamespace,
      http: adapters.http,
    });
    Object.assign(report, await releaseStep(inputs, checked.chart, { kube, state, job, records, verify }));
    return;
  }
  const { defaultNamespace } = checked;
  const request = deployRequest(inputs, {
    checked,
    digest,
    run: report,
    signal: state.signal,
    records,
    defaultNamespace,
    http: adapters.http,
  });
  const options = { workloads: watchedWorkloads(checked), env, job, log, records };
  const outcome = inputs.preview
    ? await preview(kube, { ...request, previewValues: inputs['preview-values'] }, { ...options, secrets })
    : await deploy(kube, request, options);
  Object.assign(report, outcome);
}

export async function run(): Promise<void> {
  const started = Date.now();
  const env = process.env;
  const report = startReport(env);
  const secrets = new Secrets((value) => core.setSecret(value));
  const log = logTo(secrets);
  const cancel = abortOnSignal();
  const state: RunState = { report, metadata: undefined, signal: cancel.signal, secrets, env, log, cleanups: [] };
  let publisher: Publisher | undefined;
  try {
    const inputs = parseInputs((name) => core.getInput(name), env.GITHUB_SHA ?? '');
    registerSecretInputs(inputs, secrets, env);
    publisher = createPublisher({
      // A preview changes nothing: no GitHub Deployment is made for it.
      inputs: inputs.preview ? { ...inputs, 'github-deployment': false } : inputs,
      event: env.GITHUB_EVENT_NAME ?? '',
      connect: connectGitHub(inputs['github-token'], log),
      log,
    });
    Object.assign(report, {
      environment: inputs.environment,
      environmentUrl: inputs['environment-url'],
      image: inputs.image,
      tags: inputs.tags,
    });
    const adapters = {
      connect: createKube,
      builder: () => createBuilder(exec),
      exec,
      registry: registryFor(inputs, log),
      publisher,
      job: runner,
      http: fetchHttp,
      kustomize: createKustomize(exec, env),
      helm: (cluster: { kubeconfig: string; context: string }) =>
        createHelm({ run: exec, ...cluster, env, node: process.execPath, bundle: process.argv[1] ?? '' }),
    };
    await phases(inputs, state, adapters);
  } catch (error) {
    Object.assign(report, failedReport(error, cancel.signal.aborted));
  } finally {
    for (const cleanup of state.cleanups ?? []) cleanup();
    cancel.stop();
    report.durationSeconds = Math.round((Date.now() - started) / 100) / 10;
    const metadata = state.metadata && secrets.scrubAll(state.metadata);
    await finishReport(secrets.scrubAll(report), { metadata, publisher, job: runner, log });
  }
}
