/**
 * Manifests: the objects of the `manifests` input, parsed from multi-document YAML, each kept with the file and
 * document it came from (every message names them), put in the order they are applied, and given the deployed
 * image. All pure: reading the files is manifest-files.ts, applying them is apply.ts.
 */
import { loadAll } from 'js-yaml';
import { InputError } from '../lib/errors.js';
import { isRecord } from '../lib/json.js';
import { imageRepository } from './image-ref.js';
import { MANIFESTS_TOTAL_LIMIT, mebibytes } from './manifest-files.js';
import type { KubeObject } from '../cluster/kube.js';
import { kindNamed, type WorkloadKind } from '../cluster/workload.js';

/** One object of a manifest file. */
export interface ManifestObject {
  /** The file, as the workflow named it (relative to the workspace). */
  file: string;
  /** 1-based document number in that file. */
  document: number;
  object: KubeObject;
}

/** Where an object came from, for messages: `k8s/web.yaml document 2`. */
export function sourceOf(m: { file: string; document: number }): string {
  return `${m.file} document ${m.document}`;
}

/** How an object is named in the log and the report: `Kind namespace/name`, or `Kind name` when cluster-scoped. */
export function objectKey(object: Pick<KubeObject, 'kind' | 'metadata'>): string {
  const ns = object.metadata.namespace;
  return `${object.kind} ${ns ? `${ns}/` : ''}${object.metadata.name}`;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Checks one parsed document is an object kube-ship can apply; `v1 List`s are opened into their items. */
function objectsOfDocument(value: unknown, where: string): KubeObject[] {
  if (value === null || value === undefined) return [];
  if (!isRecord(value)) throw new InputError('manifests', `${where} is not a Kubernetes object (a YAML mapping).`);
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || apiVersion === '' || typeof kind !== 'string' || kind === '') {
    throw new InputError('manifests', `${where} has no apiVersion or kind; every object needs both.`);
  }
  if (kind === 'List' && Array.isArray(value.items)) {
    return value.items.flatMap((item, i) => objectsOfDocument(item, `${where} item ${i + 1}`));
  }
  const name = isRecord(metadata) ? metadata.name : undefined;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InputError(
      'manifests',
      `${where} (${kind}) has no valid metadata.name; generateName is not supported: name every object.`,
    );
  }
  const namespace = isRecord(metadata) ? metadata.namespace : undefined;
  if (namespace !== undefined && (typeof namespace !== 'string' || !NAME.test(namespace))) {
    throw new InputError('manifests', `${where} (${kind} ${name}) has an invalid metadata.namespace.`);
  }
  return [value as unknown as KubeObject];
}

/**
 * Most YAML aliases (`*name`) one document may use. Aliases are shared when parsed but copied when sent, so a few
 * hundred bytes of nested aliases become gigabytes of request; manifests rarely need more than a handful.
 */
export const MANIFEST_ALIAS_LIMIT = 64;

/**
 * The size of a value as JSON, counted only up to `budget`: the walk stops as soon as it is over, so a document
 * whose aliases expand to gigabytes (or refer to themselves) is measured in the time of reading the budget.
 */
function jsonSizeOver(value: unknown, budget: number): number {
  let size = 0;
  // A stack, not recursion: an alias that refers to itself is an endless value, ended only by the budget.
  const pending: unknown[] = [value];
  while (pending.length > 0 && size <= budget) {
    const v = pending.pop();
    if (typeof v === 'string') size += v.length + 2;
    else if (Array.isArray(v)) {
      size += 1 + v.length;
      for (const item of v) pending.push(item);
    } else if (isRecord(v)) {
      for (const [key, item] of Object.entries(v)) {
        size += key.length + 4;
        pending.push(item);
      }
      size += 2;
    } else size += String(v).length;
  }
  return size;
}

/**
 * Parses the files' YAML into objects (documents that are empty or only comments are skipped). Aliases are limited
 * per document, and all objects, aliases expanded, to the same total as the files' text.
 */
