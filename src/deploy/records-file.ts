/**
 * The records the post step needs, in files of their own under RUNNER_TEMP, readable by the runner's user only,
 * and there only while the post step may need them: removed once the main step finishes, and by the post step
 * after it has read them. A Secret's values are kept only where the post step would set them back (a Secret this
 * deploy changed); everywhere else they are written as hashes. The post step trusts no record blindly: each must
 * name one object, with a uid, and every copy of the object in it must be that object.
 */
import { mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KubeObject } from '../cluster/kube.js';
import { isRecord } from '../lib/json.js';
import { objectKey } from '../desired/manifests.js';
import { targetKey } from '../desired/targets.js';
import { changedFields, fieldName, valueHash, type ObjectRecord } from './object-record.js';
import type { JobRecord } from './job-run.js';
import type { TargetRecord } from './target-record.js';
import type { ReleaseRecord } from './chart-release.js';
import type { RouteRecord } from './canary-traffic.js';

/** A path named `name` in a new directory of its own under RUNNER_TEMP. */
function newFile(env: NodeJS.ProcessEnv, name: string): string {
  return join(mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'kube-ship-')), name);
}

/** Writes the records as JSON, readable by the runner's user only. */
function writePrivate(file: string, records: unknown[]): void {
  writeFileSync(file, JSON.stringify(records), { mode: 0o600 });
}

/** Removes a records file and its directory; one already gone is no error. */
export function removeRecordsFile(file: string): void {
  if (file === '') return;
  rmSync(file, { force: true });
  try {
    rmdirSync(dirname(file));
  } catch {
    // Not empty, or gone: only our own empty directory is removed.
  }
}

/** Writes the records to a new file and returns its path. */
export function saveRecords(records: TargetRecord[], env: NodeJS.ProcessEnv): string {
  const file = newFile(env, 'records.json');
  writePrivate(file, records);
  return file;
}

/** A new file for the manifests' records, written again after every object applied (`writeObjectRecords`). */
export function objectRecordsFile(env: NodeJS.ProcessEnv): string {
  return newFile(env, 'objects.json');
}

export function writeObjectRecords(file: string, records: ObjectRecord[]): void {
  writePrivate(file, records.map(withSecretsHashed));
}

/** The records files of one deploy: made on the first save, each path handed to `save` for the post step. */
export interface PostRecords {
  saveTargets(records: TargetRecord[]): void;
  saveObjects(records: ObjectRecord[]): void;
  /** The Jobs running now (an empty list once none is). */
  saveJobs(records: JobRecord[]): void;
  /** The Helm release a chart deploy changes, and its revision before (`chart`). */
  saveRelease(record: ReleaseRecord): void;
  /** The route of `canary-route`, recorded before its weights change and after each change. */
  saveRoute(record: RouteRecord): void;
  /** Removes both files: the main step finished, nothing is left for the post step to undo. */
  remove(): void;
}

export function postRecords(
  env: NodeJS.ProcessEnv,
  save: (fact: 'recordsFile' | 'objectsFile' | 'jobsFile' | 'releaseFile' | 'routeFile', path: string) => void,
): PostRecords {
  const files = { targets: '', objects: '', jobs: '', release: '', route: '' };
  return {
    saveTargets(records) {
      removeRecordsFile(files.targets);
      files.targets = saveRecords(records, env);
      save('recordsFile', files.targets);
    },
    saveObjects(records) {
      if (files.objects === '') {
        files.objects = objectRecordsFile(env);
        save('objectsFile', files.objects);
      }
      writeObjectRecords(files.objects, records);
    },
    saveJobs(records) {
      if (files.jobs === '') {
        files.jobs = newFile(env, 'jobs.json');
        save('jobsFile', files.jobs);
      }
      writePrivate(files.jobs, records);
    },
    saveRelease(record) {
      if (files.release === '') {
        files.release = newFile(env, 'release.json');
        save('releaseFile', files.release);
      }
      writePrivate(files.release, [record]);
    },
    saveRoute(record) {
      if (files.route === '') {
        files.route = newFile(env, 'route.json');
        save('routeFile', files.route);
      }
      writePrivate(files.route, [record]);
    },
    remove() {
      removeRecordsFile(files.targets);
      removeRecordsFile(files.objects);
      removeRecordsFile(files.jobs);
      removeRecordsFile(files.release);
      removeRecordsFile(files.route);
    },
  };
}

