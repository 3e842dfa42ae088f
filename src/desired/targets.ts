/**
 * Targets: parsing the `deployments` and `workloads` inputs and choosing which containers of a pod template get the
 * new image. A target that matches no container is an error: silently deploying nothing (or adding a container, as a
 * strategic merge patch with a wrong name does) is what users of other tools get bitten by.
 */
import { InputError } from '../lib/errors.js';
import { imageRepository } from './image-ref.js';
import { kindNamed, type WorkloadKind } from '../cluster/workload.js';

/** The input a target was listed in, for messages. */
export type TargetInput = 'deployments' | 'workloads';

export interface TargetSpec {
  kind: WorkloadKind;
  /** Namespace given on the line, or undefined to use the `namespace` input / context default. */
  namespace: string | undefined;
  name: string;
  /** Containers named on the line; empty means "every container whose image repository equals `image`". */
  containers: string[];
  input: TargetInput;
}

export interface Target {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  containers: string[];
  input: TargetInput;
}

export interface TemplateContainer {
  name: string;
  image?: string;
}

export interface ChosenContainer {
  kind: 'containers' | 'initContainers';
  index: number;
  name: string;
  image: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The containers after `:` on a target's line (none without a `:`). */
function containersOf(line: string, containerList: string | undefined, input: TargetInput, fix: string): string[] {
  if (containerList === undefined) return [];
  const containers = containerList
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  if (containers.length === 0) throw new InputError(input, `"${line}" has ":" but no container names; ${fix}.`);
  for (const c of containers) {
    if (!DNS_LABEL.test(c)) throw new InputError(input, `"${line}": "${c}" is not a valid container name.`);
  }
  return containers;
}

function checkNames(line: string, namespace: string | undefined, name: string, input: TargetInput, fix: string) {
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    throw new InputError(input, `"${line}": "${name}" is not a valid name; ${fix}.`);
  }
  if (namespace !== undefined && (!DNS_LABEL.test(namespace) || namespace.length > 63)) {
    throw new InputError(input, `"${line}": "${namespace}" is not a valid namespace; ${fix}.`);
  }
}

/** Parses one line of `deployments`: `NAME`, `NAMESPACE/NAME`, each optionally followed by `:C1,C2`. */
export function parseTarget(line: string): TargetSpec {
  const fix = 'write NAME or NAMESPACE/NAME, optionally followed by :CONTAINER[,CONTAINER...]';
  const [ref = '', containerList, extra] = line.split(':');
  if (extra !== undefined) throw new InputError('deployments', `"${line}" has more than one ":"; ${fix}.`);
  const parts = ref.trim().split('/');
  if (parts.length > 2) throw new InputError('deployments', `"${line}" has more than one "/"; ${fix}.`);
  const name = (parts.length === 2 ? parts[1] : parts[0])?.trim() ?? '';
  const namespace = parts.length === 2 ? parts[0]?.trim() : undefined;
  checkNames(line, namespace, name, 'deployments', fix);
  const containers = containersOf(line, containerList, 'deployments', fix);
  return { kind: 'deployment', namespace, name, containers, input: 'deployments' };
}

/**
 * Parses one line of `workloads`: `KIND/NAME` or `NAMESPACE/KIND/NAME`, optionally followed by `:C1,C2`, with KIND
 * as kubectl writes it (`deployment`, `deploy`, `statefulset`, `sts`, `daemonset`, `ds`, or a plural).
 */
export function parseWorkload(line: string): TargetSpec {
  const fix =
    'write KIND/NAME or NAMESPACE/KIND/NAME (KIND: deployment, statefulset or daemonset), optionally followed by :CONTAINER[,CONTAINER...]';
  const [ref = '', containerList, extra] = line.split(':');
  if (extra !== undefined) throw new InputError('workloads', `"${line}" has more than one ":"; ${fix}.`);
  const parts = ref
    .trim()
    .split('/')
    .map((p) => p.trim());
  if (parts.length < 2 || parts.length > 3) throw new InputError('workloads', `"${line}" names no KIND/NAME; ${fix}.`);
  const [namespace, word = '', name = ''] = parts.length === 3 ? parts : [undefined, ...parts];
  const kind = kindNamed(word);
  if (kind === undefined) {
    throw new InputError('workloads', `"${line}": "${word}" is not a kind kube-ship deploys; ${fix}.`);
  }
  checkNames(line, namespace, name, 'workloads', fix);
  const containers = containersOf(line, containerList, 'workloads', fix);
  return { kind, namespace, name, containers, input: 'workloads' };
}

/** Gives every target its namespace and rejects the same workload listed twice. */
export function resolveTargets(specs: TargetSpec[], defaultNamespace: string): Target[] {
  const seen = new Set<string>();
  return specs.map((spec) => {
    const target: Target = { ...spec, namespace: spec.namespace ?? defaultNamespace };
    const key = targetKey(target);
    if (seen.has(key)) throw new InputError(spec.input, `"${key}" is listed twice; list each workload once.`);
    seen.add(key);
    return target;
  });
}

/**
 * How a target is named in the log, the report and the outputs: `NAMESPACE/NAME` for a Deployment (as kube-ship
 * always has), `NAMESPACE/KIND/NAME` for the other kinds, so a StatefulSet and a Deployment of one name differ.
 */
export function targetKey(target: { kind?: WorkloadKind; namespace: string; name: string }): string {
  const kind = target.kind ?? 'deployment';
  return kind === 'deployment' ? `${target.namespace}/${target.name}` : `${target.namespace}/${kind}/${target.name}`;
}

/**
 * Chooses the containers of a pod template that get the new image: the named ones (each must exist), or, when
 * none are named, every container and initContainer whose image repository equals `image`.
 */
export function chooseContainers(
  target: Target,
  template: { containers: TemplateContainer[]; initContainers?: TemplateContainer[] },
  image: string,
): ChosenContainer[] {
  const all: ChosenContainer[] = [
    ...template.containers.map((c, index) => ({
      kind: 'containers' as const,
      index,
      name: c.name,
      image: c.image ?? '',
    })),
    ...(template.initContainers ?? []).map((c, index) => ({
      kind: 'initContainers' as const,
      index,
      name: c.name,
      image: c.image ?? '',
    })),
  ];
  const key = targetKey(target);
  const names = all.map((c) => c.name).join(', ');
  if (target.containers.length > 0) {
    return target.containers.map((name) => {
      const found = all.find((c) => c.name === name);
      if (!found) {
        throw new InputError(
          target.input,
          `${key} has no container "${name}" (it has: ${names}); name one of its containers or leave the name out.`,
        );
      }
      return found;
    });
  }
  const repository = imageRepository(image);
  const chosen = all.filter((c) => imageRepository(c.image) === repository);
  if (chosen.length === 0) {
    const images = all.map((c) => `${c.name}=${c.image}`).join(', ');
    throw new InputError(
      target.input,
      `no container of ${key} runs an image from ${image} (it has: ${images}); ` +
        `name the containers as ${key}:CONTAINER, or fix "image".`,
    );
  }
  return chosen;
}