export function parseManifests(files: { file: string; text: string }[]): ManifestObject[] {
  const out: ManifestObject[] = [];
  let expanded = 0;
  for (const { file, text } of files) {
    // Split here, not by the parser, so that document numbers count every `---` of the file, empty ones too.
    const chunks = text.split(/^---(?=[ \t]|$)/m);
    if (chunks[0]?.trim() === '' && /^---/.test(text)) chunks.shift();
    let documents: unknown[];
    try {
      documents = chunks.map((chunk) => loadAll(chunk, { maxAliases: MANIFEST_ALIAS_LIMIT })[0]);
    } catch (error) {
      const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      const fix = /maxAliases/.test(reason)
        ? `: a document may use at most ${MANIFEST_ALIAS_LIMIT} YAML aliases (*name); write the values out instead.`
        : '';
      throw new InputError('manifests', `${file} is not valid YAML: ${reason}${fix}`);
    }
    expanded += jsonSizeOver(documents, MANIFESTS_TOTAL_LIMIT - expanded);
    if (expanded > MANIFESTS_TOTAL_LIMIT) {
      throw new InputError(
        'manifests',
        `${file} brings the objects, once their YAML aliases are expanded, to more than ` +
          `${mebibytes(MANIFESTS_TOTAL_LIMIT)}, the limit for all manifests together; write the values out instead ` +
          'of nesting aliases, or deploy fewer objects per step.',
      );
    }
    documents.forEach((doc, i) => {
      for (const object of objectsOfDocument(doc, `${file} document ${i + 1}`)) {
        out.push({ file, document: i + 1, object });
      }
    });
  }
  if (out.length === 0) throw new InputError('manifests', 'the files hold no Kubernetes objects.');
  return out;
}

/** Gives every namespaced object without a namespace the default one, and rejects an object listed twice. */
export function placeObjects(
  objects: ManifestObject[],
  namespaced: (m: ManifestObject) => boolean,
  defaultNamespace: string,
): ManifestObject[] {
  const seen = new Map<string, ManifestObject>();
  return objects.map((m) => {
    const metadata = { ...m.object.metadata };
    if (namespaced(m)) metadata.namespace ??= defaultNamespace;
    else delete metadata.namespace;
    const placed = { ...m, object: { ...m.object, metadata } };
    const key = `${m.object.apiVersion.split('/').slice(0, -1).join('/')}|${objectKey(placed.object)}`;
    const first = seen.get(key);
    if (first) {
      throw new InputError(
        'manifests',
        `${objectKey(placed.object)} is in ${sourceOf(first)} and in ${sourceOf(m)}; keep one of them.`,
      );
    }
    seen.set(key, placed);
    return placed;
  });
}

/**
 * The order objects are applied in (and undone in reverse): what others refer to first (namespaces, quotas,
 * accounts, configuration, storage, roles), then Services, then the workloads, then what routes to them.
 */
const APPLY_ORDER = [
  'Namespace',
  'ResourceQuota',
  'LimitRange',
  'PriorityClass',
  'CustomResourceDefinition',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Deployment',
  'StatefulSet',
  'Job',
  'CronJob',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'Ingress',
];

/** The objects in apply order; objects of one rank keep the order of the files. */
export function applyOrder(objects: ManifestObject[]): ManifestObject[] {
  const rank = (m: ManifestObject): number => {
    const i = APPLY_ORDER.indexOf(m.object.kind);
    return i === -1 ? APPLY_ORDER.length : i;
  };
  return objects
    .map((m, i) => ({ m, i }))
    .sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i)
    .map(({ m }) => m);
}

/** The workload kind kube-ship watches a rollout of (apps/v1 Deployment, StatefulSet, DaemonSet), if it is one. */
export function workloadKindOf(object: Pick<KubeObject, 'apiVersion' | 'kind'>): WorkloadKind | undefined {
  if (object.apiVersion !== 'apps/v1') return undefined;
  const kind = kindNamed(object.kind);
  return kind && object.kind.toLowerCase() === kind ? kind : undefined;
}

interface PodSpecLike {
  containers?: { name?: string; image?: string }[];
  initContainers?: { name?: string; image?: string }[];
}

