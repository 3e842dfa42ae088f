/**
 * Preflight of what `verify` and `pre-deploy` need, before anything is built: each Job manifest read (inside the
 * workspace, within the manifests' limits), one Job per file, dry-run with the deploy's credentials; and the access
 * each check needs (the pod or service proxy, Jobs), checked only when used and named when missing.
 */
import { randomBytes } from 'node:crypto';
import { JOB_ACCESS, POD_PROXY_ACCESS, SERVICE_PROXY_ACCESS } from '../cluster/access.js';
import type { AccessCheck, Kube, KubeObject } from '../cluster/kube.js';
import { applyProblem } from '../deploy/apply.js';
import { InputError, PreflightError } from '../lib/errors.js';
import { readManifestFiles } from '../desired/manifest-files.js';
import { parseManifests, type ManifestObject } from '../desired/manifests.js';
import { deniedIn } from './preflight.js';
import type { CheckSpec } from '../desired/verify.js';

/** The annotation that marks a Job of `manifests` as a pre-deploy Job. */
export const PHASE_ANNOTATION = 'kube-ship.dev/phase';

export interface CheckedJobs {
  /** The checks, a Job check's Job renamed to be unique to the run. */
  checks: { spec: CheckSpec; job?: ManifestObject }[];
  /** The pre-deploy Jobs in order: the input's files, then the manifests' annotated Jobs. */
  preDeploy: ManifestObject[];
}

export interface JobsInputs {
  verify: CheckSpec[];
  preDeploy: string[];
  /** Jobs of `manifests` annotated `kube-ship.dev/phase: pre-deploy`. */
  annotated: ManifestObject[];
}

export interface JobsOptions {
  /**
   * Where a Job without a namespace runs and a Service named without one is: the release's namespace (see
   * `releaseNamespace`).
   */
  defaultNamespace: string;
  workspace: string;
  /** The namespaces of the workloads the deploy changes: where `http` pod checks reach pods. */
  namespaces: string[];
  /** Makes the suffix that keeps a check's Job unique to the run. */
  suffix?: () => string;
}

/** Whether an object of `manifests` is a Job to run before the rollout. */
export function isPreDeployJob(m: ManifestObject): boolean {
  return m.object.kind === 'Job' && m.object.metadata.annotations?.[PHASE_ANNOTATION] === 'pre-deploy';
}

/** One Job from one file, its namespace given. */
function readJob(input: string, file: string, workspace: string, namespace: string): ManifestObject {
  const parsed = parseManifests(readManifestFiles([file], workspace));
  const [only] = parsed;
  if (parsed.length !== 1 || only === undefined || only.object.kind !== 'Job') {
    throw new InputError(input, `${file} must hold exactly one Job (apiVersion batch/v1, kind Job).`);
  }
  return inNamespace(only, namespace);
}

/** A copy of a Job in `namespace` unless it names one. */
export function inNamespace(job: ManifestObject, namespace: string): ManifestObject {
  const object = structuredClone(job.object);
  object.metadata.namespace ??= namespace;
  return { ...job, object };
}

/** The Job of a check under a name unique to this run (at most 63 characters, as a Job's pods label it). */
function uniqueName(job: ManifestObject, suffix: string): ManifestObject {
  const object: KubeObject = structuredClone(job.object);
  object.metadata.name = `${object.metadata.name.slice(0, 63 - suffix.length - 1).replace(/-+$/, '')}-${suffix}`;
  return { ...job, object };
}

/** What each check needs, by namespace. */
function accessNeeded(checked: CheckedJobs, options: JobsOptions): Map<string, AccessCheck[]> {
  const needs = new Map<string, AccessCheck[]>();
  const add = (namespace: string, checks: AccessCheck[]): void => {
    needs.set(namespace, [...(needs.get(namespace) ?? []), ...checks]);
  };
  for (const { spec, job } of checked.checks) {
    if (job) add(job.object.metadata.namespace ?? options.defaultNamespace, JOB_ACCESS);
    const proxy =
      spec.kind === 'http' && spec.target.via === 'service'
        ? spec.target
        : spec.kind === 'prometheus' && spec.source.via === 'service'
          ? spec.source
          : undefined;
    if (proxy) add(proxy.namespace ?? options.defaultNamespace, [SERVICE_PROXY_ACCESS]);
    if (spec.kind === 'http' && spec.target.via === 'pods') {
      for (const ns of options.namespaces) add(ns, [POD_PROXY_ACCESS]);
    }
  }
  for (const job of checked.preDeploy) add(job.object.metadata.namespace ?? options.defaultNamespace, JOB_ACCESS);
  return needs;
}

/** Reads the Jobs, dry-runs them and checks the access every check needs; all problems at once. */
export async function checkJobs(kube: Kube, inputs: JobsInputs, options: JobsOptions): Promise<CheckedJobs> {
  const suffix = (options.suffix ?? (() => randomBytes(3).toString('hex')))();
  const checked: CheckedJobs = {
    checks: inputs.verify.map((spec) =>
      spec.kind === 'job'
        ? { spec, job: uniqueName(readJob('verify', spec.file, options.workspace, options.defaultNamespace), suffix) }
        : { spec },
    ),
    preDeploy: [
      ...inputs.preDeploy.map((file) => readJob('pre-deploy', file, options.workspace, options.defaultNamespace)),
      ...inputs.annotated,
    ],
  };
  const problems: string[] = [];
  const jobs = [...checked.checks.flatMap((c) => (c.job ? [c.job] : [])), ...checked.preDeploy];
  await Promise.all(
    jobs.map(async (job) => {
      const problem = await dryRunJob(kube, job);
      if (problem) problems.push(problem);
    }),
  );
  for (const [namespace, needed] of accessNeeded(checked, options)) {
    const denied = await deniedIn(kube, namespace, needed);
    if (denied.length > 0) {
      problems.push(
        `the kubeconfig's identity may not ${denied.join(', ')} in namespace ${namespace}; the checks of "verify" and ` +
          `the Jobs of "pre-deploy" need these (see the README's "Permissions", optional rules)`,
      );
    }
  }
  if (problems.length > 0) throw new PreflightError(`Preflight failed:\n- ${problems.sort().join('\n- ')}`);
  return checked;
}

/**
 * A server-side dry run of the Job's creation. A Job of that name already there is not dry-run (its template is
 * immutable, so the apply would be refused): the deploy replaces it.
 */
async function dryRunJob(kube: Kube, job: ManifestObject): Promise<string | undefined> {
  const { object } = job;
  try {
    const ref = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: object.metadata.namespace,
      name: object.metadata.name,
    };
    if ((await kube.getObject(ref)) !== undefined) return undefined;
    await kube.applyObject(object, { dryRun: true, force: true });
    return undefined;
  } catch (error) {
    return `dry run of ${applyProblem(job, error)}`;
  }
}
