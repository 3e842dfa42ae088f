/**
 * Canary first, for Deployments: before the stable Deployment changes, the release runs as `<name>-canary`, a
 * Deployment of its own made from the live one with the new image. Its selector and pods carry one more label
 * (`kube-ship.dev/track: canary`), so the two controllers never share pods, while the labels the Services select
 * are kept, so the canary takes its share of the traffic. This file holds the pure parts: the replicas of a step
 * and the canary object. canary-run.ts runs the steps.
 */
import type { V1Deployment, V1PodTemplateSpec } from '@kubernetes/client-node';
import type { KubeObject } from '../cluster/kube.js';
import type { CanaryStep } from '../desired/canary.js';
import type { ChosenContainer } from '../desired/targets.js';
import { CHANGE_CAUSE_ANNOTATION } from './patch.js';

/** The label that tells the canary's pods (and its selector) from the stable ones. */
export const TRACK_LABEL = 'kube-ship.dev/track';
/** The annotation on a canary naming the Deployment it is the canary of. */
export const CANARY_OF_ANNOTATION = 'kube-ship.dev/canary-of';
/** The annotation on a canary naming the run that made it (a random id): how a retry knows its own canary. */
export const CANARY_RUN_ANNOTATION = 'kube-ship.dev/canary-run';

export const canaryName = (name: string): string => `${name}-canary`;

/**
 * The canary's replicas at a step, next to `stable` stable replicas: `k` pods for a step of pods; for a share `p`
 * (percent) of all the pods, ceil(p * N / (100 - p)), at least one. The stable count is the live one (as an HPA
 * set it): the canary never changes it.
 */
export function canaryReplicas(step: CanaryStep, stable: number): number {
  if (step.kind === 'pods') return step.count;
  return Math.max(1, Math.ceil((step.percent * stable) / (100 - step.percent)));
}

/** The stable's pod template with the chosen containers on `reference` and the track label added. */
function canaryTemplate(template: V1PodTemplateSpec, containers: ChosenContainer[], reference: string) {
  const copy = structuredClone(template);
  copy.metadata = { ...copy.metadata, labels: { ...copy.metadata?.labels, [TRACK_LABEL]: 'canary' } };
  for (const c of containers) {
    const container = copy.spec?.[c.kind]?.[c.index];
    if (container) container.image = reference;
  }
  return copy;
}

/**
 * The canary Deployment, as kube-ship applies it: the stable's selector, strategy and pod template (the new image,
 * the track label), `replicas` pods, and nothing an HPA or another tool owns on the stable (no annotations but its
 * own, no status, no paused). Applied again at each step, only its replicas change.
 */
export function canaryObject(
  stable: V1Deployment,
  containers: ChosenContainer[],
  options: { reference: string; changeCause: string; replicas: number; run: string },
): KubeObject {
  const name = stable.metadata?.name ?? '';
  const spec = stable.spec;
  const selector = structuredClone(spec?.selector ?? {});
  selector.matchLabels = { ...selector.matchLabels, [TRACK_LABEL]: 'canary' };
  const kept = {
    ...(spec?.strategy ? { strategy: spec.strategy } : {}),
    ...(spec?.minReadySeconds !== undefined ? { minReadySeconds: spec.minReadySeconds } : {}),
    ...(spec?.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: spec.progressDeadlineSeconds } : {}),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: canaryName(name),
      namespace: stable.metadata?.namespace ?? '',
      labels: { ...stable.metadata?.labels, [TRACK_LABEL]: 'canary' },
      annotations: {
        [CANARY_OF_ANNOTATION]: name,
        [CANARY_RUN_ANNOTATION]: options.run,
        [CHANGE_CAUSE_ANNOTATION]: options.changeCause,
      },
    },
    spec: {
      replicas: options.replicas,
      selector,
      ...kept,
      template: canaryTemplate(spec?.template ?? {}, containers, options.reference),
    },
  };
}
