/**
 * The Preflight phase's checks, before anything is built: the targets resolved and checked, the manifests read,
 * parsed and dry-run, both within one time limit, and no workload changed twice.
 */
import type { Kube, WorkloadRef } from '../cluster/kube.js';
import type { Workload } from '../cluster/workload.js';
import { workloadItem } from '../deploy/apply.js';
import { CANARY_ACCESS } from '../cluster/access.js';
import { deadline } from '../lib/deadline.js';
import { InputError } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import type { Secrets } from '../lib/secrets.js';
import { formatReference } from '../desired/image-ref.js';
import type { Inputs } from '../desired/inputs.js';
import { readManifestFiles, workspaceDirectory } from '../desired/manifest-files.js';
import {
  parseManifests,
  withImage,
  requireQuotedSecretValues,
  secretValues,
  type ManifestObject,
} from '../desired/manifests.js';
import type { Kustomize } from '../render/kustomize.js';
import { resolveTargets, targetKey, type Target } from '../desired/targets.js';
import { checkJobs, inNamespace, isPreDeployJob, type CheckedJobs } from './check-jobs.js';
import { preflight, preflightManifests } from './preflight.js';
import { checkCanaryRoute } from './check-canary-route.js';

/** Preflight as a whole: a cluster that stops answering fails the step here, not after the build. */
const PREFLIGHT_TIMEOUT_MS = 60_000;

export type CheckInputs = Pick<
  Inputs,
  | 'deployments'
  | 'workloads'
  | 'image'
  | 'manifests'
  | 'pinned'
  | 'tags'
  | 'force-conflicts'
  | 'preview'
  | 'verify'
  | 'pre-deploy'
  | 'canary'
  | 'canary-route'
> &
  Partial<Pick<Inputs, 'kustomize'>>;

export interface CheckOptions {
  defaultNamespace: string;
  secrets: Secrets;
  /** The directory `manifests` paths are relative to (GITHUB_WORKSPACE). */
  workspace: string;
  log: Log;
  /** Builds the directory of `kustomize` (needed only with that input). */
  kustomize?: Kustomize;
}

export interface Checked {
  targets: Target[];
  /** The manifests' objects in apply order, namespaces given; `undefined` without `manifests`. */
  manifests: { objects: ManifestObject[] } | undefined;
  /** The checks of `verify` and the Jobs to run before the rollout. */
  jobs: CheckedJobs;
  /** The HTTPRoute of `canary-route`, its namespace resolved; undefined without one. */
  route?: { namespace: string; name: string };
  /** Each target as preflight read it (by its key). */
  live?: Map<string, Workload>;
}

export async function checkCluster(kube: Kube, inputs: CheckInputs, options: CheckOptions): Promise<Checked> {
  const targets = resolveTargets([...inputs.deployments, ...inputs.workloads], options.defaultNamespace);
  if (inputs.canary.length > 0) refuseCanaryOf(targets);
  const checks = Promise.all([
    preflight(kube, targets, inputs.image, inputs.canary.length > 0 ? CANARY_ACCESS : []),
    inputs.manifests.length > 0 || inputs.kustomize ? checkManifests(kube, inputs, options) : undefined,
  ]);
  const [live, manifests] = await deadline(
    PREFLIGHT_TIMEOUT_MS,
    checks,
    `preflight did not finish within ${PREFLIGHT_TIMEOUT_MS / 1000}s: the cluster at ${kube.server} is not answering`,
  );
  if (targets.length > 0) options.log.info(`Targets: ${targets.map(targetKey).join(', ')}: found, permitted`);
  if (manifests) refuseTwice(targets, manifests.objects);
  const release = { targets, manifests, jobs: NO_JOBS, live };
  const namespaces = [...new Set(watchedWorkloads(release).map((w) => w.namespace))];
  const jobs = await deadline(
    PREFLIGHT_TIMEOUT_MS,
    checkJobs(
      kube,
      { verify: inputs.verify, preDeploy: inputs['pre-deploy'], annotated: manifests?.preDeploy ?? [] },
      {
        defaultNamespace:
          namespaces.length === 1 ? (namespaces[0] ?? options.defaultNamespace) : options.defaultNamespace,
        workspace: options.workspace,
        namespaces,
      },
    ),
    `preflight of verify and pre-deploy did not finish within ${PREFLIGHT_TIMEOUT_MS / 1000}s`,
  );
  const planned = jobs.checks.length + jobs.preDeploy.length;
  if (planned > 0) {
    options.log.info(
      `Checks: ${jobs.checks.length} of verify, ${jobs.preDeploy.length} pre-deploy Job(s): read, dry run accepted, permitted`,
    );
  }
  const route = await canaryRouteOf(kube, inputs, release, options.defaultNamespace);
  return { targets, manifests: manifests && { objects: manifests.objects }, jobs, ...(route ? { route } : {}), live };
}

/** The route of `canary-route`, checked for the Deployments a canary is made for. */
async function canaryRouteOf(kube: Kube, inputs: CheckInputs, release: Checked, defaultNamespace: string) {
  const route = inputs['canary-route'];
  if (route === undefined) return undefined;
  const namespaces = watchedWorkloads(release)
    .filter((w) => w.kind === 'deployment')
    .map((w) => w.namespace);
  return deadline(
    PREFLIGHT_TIMEOUT_MS,
    checkCanaryRoute(kube, route, namespaces, defaultNamespace),
    `preflight of canary-route did not finish within ${PREFLIGHT_TIMEOUT_MS / 1000}s`,
  );
}

const NO_JOBS: CheckedJobs = { checks: [], preDeploy: [] };

/**
 * The manifests (the files of `manifests`, or the objects `kustomize` builds), parsed and checked; what the checks
 * say of "manifests" they then say of "kustomize", the input the user wrote.
 */
