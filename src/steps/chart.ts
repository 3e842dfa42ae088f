/**
 * The chart branch (`chart`): Preflight checks the runner's helm and the chart inputs before anything is built; the
 * deploy runs the chart engine (deploy/chart-release.ts) and leaves the release's record for the post step.
 */
import type { Kube } from '../cluster/kube.js';
import { InputError, messageOf } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import type { Secrets } from '../lib/secrets.js';
import { chartSpec, type ChartSpec } from '../desired/chart.js';
import type { Inputs } from '../desired/inputs.js';
import { dryRunManifest, parseHelmVersion, supportedHelm, HELM_MINIMUM, type Helm } from '../helm/helm.js';
import { placedKey, releaseChart, releaseObjects } from '../deploy/chart-release.js';
import { workloadItem } from '../deploy/apply.js';
import { jobTracker } from '../deploy/rollout.js';
import { secretValues, type ManifestObject } from '../desired/manifests.js';
import type { PreviewValues } from '../desired/inputs.js';
import { preview, type Previewed, type PreviewOptions } from './preview.js';
import type { PostRecords } from '../deploy/records-file.js';
import type { Deployed } from './deploy.js';
import type { Job } from './job.js';

const INSTALL_HELM = 'install it in an earlier step (e.g. azure/setup-helm) or use a runner that has it';

/** The runner's helm, checked to be one kube-ship drives, and the chart inputs checked against the workspace. */
export async function checkChart(
  helm: Helm,
  inputs: Pick<Inputs, 'chart' | 'values' | 'set' | 'release' | 'chart-version'>,
  options: { workspace: string; namespace: string; log: Log },
): Promise<ChartSpec> {
  let version: string;
  try {
    version = await helm.version();
  } catch (error) {
    throw new InputError(
      'chart',
      `needs helm on the runner's PATH, which did not answer (${messageOf(error)}); ${INSTALL_HELM}.`,
    );
  }
  const parsed = parseHelmVersion(version);
  if (parsed === undefined || !supportedHelm(parsed)) {
    throw new InputError(
      'chart',
      `needs helm v${HELM_MINIMUM.major}.${HELM_MINIMUM.minor} or later; the runner's helm is "${version}": ${INSTALL_HELM}.`,
    );
  }
  const spec = chartSpec(inputs, options.workspace);
  options.log.info(`Chart: ${inputs.chart} as release ${options.namespace}/${spec.release}, with helm ${version}`);
  return spec;
}

export interface ChartDeployOptions {
  job: Job;
  log: Log;
  records: PostRecords;
  /** Where the release's Secret values go to be masked and scrubbed. */
  secrets: Secrets;
}

/** Releases the chart; the post step's record is removed once the engine has finished (rolled back or not). */
export async function deployChart(
  kube: Kube,
  helm: Helm,
  request: Parameters<typeof releaseChart>[2],
  { job, log, records, secrets }: ChartDeployOptions,
): Promise<Deployed> {
  const result = await releaseChart(
    kube,
    helm,
    {
      ...request,
      onRecorded: (r) => records.saveRelease(r),
      onJob: jobTracker((running) => records.saveJobs(running)),
      onSecrets: (values) => {
        for (const value of values) secrets.add(value, { lines: true });
      },
    },
    log,
  );
  job.save('finished', 'true');
  records.remove();
  if (result.restoreMs !== undefined && result.rollbackError === undefined)
    log.info(`Restored and healthy ${(result.restoreMs / 1000).toFixed(1)}s after the verdict`);
  return {
    result: result.result,
    failureReason: result.failureReason,
    targets: result.targets,
    objects: result.objects,
    evidence: result.evidence,
    rollbackError: result.rollbackError,
    checks: result.checks,
    jobs: result.jobs,
    canary: result.canary,
  };
}

/**
 * `preview: true` with a chart: helm renders the release and the API server checks it (`--dry-run=server`), then the
 * release's objects are planned as the manifests are (a server-side dry run of each, the fields that would change,
 * Secrets' values never shown); nothing changes.
 */
export async function previewChart(
  kube: Kube,
  helm: Helm,
  request: Pick<
    Parameters<typeof releaseChart>[2],
    'spec' | 'namespace' | 'image' | 'reference' | 'timeoutMs' | 'signal'
  >,
  options: Omit<PreviewOptions, 'workloads'> & { previewValues: PreviewValues },
): Promise<Partial<Previewed>> {
  const { log } = options;
  const out = await log.group('Render', () =>
    helm.upgrade(
      request.spec,
      request.namespace,
      { image: request.image, reference: request.reference },
      { signal: request.signal, timeoutMs: request.timeoutMs, dryRun: true },
    ),
  );
  if (!out.ok) {
    return {
      result: 'failed',
      failureReason: `helm upgrade --dry-run=server ${request.spec.release}: ${out.message}`,
    };
  }
  for (const use of out.rendered.uses) {
    log.info(`${placedKey(use, request.namespace)}: ${use.containers.join(', ')} would run ${request.reference}`);
  }
  const objects: ManifestObject[] = releaseObjects(dryRunManifest(out.stdout), request.namespace).map((object, i) => ({
    file: `release ${request.spec.release}`,
    document: i + 1,
    object,
  }));
  for (const value of secretValues(objects)) options.secrets.add(value, { lines: true });
  log.info(`helm upgrade --dry-run=server ${request.spec.release}: accepted; planning its ${objects.length} objects`);
  const workloads = objects.flatMap(({ object }) => {
    const item = workloadItem(object);
    return item ? [{ kind: item.kind, namespace: item.namespace, name: item.name, key: item.key }] : [];
  });
  const plan = {
    targets: [],
    image: request.image,
    reference: request.reference,
    digest: '',
    changeCause: '',
    // Helm is the objects' field manager: the plan's dry runs take their fields over rather than stop at a conflict.
    manifests: { objects, force: true },
    previewValues: options.previewValues,
  };
  return preview(kube, plan, { ...options, workloads });
}
