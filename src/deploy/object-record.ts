/**
 * What a manifest deploy did to each object, and how to undo exactly that. An object the deploy created (the apply
 * answered 201 Created) is deleted, only that very object (its uid), except a Namespace or CustomResourceDefinition,
 * which is left in place and reported: deleting either deletes what it holds. An object that existed gets back the
 * values it had in every field kube-ship's apply changed (spec, data, labels, annotations, any field), by applying
 * the same configuration with those fields set back, so kube-ship stays the one field manager of what it applied
 * and the next deploy meets no conflict with itself. A field someone else changed after the deploy keeps their
 * value, whether the deploy changed it or not (see `planObjectRestore`); that is said, never overwritten.
 */
import { createHash } from 'node:crypto';
import type { KubeObject, ObjectRef } from '../cluster/kube.js';
import { isRecord } from '../lib/json.js';
import { canonicalJson } from './patch.js';

export type ObjectOutcome = 'created' | 'configured' | 'unchanged' | 'restored' | 'deleted' | 'not-restored';

export interface ObjectRecord {
  /** `Kind namespace/name`. */
  key: string;
  /** `file document N`. */
  source: string;
  ref: ObjectRef;
  /** Whether the deploy's apply made the object (the API server's answer, not a read before it). */
  created: boolean;
  /**
   * The object before the deploy; undefined when the deploy created it, or when it was made (or replaced) by
   * someone else between the read before the apply and the apply: then what it was before is not known.
   */
  before: KubeObject | undefined;
  /** The configuration that was applied (the manifest, with the image given). */
  applied: KubeObject;
  /** The object as the apply left it. */
  after: KubeObject;
}

/** What the apply did: made it, changed it, or found it already so (the resourceVersion did not move). */
export function appliedOutcome(created: boolean, before: KubeObject | undefined, after: KubeObject): ObjectOutcome {
  if (created) return 'created';
  return before?.metadata.resourceVersion === after.metadata.resourceVersion ? 'unchanged' : 'configured';
}

export type Path = string[];

/** How the records file keeps a value the post step does not need (a Secret's): its hash, equal for equal values. */
export function valueHash(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** Whether a live value is the recorded one, also when the record read from the file holds only its hash. */
function holds(live: unknown, recorded: unknown): boolean {
  if (same(live, recorded)) return true;
  return (
    live !== undefined && typeof recorded === 'string' && recorded.startsWith('sha256:') && valueHash(live) === recorded
  );
}

export const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

export function at(value: unknown, path: Path): unknown {
  let node = value;
  for (const part of path) {
    if (!isRecord(node)) return undefined;
    node = node[part];
  }
  return node;
}

/** Sets (or, for undefined, removes) the value at `path`, making the maps on the way; false when a non-map is in the way. */
function setAt(target: Record<string, unknown>, path: Path, value: unknown): boolean {
  let node = target;
  for (const part of path.slice(0, -1)) {
    if (node[part] === undefined) {
      if (value === undefined) return true;
      node[part] = {};
    }
    const next = node[part];
    if (!isRecord(next)) return false;
    node = next;
  }
  const last = path[path.length - 1] ?? '';
  if (value === undefined) delete node[last];
  else node[last] = structuredClone(value);
  return true;
}

/** One place where two values differ: its path and the value on each side (undefined where it is absent). */
export interface Difference {
  path: Path;
  before: unknown;
  after: unknown;
}

export interface DifferenceOptions {
  /**
   * Compare a list whose items all have a name (containers, env, ports, volumes) item by item, by name, each item's
   * path part being `[name]`, as a reviewer reads it; otherwise (as the restore needs, for `at` and `setAt` to reach
   * every path) a list is one value.
   */
  namedLists?: boolean;
  /** Where `a` and `b` are, prefixed to every path. */
  path?: Path;
}

/** A list whose items all have a name; an empty list is not one. */
const isNamedList = (value: unknown): value is Record<string, unknown>[] =>
  Array.isArray(value) && value.length > 0 && value.every((v) => isRecord(v) && typeof v.name === 'string');

/** The first item of that name, as the list is read by name. */
const itemNamed = (list: Record<string, unknown>[], name: string): unknown => list.find((i) => i.name === name);

/**
 * The leaves where two values differ: maps are compared key by key (sorted), and with `namedLists` named lists
 * item by item (in the order the names first appear, `a`'s then `b`'s); anything else is one value.
 */
export function differences(a: unknown, b: unknown, options: DifferenceOptions = {}): Difference[] {
  const path = options.path ?? [];
  const below = (x: unknown, y: unknown, part: string): Difference[] =>
    differences(x, y, { ...options, path: [...path, part] });
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => below(a[key], b[key], key));
  }
  if (options.namedLists === true && isNamedList(a) && isNamedList(b)) {
    const names = [...new Set([...a, ...b].map((i) => i.name as string))];
    return names.flatMap((name) => below(itemNamed(a, name), itemNamed(b, name), `[${name}]`));
  }
  return same(a, b) ? [] : [{ path, before: a, after: b }];
}

