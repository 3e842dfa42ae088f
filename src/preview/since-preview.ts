/**
 * The preview's promise, checked by the deploy that follows it. A preview's comment carries a stamp (hidden in the
 * comment: the commit and every target's and object's live resourceVersion when the plan was made); the deploy
 * after the merge finds that comment, reads the stamp and says, per target and object, whether the cluster changed
 * it since. A plan that no longer holds is then never shipped unknowingly.
 */
import { isRecord } from '../lib/json.js';
import type { Plan } from './preview.js';

export interface PreviewStamp {
  /** The commit the plan was made for (the pull request's head). */
  sha: string;
  /** resourceVersion per target key when the plan was made. */
  targets: Record<string, string>;
  /** resourceVersion per object key (`Kind namespace/name`); empty for one that did not exist. */
  objects: Record<string, string>;
}

export interface SinceItem {
  key: string;
  /** The resourceVersion the preview saw; undefined when the preview did not have this target or object. */
  atPreview: string | undefined;
  /** The resourceVersion the deploy read just before changing it; empty for an object that did not exist. */
  atDeploy: string;
}

/** A preview comment found for a deploy: its stamp, and the head commit of the pull request it is on. */
export interface FoundPreview {
  stamp: PreviewStamp;
  /** `undefined` when GitHub did not say: then nothing proves the stamp is of the merged head. */
  head: string | undefined;
}

/** What the deploy found against the preview it follows. */
export interface SincePreview {
  /** The commit the preview was of. */
  sha: string;
  /** The merged pull request's head commit, as GitHub gave it. */
  head: string | undefined;
  /**
   * Whether the preview was of the merged head. When it was not (a push after the last preview, a preview that
   * failed before commenting), its plan is of other code: every target and object counts as not in the preview.
   */
  headPreviewed: boolean;
  targets: SinceItem[];
  objects: SinceItem[];
  /** The stamp compared with, kept in the deploy's comment so that a re-run of this deploy compares with it too. */
  stamp: PreviewStamp;
}

const STAMP = /<!-- kube-ship:preview ([A-Za-z0-9_-]+) -->/;
/** A stamp larger than this is not read: a comment is at most 65,536 characters anyway. */
const STAMP_LIMIT = 60_000;

export function stampOf(plan: Plan, sha: string): PreviewStamp {
  return {
    sha,
    targets: Object.fromEntries(plan.targets.map((t) => [t.key, t.resourceVersion])),
    objects: Object.fromEntries(plan.objects.map((o) => [o.key, o.resourceVersion])),
  };
}

/** The stamp as a hidden comment line (base64url JSON: nothing in it can close the HTML comment). */
export function stampLine(stamp: PreviewStamp): string {
  return `<!-- kube-ship:preview ${Buffer.from(JSON.stringify(stamp)).toString('base64url')} -->`;
}

/** A resourceVersion as the API server writes them (opaque, but never more than this): what the log may show. */
const VERSION = /^[0-9A-Za-z._-]{0,64}$/;

const isVersionMap = (value: unknown): value is Record<string, string> =>
  isRecord(value) && Object.values(value).every((v) => typeof v === 'string' && VERSION.test(v));

/** The stamp of a preview comment's body, or undefined when it has none (or one that is not a stamp). */
export function readStamp(body: string): PreviewStamp | undefined {
  const found = STAMP.exec(body);
  if (!found || found[1]!.length > STAMP_LIMIT) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(found[1]!, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const { sha, targets, objects } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof sha !== 'string' || !/^[0-9a-f]{0,64}$/i.test(sha)) return undefined;
  if (!isVersionMap(targets) || !isVersionMap(objects)) return undefined;
  return { sha, targets, objects };
}

/**
 * Compares what the deploy read before changing anything with what the preview saw. A stamp of another commit than
 * the merged head plans nothing of this deploy.
 */
export function sincePreview(
  found: FoundPreview,
  targets: { key: string; resourceVersionBefore?: string }[],
  objects: { key: string; resourceVersionBefore?: string }[],
): SincePreview {
  const { stamp, head } = found;
  const headPreviewed = head !== undefined && head.toLowerCase() === stamp.sha.toLowerCase();
  const items = (list: typeof targets, seen: Record<string, string>): SinceItem[] =>
    list.map((t) => ({
      key: t.key,
      atPreview: headPreviewed && Object.hasOwn(seen, t.key) ? seen[t.key] : undefined,
      atDeploy: t.resourceVersionBefore ?? '',
    }));
  return {
    sha: stamp.sha,
    head,
    headPreviewed,
    targets: items(targets, stamp.targets),
    objects: items(objects, stamp.objects),
    stamp,
  };
}

/** A target or object the preview never planned for (or every one, when the merged head was never previewed). */
export function unplanned(item: SinceItem): boolean {
  return item.atPreview === undefined;
}

/** Whether the cluster changed this target or object between the preview and the deploy. */
export function changedSince(item: SinceItem): boolean {
  return item.atPreview !== undefined && item.atPreview !== item.atDeploy;
}