/** The fields of a Secret that hold (or, in an annotation such as last-applied, may embed) its values. */
const SECRET_FIELDS = [['data'], ['stringData'], ['metadata', 'annotations']];

/** `object` with every value under SECRET_FIELDS hashed, except at the paths in `keep`. */
function secretHashed(object: KubeObject, keep: Set<string>): KubeObject {
  const copy = structuredClone(object) as unknown as Record<string, unknown>;
  for (const path of SECRET_FIELDS) {
    let map: unknown = copy;
    for (const part of path) map = isRecord(map) ? map[part] : undefined;
    if (!isRecord(map)) continue;
    for (const key of Object.keys(map)) {
      if (!keep.has(fieldName([...path, key]))) map[key] = valueHash(map[key]);
    }
  }
  return copy as unknown as KubeObject;
}

/**
 * A record as the records file keeps it. For a Secret the post step needs values only to set back what this deploy
 * changed: the configuration it applies again (`applied`) and the old values of the changed fields. Every other
 * value is a hash (equal values keep equal hashes, so the changed fields read the same from the file).
 */
export function withSecretsHashed(record: ObjectRecord): ObjectRecord {
  if (record.applied.kind !== 'Secret') return record;
  const changed = record.before === undefined ? [] : changedFields(record.before, record.after).map(fieldName);
  const keep = new Set(changed);
  return {
    ...record,
    before: record.before && secretHashed(record.before, keep),
    after: secretHashed(record.after, keep),
    // Created (deleted by uid) or left unchanged (nothing to set back): its configuration is not needed either.
    applied: changed.length > 0 ? record.applied : secretHashed(record.applied, new Set()),
  };
}

/** A record refused by the post step, with why. */
function refused(file: string, index: number, key: unknown, why: string): Error {
  const name = typeof key === 'string' ? ` (${key})` : '';
  return new Error(
    `the records file ${file} holds a record that does not match the object it names: record ${index + 1}${name} ` +
      `${why}; nothing was restored from it: check what the deploy changed by hand`,
  );
}

const KINDS = new Set(['deployment', 'statefulset', 'daemonset']);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value !== '';

function readJsonList(file: string): unknown[] {
  const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(value)) throw new Error(`the records file ${file} is not a list of records`);
  return value;
}

/** The targets' records, each checked to name one workload by kind, namespace, name and uid. */
export function loadRecords(file: string): TargetRecord[] {
  return readJsonList(file).map((value, i) => {
    if (!isRecord(value)) throw refused(file, i, undefined, 'is not an object');
    const { key, kind, namespace, name, uid, template } = value;
    if (typeof kind !== 'string' || !KINDS.has(kind)) throw refused(file, i, key, 'has no workload kind');
    if (!nonEmpty(namespace) || !nonEmpty(name)) throw refused(file, i, key, 'has no namespace or name');
    if (!nonEmpty(uid)) throw refused(file, i, key, 'has no uid');
    if (!isRecord(template)) throw refused(file, i, key, 'has no template');
    const record = value as unknown as TargetRecord;
    if (key !== targetKey(record)) throw refused(file, i, key, `names ${targetKey(record)}`);
    return record;
  });
}

/** Whether a copy of an object in a record is the object the record names. */
function isObject(object: unknown, ref: ObjectRecord['ref']): boolean {
  if (!isRecord(object) || !isRecord(object.metadata)) return false;
  const { metadata } = object;
  return (
    object.apiVersion === ref.apiVersion &&
    object.kind === ref.kind &&
    metadata.name === ref.name &&
    (metadata.namespace ?? undefined) === (ref.namespace ?? undefined)
  );
}

