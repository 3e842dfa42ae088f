/**
 * The preview (input `preview`): what a deploy would do, checked by the cluster, with nothing changed. Every target
 * is resolved as a deploy resolves it and its very patch is sent as a server-side dry run with the deploy's own
 * credentials; every manifest object is dry-run applied and compared with the live one. The plan keeps each
 * target's live resourceVersion, so a later deploy can tell whether it still holds.
 */
import { applyProblem, refOf } from '../deploy/apply.js';
import { messageOf } from '../lib/errors.js';
import type { Kube, KubeObject } from '../cluster/kube.js';
import { objectKey, sourceOf, type ManifestObject } from '../desired/manifests.js';
import { at, changedFields, differences, fieldName } from '../deploy/object-record.js';
import { newValueView, shownValue, type ValueView } from './plan-values.js';
import { patchToDigest } from '../deploy/patch.js';
import { recordOf } from '../deploy/target-record.js';
import type { PreviewValues } from '../desired/inputs.js';
import { targetKey, type Target } from '../desired/targets.js';
import type { CanaryStep } from '../desired/canary.js';
import { canaryPlan, type PlanCanaryStep } from './canary-plan.js';

export interface PlanContainer {
  name: string;
  before: string;
  after: string;
}

export interface PlanTarget {
  key: string;
  resourceVersion: string;
  generation: number;
  containers: PlanContainer[];
  /** Already runs the digest: the deploy would only check its health. */
  noop: boolean;
  /** The API server's answer to the dry run of the patch: undefined when it would be accepted. */
  refusal?: string;
  /** With `canary`: the steps it would take (none when it would get no canary). */
  canary?: PlanCanaryStep[];
}

export interface PlanChange {
  field: string;
  before: string;
  after: string;
}

export interface PlanObject {
  key: string;
  source: string;
  action: 'create' | 'change' | 'unchanged';
  resourceVersion: string;
  changes: PlanChange[];
  refusal?: string;
  /** A workload scaled down or losing containers. */
  destructive?: string[];
}

export interface Plan {
  targets: PlanTarget[];
  objects: PlanObject[];
  /** Changes a reviewer must see first: replicas reduced, containers removed. */
  destructive: string[];
}

export interface PlanRequest {
  targets: Target[];
  image: string;
  reference: string;
  digest: string;
  changeCause: string;
  /** The manifests in apply order with the image given; dry-run applied with `force`. */
  manifests?: { objects: ManifestObject[]; force: boolean };
  /** The input `preview-values`: whether the plan shows the objects' values (see plan-values.ts). */
  previewValues?: PreviewValues;
  /** The input `canary`: its steps are planned for each target. */
  canary?: { steps: CanaryStep[] };
}

async function planTarget(kube: Kube, target: Target, request: PlanRequest): Promise<PlanTarget> {
  const live = await kube.getWorkload(target);
  const record = recordOf(target, live, request.image);
  const containers = record.containers.map((c) => ({ name: c.name, before: c.image, after: request.reference }));
  const ops = patchToDigest(live, record.containers, request);
  const plan: PlanTarget = {
    key: targetKey(target),
    resourceVersion: live.metadata?.resourceVersion ?? '',
    generation: live.metadata?.generation ?? 0,
    containers,
    noop: ops === undefined,
  };
  const steps = request.canary?.steps ?? [];
  if (steps.length > 0) plan.canary = canaryPlan(target.kind, live, steps, plan.noop);
  if (ops === undefined) return plan;
  try {
    await kube.patchWorkload(target, ops, { dryRun: true });
  } catch (error) {
    plan.refusal = messageOf(error);
  }
  return plan;
}

/**
 * The fields the apply would change, as a reviewer reads them: a container's image is
 * `spec.template.spec.containers[web].image`, not the whole list of containers as JSON.
 */
export function changesOf(live: KubeObject, result: KubeObject, view: ValueView = newValueView('shown')): PlanChange[] {
  return changedFields(live, result).flatMap((path) => {
    const [before, after] = [at(live, path), at(result, path)];
    const fine = differences(before, after, { namedLists: true, path });
    // Nothing differs item by item (only the items' order, or a second item of one name): show it whole, as the
    // apply's comparison found it.
    const items = fine.length > 0 ? fine : [{ path, before, after }];
    return items.map((d) => ({
      field: fieldName(d.path).replaceAll('.[', '['),
      before: shownValue(live.kind, d.path, d.before, view, 'before'),
      after: shownValue(result.kind, d.path, d.after, view, 'after'),
    }));
  });
}

async function planObject(kube: Kube, m: ManifestObject, force: boolean, view: ValueView): Promise<PlanObject> {
  const live = await kube.getObject(refOf(m.object));
  const base = { key: objectKey(m.object), source: sourceOf(m), resourceVersion: live?.metadata.resourceVersion ?? '' };
  let result: KubeObject;
  try {
    result = (await kube.applyObject(m.object, { dryRun: true, force })).object;
  } catch (error) {
    return { ...base, action: live ? 'change' : 'create', changes: [], refusal: applyProblem(m, error) };
  }
  if (live === undefined) return { ...base, action: 'create', changes: [] };
  const changes = changesOf(live, result, view);
  const destructive = destructiveOf(base.key, live, result);
  return {
    ...base,
    action: changes.length > 0 ? 'change' : 'unchanged',
    changes,
    ...(destructive.length > 0 ? { destructive } : {}),
  };
}

/** What a reviewer must see first: a workload scaled down, or losing containers. */
function destructiveOf(key: string, live: KubeObject, result: KubeObject): string[] {
  const out: string[] = [];
  const replicas = (o: KubeObject): unknown => at(o, ['spec', 'replicas']);
  const [was, will] = [replicas(live), replicas(result)];
  if (typeof was === 'number' && typeof will === 'number' && will < was) out.push(`${key}: replicas ${was} → ${will}`);
  for (const list of ['containers', 'initContainers']) {
    const names = (o: KubeObject): string[] =>
      ((at(o, ['spec', 'template', 'spec', list]) as { name: string }[] | undefined) ?? []).map((c) => c.name);
    const gone = names(live).filter((n) => !names(result).includes(n));
    if (gone.length > 0)
      out.push(`${key}: ${list === 'containers' ? 'container' : 'initContainer'} ${gone.join(', ')} removed`);
  }
  return out;
}

/** Plans the deploy: every target and object, at once; nothing is changed. */
export async function planDeploy(kube: Kube, request: PlanRequest): Promise<Plan> {
  const targets = await Promise.all(request.targets.map((t) => planTarget(kube, t, request)));
  const manifests = request.manifests;
  const view = newValueView(request.previewValues ?? 'shown');
  const objects = manifests
    ? await Promise.all(manifests.objects.map((m) => planObject(kube, m, manifests.force, view)))
    : [];
  return { targets, objects, destructive: objects.flatMap((o) => o.destructive ?? []) };
}

/** Whether the plan says the deploy would be refused anywhere. */
export function wouldFail(plan: Plan): boolean {
  return plan.targets.some((t) => t.refusal) || plan.objects.some((o) => o.refusal);
}