/** Where an object keeps its pod spec: a Pod's spec, a template's (workloads, Jobs), a CronJob's job template's. */
function podSpecOf(object: KubeObject): PodSpecLike | undefined {
  const spec = object.spec as Record<string, unknown> | undefined;
  if (!isRecord(spec)) return undefined;
  if (object.kind === 'Pod') return spec as PodSpecLike;
  if (object.kind === 'CronJob') {
    const job = spec.jobTemplate as { spec?: { template?: { spec?: PodSpecLike } } } | undefined;
    return job?.spec?.template?.spec;
  }
  const template = spec.template as { spec?: PodSpecLike } | undefined;
  return isRecord(template?.spec) ? template.spec : undefined;
}

/** The containers given the image in one object. */
export interface ImageUse {
  key: string;
  source: string;
  containers: string[];
  /** The image each of those containers had in the manifest. */
  written: Record<string, string>;
}

/**
 * Gives every container and initContainer whose image repository equals `image` the `reference`; returns new
 * objects (the input is not changed) and which containers got it. No container at all is an error naming the files.
 */
export function withImage(
  objects: ManifestObject[],
  image: string,
  reference: string,
  { required = true }: { required?: boolean } = {},
): { objects: ManifestObject[]; uses: ImageUse[] } {
  const repository = imageRepository(image);
  const uses: ImageUse[] = [];
  const out = objects.map((m) => {
    const object = structuredClone(m.object);
    const spec = podSpecOf(object);
    const use: ImageUse = { key: objectKey(object), source: sourceOf(m), containers: [], written: {} };
    for (const list of [spec?.containers ?? [], spec?.initContainers ?? []]) {
      for (const container of list) {
        if (container.image === undefined || imageRepository(container.image) !== repository) continue;
        use.containers.push(container.name ?? '');
        use.written[container.name ?? ''] = container.image;
        container.image = reference;
      }
    }
    if (use.containers.length > 0) uses.push(use);
    return { ...m, object };
  });
  if (uses.length === 0 && required) {
    const files = [...new Set(objects.map((m) => m.file))].join(', ');
    throw new InputError(
      'manifests',
      `no container in ${files} runs an image from ${image}; write the image as ${image}:TAG in the containers that ` +
        'should get this build, or fix "image".',
    );
  }
  return { objects: out, uses };
}

/** The `data` and `stringData` maps of the manifests' Secrets, each with the object it is in. */
function secretMaps(objects: ManifestObject[]) {
  return objects.flatMap((m) =>
    m.object.kind !== 'Secret'
      ? []
      : (['data', 'stringData'] as const).flatMap((field) => {
          const map = m.object[field];
          return isRecord(map) ? [{ m, field, map }] : [];
        }),
  );
}

/** Every scalar in a value, as the API server reads it from the JSON request: numbers and booleans printed back. */
function scalarsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return [String(value)];
  if (Array.isArray(value)) return value.flatMap(scalarsOf);
  if (isRecord(value)) return Object.values(value).flatMap(scalarsOf);
  return [];
}

/**
 * Every value of a Secret in the manifests, to be masked in the log before any request can echo one: each scalar
 * of `data` (decoded too) and `stringData`, whatever YAML made of it (`api-key: 8837465529910342` is a number the
 * API server quotes in its refusal).
 */
export function secretValues(objects: ManifestObject[]): string[] {
  const values: string[] = [];
  for (const { field, map } of secretMaps(objects)) {
    for (const v of scalarsOf(map)) {
      if (field === 'data') values.push(Buffer.from(v, 'base64').toString('utf8'));
      values.push(v);
    }
  }
  return values.filter((v) => v.length >= 3);
}

/**
 * A Secret's `data` and `stringData` values must be strings: YAML reads `pin: 0042` as a number and `on: yes` as a
 * boolean, which the API server refuses with a message quoting the value. Refused here, naming the key only.
 */
export function requireQuotedSecretValues(objects: ManifestObject[]): void {
  for (const { m, field, map } of secretMaps(objects)) {
    for (const [key, value] of Object.entries(map)) {
      if (typeof value === 'string' || value === null) continue;
      const read = Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
      throw new InputError(
        'manifests',
        `${sourceOf(m)} (${objectKey(m.object)}): ${field}.${key} is not a string (YAML read it as ${read}); ` +
          `quote the value in the file (${key}: "..."), as a Secret holds strings only.`,
      );
    }
  }
}