/** The objects' records, each checked: every copy of the object is the one its ref names, with one uid. */
export function loadObjectRecords(file: string): ObjectRecord[] {
  return readJsonList(file).map((value, i) => {
    if (!isRecord(value)) throw refused(file, i, undefined, 'is not an object');
    const { key, ref, created, before, applied, after } = value;
    if (!isRecord(ref) || !nonEmpty(ref.apiVersion) || !nonEmpty(ref.kind) || !nonEmpty(ref.name)) {
      throw refused(file, i, key, 'names no object (apiVersion, kind and name)');
    }
    if (ref.namespace !== undefined && !nonEmpty(ref.namespace)) throw refused(file, i, key, 'has an empty namespace');
    const named = ref as unknown as ObjectRecord['ref'];
    const expected = objectKey({ kind: named.kind, metadata: { name: named.name, namespace: named.namespace } });
    if (key !== expected) throw refused(file, i, key, `names ${expected}`);
    if (!isObject(applied, named) || !isObject(after, named) || (before !== undefined && !isObject(before, named))) {
      throw refused(file, i, key, `holds another object than ${expected}`);
    }
    const uid = (after as unknown as KubeObject).metadata.uid;
    if (!nonEmpty(uid)) throw refused(file, i, key, 'has no uid');
    if (before !== undefined && (before as unknown as KubeObject).metadata.uid !== uid) {
      throw refused(file, i, key, 'holds two objects with different uids');
    }
    // Only a record that says the deploy created the object lets the restore delete it.
    if (typeof created !== 'boolean') throw refused(file, i, key, 'does not say whether the deploy created it');
    return value as unknown as ObjectRecord;
  });
}

/** The running Jobs' records, each checked to name one Job by namespace, name and uid. */
export function loadJobRecords(file: string): JobRecord[] {
  return readJsonList(file).map((value, i) => {
    if (!isRecord(value)) throw refused(file, i, undefined, 'is not an object');
    const { apiVersion, kind, namespace, name, uid } = value;
    const key = `${String(namespace)}/${String(name)}`;
    if (kind !== 'Job' || !nonEmpty(apiVersion)) throw refused(file, i, key, 'names no Job');
    if (!nonEmpty(namespace) || !nonEmpty(name) || !nonEmpty(uid))
      throw refused(file, i, key, 'has no namespace, name or uid');
    return { apiVersion, kind, namespace, name, uid };
  });
}

/** The Helm release record (one in the file), checked to name a release, a namespace and a revision. */
export function loadReleaseRecord(file: string): ReleaseRecord | undefined {
  const [value] = readJsonList(file);
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw refused(file, 0, undefined, 'is not an object');
  const { release, namespace, revision, helmPid } = value;
  if (!nonEmpty(release) || !nonEmpty(namespace)) throw refused(file, 0, release, 'has no release or namespace');
  if (typeof revision !== 'number' || !Number.isInteger(revision) || revision < 0) {
    throw refused(file, 0, release, 'has no revision');
  }
  const pid = typeof helmPid === 'number' && Number.isInteger(helmPid) && helmPid > 1 ? { helmPid } : {};
  return { release, namespace, revision, ...pid };
}

/** The route's record, checked to name one HTTPRoute by namespace, name and uid, with the rules to put back. */
export function loadRouteRecords(file: string): RouteRecord[] {
  return readJsonList(file).map((value, i) => {
    if (!isRecord(value)) throw refused(file, i, undefined, 'is not an object');
    const { key, namespace, name, uid, before, written } = value;
    if (!nonEmpty(namespace) || !nonEmpty(name) || !nonEmpty(uid)) {
      throw refused(file, i, key, 'has no namespace, name or uid');
    }
    if (key !== `HTTPRoute ${namespace}/${name}`) throw refused(file, i, key, `names HTTPRoute ${namespace}/${name}`);
    const { pending } = value;
    if (
      !Array.isArray(before) ||
      (written !== undefined && !Array.isArray(written)) ||
      (pending !== undefined && !Array.isArray(pending))
    ) {
      throw refused(file, i, key, 'holds no rules to put back');
    }
    return value as unknown as RouteRecord;
  });
}
