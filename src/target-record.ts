/**
 * What a target looked like before the deploy and what our patch made of it: enough to put it back exactly, and
 * to tell our change from anyone else's when rolling back. Preflight builds one to check that a target can be
 * deployed; the engine keeps them; the post step reads them back from a file.
 */
import type { V1Deployment, V1PodTemplateSpec } from '@kubernetes/client-node';
import { selectorString } from './kube-watch.js';
import { CHANGE_CAUSE_ANNOTATION } from './patch.js';
import { chooseContainers, targetKey, type ChosenContainer, type Target } from './targets.js';
import { REVISION_ANNOTATION } from './verdict.js';

export interface TargetRecord {
  key: string;
  namespace: string;
  name: string;
  /** The Deployment's identity: another uid means it was deleted and created again. */
  uid: string;
  /** Its label selector (labelSelector syntax): what its ReplicaSets and pods are watched by. */
  selector: string;
  containers: ChosenContainer[];
  template: V1PodTemplateSpec;
  changeCause: string | undefined;
  revision: string;
  replicas: number;
  /** Set once patched: the template our patch produced, and the reference and change-cause it wrote. */
  applied?: { template: V1PodTemplateSpec; reference: string; changeCause: string };
}

/** Reads a target and records what its rollback needs. Throws when it cannot be deployed (paused, no container). */
export function recordOf(target: Target, deployment: V1Deployment, image: string): TargetRecord {
  const key = targetKey(target);
  if (deployment.spec?.paused) {
    throw new Error(`${key} is paused; resume it (kubectl rollout resume deployment/${target.name}) or remove it.`);
  }
  const template = deployment.spec?.template ?? {};
  return {
    key,
    namespace: target.namespace,
    name: target.name,
    uid: deployment.metadata?.uid ?? '',
    selector: selectorString(deployment.spec?.selector),
    containers: chooseContainers(
      target,
      { containers: template.spec?.containers ?? [], initContainers: template.spec?.initContainers },
      image,
    ),
    template,
    changeCause: deployment.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION],
    revision: deployment.metadata?.annotations?.[REVISION_ANNOTATION] ?? '',
    replicas: deployment.spec?.replicas ?? 1,
  };
}

/** The lastUpdateTime of a ProgressDeadlineExceeded the Deployment carries now: anything up to it is stale. */
export function deadlineExceededAt(deployment: V1Deployment): string | undefined {
  const progressing = deployment.status?.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason !== 'ProgressDeadlineExceeded' || progressing.lastUpdateTime === undefined) return undefined;
  return new Date(progressing.lastUpdateTime).toISOString();
}