async function checkManifests(kube: Kube, inputs: CheckInputs, options: CheckOptions) {
  if (!inputs.kustomize) {
    const files = readManifestFiles(inputs.manifests, options.workspace);
    const checked = await checkObjects(kube, files, inputs, options);
    const described = `${files.map((f) => f.file).join(', ')}: ${checked.objects.length} objects`;
    options.log.info(`Manifests: ${described}, dry run accepted`);
    return checked;
  }
  const built = await buildKustomization(inputs.kustomize, options);
  try {
    const checked = await checkObjects(kube, [built.file], inputs, options);
    const described = `built ${built.shown} with ${built.command}: ${checked.objects.length} objects`;
    options.log.info(`Kustomize: ${described}, dry run accepted`);
    logImageUses(checked.objects, inputs.image, options.log);
    return checked;
  } catch (error) {
    throw error instanceof InputError && error.input === 'manifests'
      ? new InputError('kustomize', error.reason)
      : error;
  }
}

/**
 * Parses and checks the manifests' files (dry run included). Their Secrets' values are masked as soon as they are
 * parsed: any request, from discovery on, can be answered with a message that quotes one.
 */
async function checkObjects(
  kube: Kube,
  files: { file: string; text: string }[],
  inputs: CheckInputs,
  options: CheckOptions,
) {
  const all = parseManifests(files);
  for (const value of secretValues(all)) options.secrets.add(value, { lines: true });
  requireQuotedSecretValues(all);
  // A Job annotated as pre-deploy is run before the rollout, not applied with the rest.
  const preDeploy = all.filter(isPreDeployJob).map((m) => inNamespace(m, options.defaultNamespace));
  const parsed = all.filter((m) => !isPreDeployJob(m));
  const tag = inputs.pinned ? { digest: inputs.pinned.digest } : { tag: inputs.tags[0] ?? 'latest' };
  const checked = await preflightManifests(kube, {
    parsed,
    image: inputs.image,
    dryRunReference: formatReference({ repository: inputs.image, ...tag }),
    defaultNamespace: options.defaultNamespace,
    force: inputs['force-conflicts'],
    refusalsInPlan: inputs.preview,
    imageInJobs: withImage(preDeploy, inputs.image, inputs.image, { required: false }).uses.length > 0,
  });
  return { ...checked, preDeploy };
}

/**
 * Builds the kustomization of `kustomize` (a directory in the workspace, by the rules of `manifests`) into the text
 * of one file, named `DIR (kustomize)` in every message as a file of `manifests` is named by its path.
 */
async function buildKustomization(dir: string, options: CheckOptions) {
  if (!options.kustomize) throw new Error('"kustomize" is set, but this run has no way to build a kustomization');
  const { real, shown } = workspaceDirectory('kustomize', dir, options.workspace);
  const { yaml, command } = await options.kustomize.build(real, shown);
  return { shown, command, file: { file: `${shown} (kustomize)`, text: yaml } };
}

/** Which containers get the pushed digest (the kustomization's own objects name some tag, or none). */
function logImageUses(objects: ManifestObject[], image: string, log: Log): void {
  for (const use of withImage(objects, image, image, { required: false }).uses) {
    const containers = use.containers.map((c) => `${c} (written ${use.written[c]})`).join(', ');
    log.info(`Kustomize: ${use.key} gets the pushed digest in container ${containers}`);
  }
}

/**
 * A canary is a Deployment's `NAME-canary` or a StatefulSet's highest ordinals: a DaemonSet target is refused before
 * the build, naming the input (it runs one pod per node, and no share of its nodes can be given the release alone).
 */
function refuseCanaryOf(targets: Target[]): void {
  const others = targets.filter((t) => t.kind === 'daemonset').map(targetKey);
  if (others.length === 0) return;
  throw new InputError(
    'canary',
    `is set, but ${others.join(', ')} ${others.length === 1 ? 'is a DaemonSet' : 'are DaemonSets'}: ` +
      'a canary is made for Deployments and StatefulSets only (a DaemonSet runs one pod on every node, and its ' +
      'rolling update cannot be held at a share of them); deploy DaemonSets in a step without canary.',
  );
}

/** A workload both listed as a target and in the manifests would be changed twice: refused before the build. */
function refuseTwice(targets: Target[], objects: ManifestObject[]): void {
  for (const { key } of workloadsAmong(objects)) {
    const target = targets.find((t) => targetKey(t) === key);
    if (target) throw new InputError(target.input, `${key} is also in the manifests; list it in one place only.`);
  }
}

/** The workloads among the manifests' objects (as the engine watches them: `workloadItem`). */
function workloadsAmong(objects: ManifestObject[]): (WorkloadRef & { key: string })[] {
  return objects.flatMap(({ object }) => {
    const item = workloadItem(object);
    return item ? [{ kind: item.kind, namespace: item.namespace, name: item.name, key: item.key }] : [];
  });
}

/**
 * Where the checks of `verify` look for a Service named without a namespace, and what `$namespace` means: the
 * namespace of the workloads deployed when they share one, else the default namespace.
 */
export function releaseNamespace(checked: Checked, defaultNamespace: string): string {
  const namespaces = new Set(watchedWorkloads(checked).map((w) => w.namespace));
  const [only] = namespaces;
  return namespaces.size === 1 && only !== undefined ? only : defaultNamespace;
}

/** Every workload the deploy changes and watches, targets first, keyed as the report keys them. */
export function watchedWorkloads(checked: Checked): (WorkloadRef & { key: string })[] {
  return [
    ...checked.targets.map((t) => ({ ...t, key: targetKey(t) })),
    ...workloadsAmong(checked.manifests?.objects ?? []),
  ];
}
