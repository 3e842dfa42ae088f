/**
 * What is sent to change a Deployment, as JSON Patch: the deploy patch (only the chosen containers' images, each
 * guarded by a `test` of the container's name, so a wrong index fails instead of changing another container) and
 * the rollback patch (the whole recorded template). Both carry the resourceVersion read just before, which the API
 * server checks: a concurrent change gives 409 Conflict instead of being overwritten.
 */
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import type { JsonPatchOp } from '../cluster/kube.js';
import { isRecord } from '../lib/json.js';
import { splitReference } from '../desired/image-ref.js';
import type { ChosenContainer } from '../desired/targets.js';

export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

/** JSON Pointer escaping of one path segment (RFC 6901). */
export function pointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function annotationOps(
  annotations: Record<string, string> | undefined,
  key: string,
  value: string | undefined,
): JsonPatchOp[] {
  const path = `/metadata/annotations/${pointerSegment(key)}`;
  if (value === undefined) return annotations?.[key] === undefined ? [] : [{ op: 'remove', path }];
  if (annotations === undefined) return [{ op: 'add', path: '/metadata/annotations', value: { [key]: value } }];
  return [{ op: 'add', path, value }];
}

/** The patch that moves the chosen containers to `reference` and records why in the change-cause annotation. */
export function deployPatch(
  resourceVersion: string,
  annotations: Record<string, string> | undefined,
  containers: ChosenContainer[],
  reference: string,
  changeCause: string,
): JsonPatchOp[] {
  return [
    { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion },
    ...containers.flatMap((c): JsonPatchOp[] => [
      { op: 'test', path: `/spec/template/spec/${c.kind}/${c.index}/name`, value: c.name },
      { op: 'replace', path: `/spec/template/spec/${c.kind}/${c.index}/image`, value: reference },
    ]),
    ...annotationOps(annotations, CHANGE_CAUSE_ANNOTATION, changeCause),
  ];
}

/**
 * What a deploy asks of a workload as read: nothing (undefined) when its chosen containers all run the digest
 * already, else the patch that moves them to the reference, guarded by the resourceVersion read.
 */
export function patchToDigest(
  live: { metadata?: { resourceVersion?: string; annotations?: Record<string, string> } },
  containers: ChosenContainer[],
  to: { digest: string; reference: string; changeCause: string },
): JsonPatchOp[] | undefined {
  if (containers.every((c) => splitReference(c.image).digest === to.digest)) return undefined;
  const resourceVersion = live.metadata?.resourceVersion ?? '';
  return deployPatch(resourceVersion, live.metadata?.annotations, containers, to.reference, to.changeCause);
}

/**
 * The patch that puts back exactly the template recorded before the deploy (not "the previous revision", which
 * may itself be a failed deploy), and the change-cause it had.
 */
export function rollbackPatch(
  resourceVersion: string,
  annotations: Record<string, string> | undefined,
  recordedTemplate: V1PodTemplateSpec,
  recordedChangeCause: string | undefined,
): JsonPatchOp[] {
  return [
    { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion },
    { op: 'replace', path: '/spec/template', value: recordedTemplate },
    ...annotationOps(annotations, CHANGE_CAUSE_ANNOTATION, recordedChangeCause),
  ];
}

/** `kubernetes.io/change-cause` text: what was deployed, from which commit, by whom, with a link to the run. */
export function changeCause(reference: string, sha: string, actor: string, runUrl: string): string {
  const parts = [`kube-ship deployed ${reference}`];
  if (sha !== '') parts.push(`commit ${sha.slice(0, 12)}`);
  if (actor !== '') parts.push(`by ${actor}`);
  if (runUrl !== '') parts.push(runUrl);
  return parts.join(' ');
}

/** Templates compared as the API server stores them: key order and undefined fields do not matter. */
export function sameTemplate(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Date) return v.toISOString();
    if (isRecord(v)) {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined && x !== null);
      return Object.fromEntries(entries.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    }
    return v;
  });
}

/** What a whole-template restore says; a DaemonSet's status names no revision. */
const restoredNote = (revision: string): string =>
  revision === '' ? 'restored the recorded template' : `restored the recorded template (revision ${revision})`;

