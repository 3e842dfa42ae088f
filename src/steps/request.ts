/**
 * The one request of this run, built once from the inputs, the checked targets and manifests and the digest: a
 * preview plans it, a deploy carries it out, so what was previewed is what would be deployed.
 */
import { changeCause } from '../deploy/patch.js';
import type { PostRecords } from '../deploy/records-file.js';
import type { DeployRequest } from '../deploy/rollout.js';
import type { ObjectRecord } from '../deploy/object-record.js';
import type { RouteRecord } from '../deploy/canary-traffic.js';
import type { Report } from '../report/report.js';
import type { Inputs } from '../desired/inputs.js';
import type { KubeObject } from '../cluster/kube.js';
import type { HttpGet } from '../lib/http.js';
import { withImage, type ManifestObject } from '../desired/manifests.js';
import { releaseNamespace, type Checked } from './check-cluster.js';

export type RequestInputs = Pick<
  Inputs,
  | 'image'
  | 'timeout'
  | 'rollback'
  | 'rollback-timeout'
  | 'fail-fast'
  | 'allowed-restarts'
  | 'bake'
  | 'force-conflicts'
  | 'canary'
>;

export interface RequestOptions {
  checked: Checked;
  digest: string;
  /** The image reference deployed (`image:tag@digest`) and the run it comes from, as the report has them. */
  run: Pick<Report, 'reference' | 'sha' | 'actor' | 'runUrl'>;
  signal: AbortSignal;
  /** Where the records the post step needs are saved. */
  records: PostRecords;
  /** The namespace of the kubeconfig's context or `namespace`: where checks look unless told otherwise. */
  defaultNamespace: string;
  /** HTTP from the runner, for the checks of `verify` that name a URL. */
  http: HttpGet;
}

/** A Job with every container of the image's repository given the deployed reference (none is fine for a check). */
function jobWithImage(job: ManifestObject, image: string, reference: string): KubeObject {
  const given = withImage([job], image, reference, { required: false });
  return (given.objects[0] ?? job).object;
}

/**
 * The objects' records for the post step: the manifests' and the canaries', one list in the one file, so a killed
 * step's post step undoes both (newest first: the canaries are deleted before the manifests are set back).
 */
function objectRecords(records: PostRecords) {
  let applied: ObjectRecord[] = [];
  let canaries: ObjectRecord[] = [];
  return {
    onApplied: (list: ObjectRecord[]) => records.saveObjects([...(applied = list), ...canaries]),
    onCanaries: (list: ObjectRecord[]) => records.saveObjects([...applied, ...(canaries = list)]),
  };
}

/** The canary's steps, where its records go, and its route with where the route's record goes. */
function canaryOf(
  inputs: RequestInputs,
  checked: Checked,
  records: PostRecords,
  onRecords: (list: ObjectRecord[]) => void,
): NonNullable<DeployRequest['canary']> {
  const route = checked.route && { ...checked.route, onRecord: (r: RouteRecord) => records.saveRoute(r) };
  return { steps: inputs.canary, onRecords, ...(route ? { route } : {}) };
}

/**
 * The checks of `verify` as the deploy runs them: each Job check's Job given the deployed reference, where the checks
 * look, and the runner's HTTP; nothing without checks. The targets' deploy and a chart's release share it.
 */
export function verifyPlanOf(
  inputs: Pick<RequestInputs, 'image' | 'allowed-restarts'>,
  options: Pick<RequestOptions, 'checked' | 'run' | 'defaultNamespace' | 'http'>,
): Pick<DeployRequest, 'verify'> {
  const { checked, run } = options;
  if (checked.jobs.checks.length === 0) return {};
  return {
    verify: {
      checks: checked.jobs.checks.map(({ spec, job }) => ({
        spec,
        ...(job ? { job: jobWithImage(job, inputs.image, run.reference) } : {}),
      })),
      namespace: releaseNamespace(checked, options.defaultNamespace),
      allowedRestarts: inputs['allowed-restarts'],
      http: options.http,
    },
  };
}

/** How a rollout is waited for and undone: the same inputs for the targets' deploy and a chart's release. */
export function waitLimits(
  inputs: Pick<Inputs, 'timeout' | 'rollback' | 'rollback-timeout' | 'fail-fast' | 'allowed-restarts' | 'bake'>,
) {
  return {
    timeoutMs: inputs.timeout,
    rollback: inputs.rollback,
    rollbackTimeoutMs: inputs['rollback-timeout'],
    failFast: inputs['fail-fast'],
    allowedRestarts: inputs['allowed-restarts'],
    bakeMs: inputs.bake,
  };
}

export function deployRequest(inputs: RequestInputs, options: RequestOptions): DeployRequest {
  const { checked, run, records } = options;
  const saved = objectRecords(records);
  return {
    targets: checked.targets,
    ...(checked.live ? { read: checked.live } : {}),
    image: inputs.image,
    reference: run.reference,
    digest: options.digest,
    changeCause: changeCause(run.reference, run.sha, run.actor, run.runUrl),
    ...waitLimits(inputs),
    signal: options.signal,
    onPatched: (patched) => records.saveTargets(patched),
    onJobs: (running) => records.saveJobs(running),
    manifests: checked.manifests && {
      // Preflight checked that the image is used (here, or by a pre-deploy Job of the same files).
      ...withImage(checked.manifests.objects, inputs.image, run.reference, { required: false }),
      force: inputs['force-conflicts'],
      onApplied: saved.onApplied,
    },
    ...verifyPlanOf(inputs, options),
    ...(inputs.canary.length > 0 ? { canary: canaryOf(inputs, checked, records, saved.onCanaries) } : {}),
    preDeploy: checked.jobs.preDeploy.map((job) => jobWithImage(job, inputs.image, run.reference)),
  };
}