/** The parts of an object a deploy can change: everything but identity, status and server bookkeeping. */
function content(object: KubeObject): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...object };
  for (const field of ['apiVersion', 'kind', 'metadata', 'status']) delete rest[field];
  const { labels = {}, annotations = {} } = object.metadata;
  return { ...rest, metadata: { labels, annotations } };
}

/** The fields (dotted) whose value the apply changed. */
export function changedFields(before: KubeObject, after: KubeObject): Path[] {
  return differences(content(before), content(after)).map((d) => d.path);
}

export const fieldName = (path: Path): string => path.join('.');

export type ObjectRestorePlan =
  | { kind: 'delete'; uid: string }
  | { kind: 'apply'; object: KubeObject; restored: string[]; kept: string[] }
  | { kind: 'nothing'; note: string }
  | { kind: 'leave'; note: string };

/** The leaves (scalars and lists) a configuration sets: where its maps end. */
function leaves(value: unknown, path: Path = []): Path[] {
  if (!isRecord(value)) return [path];
  return Object.keys(value).flatMap((key) => leaves(value[key], [...path, key]));
}

const under = (path: Path, field: Path): boolean => field.every((part, i) => path[i] === part);

/**
 * What deleting an object would delete with it, for the kinds a rollback never deletes (a Namespace: everything in
 * it; a CustomResourceDefinition: every object of its kind); undefined for any other kind.
 */
function containerOf(ref: ObjectRef): string | undefined {
  const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
  if (group === '' && ref.kind === 'Namespace') return 'everything in the namespace';
  if (group === 'apiextensions.k8s.io' && ref.kind === 'CustomResourceDefinition') return 'every object of its kind';
  return undefined;
}

/**
 * How to undo what the deploy did to one object, given the object as it is now. Each field is decided on its own,
 * from its value before the deploy, as the apply left it, and now:
 *
 * | the deploy's apply   | since the apply                 | the restore's configuration                 |
 * |----------------------|---------------------------------|---------------------------------------------|
 * | changed it           | untouched (now = after)         | the value before (or left out: none before) |
 * | changed it           | set back by someone (= before)  | left out: theirs, already as it was         |
 * | changed it           | changed again by someone        | left out, and named in the note ("kept")    |
 * | applied it unchanged | untouched (now = after)         | sent as it is: no change                    |
 * | applied it unchanged | changed by someone (a scale)    | left out: never set back                    |
 *
 * A field left out is one kube-ship no longer owns (the other writer took it), so the apply leaves its value. A field
 * kube-ship applied unchanged and still holds is sent as it is rather than left out: server-side apply removes a
 * field its last owner leaves out of its configuration, so leaving out `replicas: 3` would reset it.
 */
export function planObjectRestore(record: ObjectRecord, live: KubeObject | undefined): ObjectRestorePlan {
  const uid = record.after.metadata.uid ?? '';
  if (live === undefined) {
    return record.created
      ? { kind: 'nothing', note: 'already gone' }
      : { kind: 'leave', note: 'deleted since the deploy by someone else; not made again' };
  }
  if (live.metadata.uid !== uid) {
    return { kind: 'leave', note: 'deleted and made again since the deploy by someone else; left as it is' };
  }
  if (record.created) {
    const inside = containerOf(record.ref);
    if (inside === undefined) return { kind: 'delete', uid };
    return {
      kind: 'leave',
      note:
        `created by this deploy and left in place: deleting it would delete ${inside}, ` +
        'including what others made there since; delete it by hand if nothing needs it',
    };
  }
  if (record.before === undefined) {
    return {
      kind: 'leave',
      note: 'made by someone else just before this deploy applied it, so what it was before is not known; left as it is',
    };
  }

  const before = content(record.before);
  const after = content(record.after);
  const now = content(live);
  const object = structuredClone(record.applied);
  const configuration = object as unknown as Record<string, unknown>;
  const restored: string[] = [];
  const kept: string[] = [];
  const changed = changedFields(record.before, record.after);
  for (const path of changed) {
    if (holds(at(now, path), at(after, path))) {
      if (setAt(configuration, path, at(before, path))) restored.push(fieldName(path));
      else kept.push(fieldName(path));
      continue;
    }
    // Not ours any more: left out of the configuration, so applying it leaves their value.
    setAt(configuration, path, undefined);
    if (!holds(at(now, path), at(before, path))) kept.push(fieldName(path));
  }
  for (const path of leaves(content(record.applied))) {
    if (changed.some((field) => under(path, field))) continue;
    // Applied unchanged and changed since by someone else (`kubectl scale`, an HPA): theirs, never sent.
    if (!holds(at(now, path), at(after, path))) setAt(configuration, path, undefined);
  }
  if (restored.length === 0) {
    return kept.length === 0
      ? { kind: 'nothing', note: 'already as it was before the deploy' }
      : { kind: 'leave', note: `changed since the deploy by someone else (${kept.join(', ')}); left as it is` };
  }
  object.metadata = { ...object.metadata, resourceVersion: live.metadata.resourceVersion };
  return { kind: 'apply', object, restored, kept };
}