/** What to do to put back a target we patched, decided from the live Deployment (see `planRestore`). */
export type RestorePlan =
  | { kind: 'nothing'; note: string }
  | { kind: 'leave'; note: string }
  /** `only`: whether the whole template goes back, or only our containers' images. */
  | { kind: 'patch'; only: 'template' | 'images'; ops: JsonPatchOp[]; note: string };

/** What a restore needs of a target's record (`TargetRecord` holds it and more). */
export interface RestoreRecord {
  /** The workload's identity: another uid means it was deleted and created again. */
  uid: string;
  containers: ChosenContainer[];
  template: V1PodTemplateSpec;
  changeCause: string | undefined;
  /**
   * The revision the recorded template runs as: a Deployment's revision number, a StatefulSet's update revision
   * (the ControllerRevision its pods are labelled with); empty for a DaemonSet, whose status does not say.
   */
  revision: string;
  /** Set once patched: the template our patch produced, and the reference and change-cause it wrote. */
  applied?: { template: V1PodTemplateSpec; reference: string; changeCause: string };
}

interface LiveDeployment {
  metadata?: { uid?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { template?: V1PodTemplateSpec };
}

/**
 * How to undo exactly what our patch did and nothing more. The live template still the one our patch produced:
 * the recorded template goes back whole. Changed since by someone else, with our containers still on our
 * reference: only those containers' images are reverted, each guarded by `test` ops, and the other change stays.
 * The Deployment replaced (another uid) or our containers changed again: nothing is touched. Every patch carries the
 * resourceVersion just read, so a change in between gives 409 and a fresh decision.
 *
 * The deploy patch changes only the pod template (images) and the change-cause, so that is all a restore ever
 * writes: replicas (a `kubectl scale`, an HPA), labels and every other field outside the template are never sent,
 * and the whole template goes back only when nobody has changed it since our patch.
 */
export function planRestore(record: RestoreRecord, live: LiveDeployment): RestorePlan {
  const template = live.spec?.template;
  const annotations = live.metadata?.annotations;
  const resourceVersion = live.metadata?.resourceVersion ?? '';
  if (record.uid !== '' && live.metadata?.uid !== record.uid) {
    return { kind: 'leave', note: 'it was deleted and created again during the deploy; left as it is' };
  }
  if (sameTemplate(template, record.template)) return { kind: 'nothing', note: 'already on the recorded template' };
  const applied = record.applied;
  const ours = applied !== undefined && annotations?.[CHANGE_CAUSE_ANNOTATION] === applied.changeCause;
  // A change-cause someone else wrote since is theirs: it is kept.
  const cause = ours ? record.changeCause : annotations?.[CHANGE_CAUSE_ANNOTATION];
  const wholeTemplate = (note: string): RestorePlan => ({
    kind: 'patch',
    only: 'template',
    ops: rollbackPatch(resourceVersion, annotations, record.template, cause),
    note,
  });
  // Without what was applied (a record that was never patched) the recorded template is the only guide.
  if (applied === undefined) return wholeTemplate(restoredNote(record.revision));
  const stillOurs = record.containers.every((c) => {
    const container = (template?.spec?.[c.kind] ?? [])[c.index];
    return container?.name === c.name && container.image === applied.reference;
  });
  if (!stillOurs) {
    return { kind: 'leave', note: 'its containers were changed again by someone else; left as it is' };
  }
  if (sameTemplate(template, applied.template)) {
    return wholeTemplate(restoredNote(record.revision));
  }
  return {
    kind: 'patch',
    only: 'images',
    ops: [
      { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion },
      ...record.containers.flatMap((c): JsonPatchOp[] => [
        { op: 'test', path: `/spec/template/spec/${c.kind}/${c.index}/name`, value: c.name },
        { op: 'test', path: `/spec/template/spec/${c.kind}/${c.index}/image`, value: applied.reference },
        { op: 'replace', path: `/spec/template/spec/${c.kind}/${c.index}/image`, value: c.image },
      ]),
      ...(ours ? annotationOps(annotations, CHANGE_CAUSE_ANNOTATION, record.changeCause) : []),
    ],
    note: 'someone else changed its pod template during the deploy: reverted only our images and kept their change',
  };
}
